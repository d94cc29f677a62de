"""An offline preference-optimization testbed: sort the prompt, with a true and a hackable proxy judge.

Task. A prompt is ``L`` random content tokens (``min_len <= L <= max_len`` from a vocabulary of
``vocab``); the ideal response is the sorted prompt followed by EOS. The *true judge* scores a response by
minus its edit distance to the ideal (a response that never emits EOS loses one more point); the *proxy
judge* adds ``proxy_bonus`` per content token, a length bonus a policy can hack.

Pipeline (all on CPU, deterministic given the seed):

1. :func:`train_sft`: a :class:`~optarena.preference.model.TinyGPT` trained from scratch on noisy
   demonstrations (with probability ``demo_noise`` one adjacent swap, deletion, insertion or replacement).
2. :func:`build_pairs`: ``samples_per_prompt`` responses per prompt sampled from the SFT model at
   temperature 1, scored by a judge; chosen = best, rejected = worst (ties dropped), with the SFT model's
   per-token log-probs stored as the reference.
3. :func:`train_preference`: any loss of :mod:`optarena.preference.losses` from the same SFT start, with
   the same optimizer, batch size and number of steps.
4. :func:`evaluate`: on held-out prompts, greedy responses of the policy against the SFT model's under the
   true judge: win rate (ties count 1/2), mean length, exact match, true and proxy scores, a sampled
   estimate of KL(policy || SFT), and on held-out pairs the drift of the chosen log-prob and the
   likelihood-ranking accuracy (average log-prob of chosen > rejected).

Token ids: content ``0..vocab-1``, then BOS, SEP, EOS, PAD. A prompt is encoded left-padded to a fixed
width ``[PAD.., BOS, x_1..x_L, SEP]`` so every response starts at the same position.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from optarena.preference.model import TinyGPT, response_logps

__all__ = [
    "Judge",
    "PairData",
    "TestbedConfig",
    "build_pairs",
    "edit_distance",
    "encode_prompts",
    "evaluate",
    "generate",
    "make_proxy_judge",
    "noisy_demo",
    "pad_responses",
    "run_losses",
    "sample_prompts",
    "split_prompts",
    "train_preference",
    "train_sft",
    "true_judge",
]

Judge = Callable[[Sequence[int], Sequence[int]], float]
LossFn = Callable[..., tuple[Tensor, dict[str, float]]]


@dataclass(frozen=True)
class TestbedConfig:
    """Sizes and budgets of the testbed; :meth:`quick` is the seconds-scale version used by tests."""

    __test__ = False  # not a pytest class

    vocab: int = 16
    min_len: int = 4
    max_len: int = 8
    max_extra: int = 3  # a response may hold max_len + max_extra content tokens, then EOS
    demo_noise: float = 0.5
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_sft: int = 4000
    sft_steps: int = 300
    sft_batch: int = 64
    sft_lr: float = 3e-3
    n_pairs: int = 512
    samples_per_prompt: int = 4
    pref_steps: int = 100
    pref_batch: int = 64
    pref_lr: float = 1e-4
    n_eval: int = 256
    proxy_bonus: float = 1.5

    @classmethod
    def quick(cls) -> TestbedConfig:
        return cls(
            vocab=8,
            min_len=3,
            max_len=5,
            d_model=32,
            n_sft=1500,
            sft_steps=150,
            n_pairs=128,
            pref_steps=30,
            pref_lr=3e-4,
            n_eval=64,
        )

    def __post_init__(self) -> None:
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got {self.min_len}, {self.max_len}")
        if not 0.0 <= self.demo_noise <= 1.0:
            raise ValueError(f"demo_noise must be in [0, 1], got {self.demo_noise}")
        if self.samples_per_prompt < 2:
            raise ValueError(f"samples_per_prompt must be >= 2, got {self.samples_per_prompt}")
        for name in ("vocab", "n_sft", "sft_steps", "sft_batch", "n_pairs", "pref_batch", "n_eval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def bos(self) -> int:
        return self.vocab

    @property
    def sep(self) -> int:
        return self.vocab + 1

    @property
    def eos(self) -> int:
        return self.vocab + 2

    @property
    def pad(self) -> int:
        return self.vocab + 3

    @property
    def prompt_width(self) -> int:
        return self.max_len + 2

    @property
    def response_width(self) -> int:
        return self.max_len + self.max_extra + 1

    def new_model(self, seed: int) -> TinyGPT:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return TinyGPT(
                self.vocab + 4,
                self.prompt_width + self.response_width,
                self.d_model,
                self.n_layers,
                self.n_heads,
            )


# --------------------------------------------------------------------------------------- task and judges


def sample_prompts(n: int, cfg: TestbedConfig, rng: np.random.Generator) -> list[tuple[int, ...]]:
    lengths = rng.integers(cfg.min_len, cfg.max_len + 1, size=n)
    return [tuple(int(t) for t in rng.integers(0, cfg.vocab, size=k)) for k in lengths]


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance (unit insert, delete, substitute)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _split(response: Sequence[int], eos: int) -> tuple[list[int], bool]:
    response = list(response)
    if eos in response:
        return response[: response.index(eos)], True
    return response, False


def _make_true_judge(eos: int) -> Judge:
    def judge(prompt: Sequence[int], response: Sequence[int]) -> float:
        content, ended = _split(response, eos)
        return -float(edit_distance(content, sorted(prompt)) + (0 if ended else 1))

    return judge


def true_judge(cfg: TestbedConfig) -> Judge:
    """Minus the edit distance to the sorted prompt; one more point off without EOS."""
    return _make_true_judge(cfg.eos)


def make_proxy_judge(cfg: TestbedConfig, bonus: float | None = None) -> Judge:
    """The true judge plus ``bonus`` (default ``cfg.proxy_bonus``) per content token: hackable by length."""
    bonus = cfg.proxy_bonus if bonus is None else bonus
    base = true_judge(cfg)

    def judge(prompt: Sequence[int], response: Sequence[int]) -> float:
        return base(prompt, response) + bonus * len(_split(response, cfg.eos)[0])

    return judge


def noisy_demo(prompt: Sequence[int], cfg: TestbedConfig, rng: np.random.Generator) -> list[int]:
    """The ideal response, corrupted once with probability ``cfg.demo_noise``; ends with EOS."""
    y = sorted(prompt)
    if rng.random() < cfg.demo_noise:
        kind = int(rng.integers(4))
        i = int(rng.integers(len(y)))
        if kind == 0 and len(y) > 1:
            i = min(i, len(y) - 2)
            y[i], y[i + 1] = y[i + 1], y[i]
        elif kind == 1 and len(y) > 1:
            del y[i]
        elif kind == 2:
            y.insert(i, int(rng.integers(cfg.vocab)))
        else:
            y[i] = int(rng.integers(cfg.vocab))
    return [*y, cfg.eos]


# ------------------------------------------------------------------------------------- encoding, sampling


def encode_prompts(prompts: Sequence[Sequence[int]], cfg: TestbedConfig) -> Tensor:
    rows = [[cfg.pad] * (cfg.max_len - len(p)) + [cfg.bos, *p, cfg.sep] for p in prompts]
    return torch.tensor(rows, dtype=torch.long)


def pad_responses(responses: Sequence[Sequence[int]], cfg: TestbedConfig) -> tuple[Tensor, Tensor]:
    width = cfg.response_width
    tokens = torch.full((len(responses), width), cfg.pad, dtype=torch.long)
    mask = torch.zeros((len(responses), width), dtype=torch.bool)
    for i, r in enumerate(responses):
        r = list(r)[:width]
        tokens[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = True
    return tokens, mask


@torch.no_grad()
def generate(
    model: TinyGPT, prompts: Tensor, cfg: TestbedConfig, temperature: float, generator: torch.Generator | None
) -> list[list[int]]:
    """Responses (up to and including EOS, at most ``response_width`` tokens); temperature 0 is greedy."""
    seq = prompts
    done = torch.zeros(prompts.shape[0], dtype=torch.bool)
    out = []
    for _ in range(cfg.response_width):
        logits = model(seq)[:, -1].float()
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        nxt = torch.where(done, torch.full_like(nxt, cfg.pad), nxt)
        out.append(nxt)
        done |= nxt == cfg.eos
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        if bool(done.all()):
            break
    tokens = torch.stack(out, dim=1).tolist()
    responses = []
    for row in tokens:
        r = []
        for t in row:
            if t == cfg.pad and cfg.eos in r:
                break
            r.append(t)
            if t == cfg.eos:
                break
        responses.append(r)
    return responses


# ------------------------------------------------------------------------------------------------- SFT


def train_sft(cfg: TestbedConfig, seed: int) -> TinyGPT:
    """Train a fresh model on ``n_sft`` noisy demonstrations (Adam, cross-entropy on response tokens)."""
    rng = np.random.default_rng([seed, 0])
    prompts = sample_prompts(cfg.n_sft, cfg, rng)
    x = encode_prompts(prompts, cfg)
    y, m = pad_responses([noisy_demo(p, cfg, rng) for p in prompts], cfg)
    model = cfg.new_model(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.sft_lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(cfg.sft_steps):
        idx = torch.randint(cfg.n_sft, (cfg.sft_batch,), generator=gen)
        lp = response_logps(model, x[idx], y[idx])
        loss = -(lp * m[idx]).sum() / m[idx].sum()
        for g in opt.param_groups:  # linear decay to 10%
            g["lr"] = cfg.sft_lr * (1 - 0.9 * step / cfg.sft_steps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    return model


# ------------------------------------------------------------------------------------------------ pairs


@dataclass(frozen=True)
class PairData:
    """Preference pairs (labelled by some judge) with the reference (SFT) per-token log-probs;
    ``chosen_true`` / ``rejected_true`` are the responses' scores under the true judge."""

    prompts: Tensor
    chosen: Tensor
    chosen_mask: Tensor
    rejected: Tensor
    rejected_mask: Tensor
    ref_chosen: Tensor
    ref_rejected: Tensor
    chosen_true: Tensor
    rejected_true: Tensor

    def __len__(self) -> int:
        return int(self.prompts.shape[0])


@torch.no_grad()
def build_pairs(
    sft: TinyGPT, prompts: Sequence[Sequence[int]], judge: Judge, cfg: TestbedConfig, seed: int
) -> PairData:
    """Sample ``samples_per_prompt`` responses per prompt from ``sft``; best vs worst under ``judge``."""
    k = cfg.samples_per_prompt
    x = encode_prompts(prompts, cfg)
    gen = torch.Generator().manual_seed(seed)
    samples = generate(sft, x.repeat_interleave(k, dim=0), cfg, 1.0, gen)
    truth = true_judge(cfg)
    keep, chosen, rejected, ct, rt = [], [], [], [], []
    for i, p in enumerate(prompts):
        group = samples[i * k : (i + 1) * k]
        scores = [judge(p, r) for r in group]
        best, worst = int(np.argmax(scores)), int(np.argmin(scores))
        if scores[best] == scores[worst]:
            continue
        keep.append(i)
        chosen.append(group[best])
        rejected.append(group[worst])
        ct.append(truth(p, group[best]))
        rt.append(truth(p, group[worst]))
    if not keep:
        raise RuntimeError("every prompt's samples tied under the judge: no preference pair")
    px = x[keep]
    c, cm = pad_responses(chosen, cfg)
    r, rm = pad_responses(rejected, cfg)
    return PairData(
        px,
        c,
        cm,
        r,
        rm,
        response_logps(sft, px, c),
        response_logps(sft, px, r),
        torch.tensor(ct),
        torch.tensor(rt),
    )


# ---------------------------------------------------------------------------------------------- training


def train_preference(
    sft: TinyGPT, pairs: PairData, loss_fn: LossFn, cfg: TestbedConfig, seed: int, steps: int | None = None
) -> TinyGPT:
    """Train a copy of ``sft`` on ``pairs`` with ``loss_fn`` (Adam, ``pref_lr``, ``pref_batch``, equal steps)."""
    policy = copy.deepcopy(sft)
    policy.train()
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.pref_lr)
    gen = torch.Generator().manual_seed(seed)
    n = len(pairs)
    for _ in range(cfg.pref_steps if steps is None else steps):
        idx = torch.randint(n, (min(cfg.pref_batch, n),), generator=gen)
        b = idx.shape[0]
        both = torch.cat([pairs.chosen[idx], pairs.rejected[idx]])
        lp = response_logps(policy, pairs.prompts[idx].repeat(2, 1), both)
        loss, _ = loss_fn(
            lp[:b],
            lp[b:],
            pairs.chosen_mask[idx],
            pairs.rejected_mask[idx],
            pairs.ref_chosen[idx],
            pairs.ref_rejected[idx],
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    policy.eval()
    return policy


# -------------------------------------------------------------------------------------------- evaluation


def _masked_sum(lp: Tensor, mask: Tensor) -> Tensor:
    return torch.where(mask, lp, torch.zeros_like(lp)).sum(-1)


@torch.no_grad()
def evaluate(
    policy: TinyGPT,
    sft: TinyGPT,
    prompts: Sequence[Sequence[int]],
    cfg: TestbedConfig,
    seed: int,
    heldout: PairData | None = None,
    judge: Judge | None = None,
) -> dict[str, float]:
    """Metrics of ``policy`` on held-out ``prompts`` against ``sft`` under ``judge`` (default: the true
    judge): responses sampled at temperature 1 (keys without suffix) and greedy (``*_greedy``)."""
    judge = true_judge(cfg) if judge is None else judge
    proxy = make_proxy_judge(cfg)
    x = encode_prompts(prompts, cfg)
    out: dict[str, float] = {"ideal_length": float(np.mean([len(p) for p in prompts]))}
    gen = torch.Generator().manual_seed(seed)
    sampled: list[list[int]] = []
    for suffix, temperature in (("", 1.0), ("_greedy", 0.0)):
        # the policy and the SFT model each answer every prompt (sampled: the same generator seed)
        ours = generate(policy, x, cfg, temperature, gen.manual_seed(seed))
        base = generate(sft, x, cfg, temperature, gen.manual_seed(seed))
        sampled = sampled or ours
        s_ours = np.array([judge(p, r) for p, r in zip(prompts, ours, strict=True)])
        s_base = np.array([judge(p, r) for p, r in zip(prompts, base, strict=True)])
        exact = [_split(r, cfg.eos) == (sorted(p), True) for p, r in zip(prompts, ours, strict=True)]
        out |= {
            f"win_rate{suffix}": float(np.mean((s_ours > s_base) + 0.5 * (s_ours == s_base))),
            f"score{suffix}": float(s_ours.mean()),
            f"sft_score{suffix}": float(s_base.mean()),
            f"proxy_score{suffix}": float(np.mean([proxy(p, r) for p, r in zip(prompts, ours, strict=True)])),
            f"length{suffix}": float(np.mean([len(_split(r, cfg.eos)[0]) for r in ours])),
            f"sft_length{suffix}": float(np.mean([len(_split(r, cfg.eos)[0]) for r in base])),
            f"exact_match{suffix}": float(np.mean(exact)),
        }
    # sampled KL(policy || sft): mean over the policy's samples of log pi(y) - log pi_sft(y)
    y, m = pad_responses(sampled, cfg)
    out["kl_to_sft"] = float(
        (_masked_sum(response_logps(policy, x, y), m) - _masked_sum(response_logps(sft, x, y), m)).mean()
    )
    if heldout is not None:
        pc = response_logps(policy, heldout.prompts, heldout.chosen)
        pr = response_logps(policy, heldout.prompts, heldout.rejected)
        sc = _masked_sum(pc, heldout.chosen_mask)
        drift = sc - _masked_sum(heldout.ref_chosen, heldout.chosen_mask)
        avg_c = sc / heldout.chosen_mask.sum(-1)
        avg_r = _masked_sum(pr, heldout.rejected_mask) / heldout.rejected_mask.sum(-1)
        out["chosen_logp_drift"] = float(drift.mean())
        out["ranking_accuracy"] = float((avg_c > avg_r).float().mean())
    return out


def split_prompts(cfg: TestbedConfig, seed: int) -> dict[str, list[tuple[int, ...]]]:
    """Disjoint-by-draw prompt sets of one seed: ``pairs``, ``heldout_pairs``, ``val`` and ``eval``."""
    rng = np.random.default_rng([seed, 1])
    return {
        "pairs": sample_prompts(cfg.n_pairs, cfg, rng),
        "heldout_pairs": sample_prompts(max(64, cfg.n_pairs // 4), cfg, rng),
        "val": sample_prompts(cfg.n_eval, cfg, rng),
        "eval": sample_prompts(cfg.n_eval, cfg, rng),
    }


def run_losses(
    losses: Mapping[str, LossFn],
    cfg: TestbedConfig,
    seed: int,
    label: str = "true",
    select: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, dict[str, float]]:
    """SFT once, pairs labelled by the ``label`` judge ("true" or "proxy"), every loss from the same start.

    ``select`` maps a method to candidate names in ``losses`` (e.g. a beta grid): each candidate is trained,
    the one with the best mean score under the labelling judge on the validation prompts is kept
    (responses sampled at temperature 1), and it is reported under the method's name with its
    ``chosen`` candidate index. Without ``select`` every loss is reported. The ``"sft"`` entry holds the
    start's own metrics, the number of pairs and the mean true-score gap of chosen over rejected.
    """
    if label not in ("true", "proxy"):
        raise ValueError(f"label must be 'true' or 'proxy', got {label!r}")
    sft = train_sft(cfg, seed)
    sets = split_prompts(cfg, seed)
    judge = true_judge(cfg) if label == "true" else make_proxy_judge(cfg)
    pairs = build_pairs(sft, sets["pairs"], judge, cfg, seed)
    heldout = build_pairs(sft, sets["heldout_pairs"], judge, cfg, seed + 1)
    groups = select if select is not None else {name: [name] for name in losses}
    results: dict[str, dict[str, float]] = {"sft": evaluate(sft, sft, sets["eval"], cfg, seed, heldout)}
    results["sft"]["n_pairs"] = float(len(pairs))
    results["sft"]["pair_true_gap"] = float((pairs.chosen_true - pairs.rejected_true).mean())
    for method, names in groups.items():
        best, best_val, best_i = None, -np.inf, -1
        for i, name in enumerate(names):
            policy = train_preference(sft, pairs, losses[name], cfg, seed)
            if len(names) == 1:
                best, best_i = policy, 0
                break
            x = encode_prompts(sets["val"], cfg)
            answers = generate(policy, x, cfg, 1.0, torch.Generator().manual_seed(seed + 2))
            val = float(np.mean([judge(p, r) for p, r in zip(sets["val"], answers, strict=True)]))
            if val > best_val:
                best, best_val, best_i = policy, val, i
        assert best is not None
        results[method] = {**evaluate(best, sft, sets["eval"], cfg, seed, heldout), "chosen": float(best_i)}
    return results
