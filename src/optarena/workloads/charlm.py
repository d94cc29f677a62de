"""``charlm``: a small causal character-level transformer on CPython's pydoc topic texts.

The corpus is :func:`load_text`: the values of ``pydoc_data.topics.topics`` (the help texts that ship
with CPython, about 465k characters) joined in sorted-key order, so nothing is ever downloaded. The
exact text depends on the CPython minor version; ``problem.text_sha256`` records which one a trial saw.

Vocabulary: a fixed table of newline plus the 95 printable ASCII characters, plus one ``UNK`` id that
every other character (tab, curly quotes, dashes, ...) maps to, 97 symbols in all. A fixed table
keeps token ids stable across CPython versions.

Split: the first 90% of the encoded text is the training stream, the last 10% (contiguous) the
validation stream. A training batch is 32 windows of ``context + 1`` characters at uniformly random
offsets, drawn from the trial's ``"batches"`` stream (weights: ``"init"``); the loss is the mean
next-character cross-entropy over every position. Validation (``val_ce``, nats) is the same loss
over a fixed set of 256 non-overlapping windows evenly spaced over the validation stream (identical
for every seed); ``train_loss`` is the same on 64 fixed windows of the training stream.

Model: pre-LayerNorm GPT-style decoder, 2 blocks, d_model 64, 4 heads, context 64, learned positional
embeddings, GELU MLP 4x, no dropout, bias-free linear layers, untied output head (about 110k
parameters). Init (from the seed): N(0, 0.02) for embeddings and linear weights, residual output
projections scaled by 1/sqrt(2 * n_layers), LayerNorm weight 1 and bias 0.

Target and budget: ``optarena calibrate charlm --trials 5 --reruns 5 -j 2`` (2026-11-29, 2-core
machine running two trials at once; AlgoPerf's procedure scaled down, see
:mod:`optarena.bench.calibrate`; 70 s per calibration trial). The best of 5 Halton trials of each of
the four baselines was adamw (lr=0.00353, one_minus_beta1=0.164, weight_decay=1.45e-05,
warmup_frac=0.0714); its 5 reruns reached best val_ce 1.2652, 1.2672, 1.2758, 1.2795, 1.2730, whose
median 1.27305 is the target; they first reached it after 58.5, 60.8, 70.0, 70.0, 62.9 s of step
time (a run that never did counts its whole budget), median 62.86 s, so ``max_runtime`` = 4/3 of it
= 83.8 s and ``step_hint`` = 3462. (Before calibration, a hand-tuned constant-lr AdamW reached 1.36
in about 53 s.)
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optarena.workloads._common import torch_generator
from optarena.workloads.base import Workload

__all__ = ["VOCAB", "CharLMProblem", "CharLMWorkload", "CharTransformer", "encode", "load_text"]

#: The vocabulary: newline and printable ASCII; id ``len(VOCAB)`` is UNK.
VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
UNK = len(VOCAB)
VOCAB_SIZE = len(VOCAB) + 1

CONTEXT = 64
BATCH = 32
N_VAL_WINDOWS = 256
N_TRAIN_EVAL_WINDOWS = 64
TRAIN_FRACTION = 0.9


def load_text() -> str:
    """The corpus: ``pydoc_data.topics.topics`` values joined in sorted-key order (stdlib, local)."""
    from pydoc_data.topics import topics

    return "".join(topics[key] for key in sorted(topics))


def encode(text: str) -> torch.Tensor:
    """Map characters to ids (int64): index in :data:`VOCAB`, or ``UNK`` for anything else."""
    lut = np.full(128, UNK, dtype=np.int64)
    lut[[ord(ch) for ch in VOCAB]] = np.arange(len(VOCAB))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    ids = lut[np.minimum(codes, 127)]
    ids[codes > 127] = UNK
    return torch.from_numpy(ids)


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model, bias=False)
        self.fc_out = nn.Linear(4 * d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_heads, c // self.n_heads).unbind(2)
        att = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True
        )
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, c))
        return x + self.fc_out(F.gelu(self.fc(self.ln2(x))))


class CharTransformer(nn.Module):
    """Pre-LN causal transformer over character ids; returns logits of shape (batch, time, vocab)."""

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        context: int = CONTEXT,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
    ) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Parameter(torch.empty(context, d_model))
        self.blocks = nn.ModuleList(_Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise every parameter from ``generator`` (never the global RNG)."""
        resid_std = 0.02 / math.sqrt(2 * len(self.blocks))
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith(("ln1.weight", "ln2.weight", "ln_f.weight")):
                    p.fill_(1.0)
                elif name.endswith(".bias"):
                    p.zero_()
                elif name.endswith(("proj.weight", "fc_out.weight")):
                    p.normal_(0.0, resid_std, generator=generator)
                else:
                    p.normal_(0.0, 0.02, generator=generator)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok_emb(idx) + self.pos_emb[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def _windows(data: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    return data[starts[:, None] + torch.arange(length)]


class CharLMProblem:
    """One trial's model, training stream and fixed evaluation windows (see the module docstring)."""

    def __init__(self, seed: int, text: str | None = None) -> None:
        text = load_text() if text is None else text
        self.text_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        data = encode(text)
        n_train = int(TRAIN_FRACTION * len(data))
        self.train_data, self.val_data = data[:n_train], data[n_train:]
        span = CONTEXT + 1
        self._generator = torch_generator(seed, "batches")
        init_gen = torch_generator(seed, "init")
        # nn.Linear/Embedding draw a default init from the global RNG: restore its state afterwards,
        # then initialise everything from the trial's own generator.
        with torch.random.fork_rng(devices=[]):
            self.model = CharTransformer()
        self.model.reset_parameters(init_gen)
        self._n_starts = len(self.train_data) - span + 1
        # Fixed evaluation windows, identical for every seed: evenly spaced, non-overlapping.
        val_starts = torch.linspace(0, len(self.val_data) - span, N_VAL_WINDOWS).long()
        if N_VAL_WINDOWS * span > len(self.val_data):
            raise ValueError("validation stream too short for non-overlapping windows")
        self.val_windows = _windows(self.val_data, val_starts, span)
        train_starts = torch.linspace(0, self._n_starts - 1, N_TRAIN_EVAL_WINDOWS).long()
        self.train_eval_windows = _windows(self.train_data, train_starts, span)
        self._span_index = torch.arange(span)

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        return list(self.model.named_parameters())

    def next_batch(self) -> torch.Tensor:
        starts = torch.randint(0, self._n_starts, (BATCH,), generator=self._generator)
        return self.train_data[starts[:, None] + self._span_index]

    def _ce(self, windows: torch.Tensor) -> torch.Tensor:
        logits = self.model(windows[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1))

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return self._ce(batch)

    def evaluate(self) -> dict[str, float]:
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            out = {
                "val_ce": float(self._ce(self.val_windows)),
                "train_loss": float(self._ce(self.train_eval_windows)),
            }
        self.model.train(was_training)
        return out


class CharLMWorkload(Workload):
    id: ClassVar[str] = "charlm"
    version: ClassVar[str] = "1"
    summary: ClassVar[str] = (
        "2-layer, d=64 causal char transformer (~110k params) on CPython's pydoc topic texts; "
        "batch 32 x context 64, validation cross-entropy in nats"
    )
    metric: ClassVar[str] = "val_ce"
    mode = "min"
    #: From `optarena calibrate charlm` (see the module docstring).
    target: ClassVar[float] = 1.2730484008789062
    max_runtime: ClassVar[float] = 83.8
    #: An evaluation (256 + 64 windows, forward only) takes about 0.1 s, 4% of 100 steps.
    eval_every: ClassVar[int] = 100
    step_hint: ClassVar[int] = 3462
    interfaces: ClassVar[frozenset[str]] = frozenset({"torch-optimizer"})

    def build(self, seed: int) -> Any:
        return CharLMProblem(seed)
