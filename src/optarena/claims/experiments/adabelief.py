"""Claim experiment: AdaBelief (Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
Observed Gradients", NeurIPS 2020) converges fast like Adam and generalizes like SGD.

Part 1, the paper's 2-D test functions (its Fig. 3): f = |x| + |y|, |x + y| + |x - y|/10,
(x + y)^2 + (x - y)^2/10, Beale and Rosenbrock, from the start points of the figure (as read by public
reproductions; the paper does not list them) moved by U(-0.25, 0.25)^2 per seed. Each of AdaBelief
(:class:`optarena.optim.adabelief.AdaBelief`, eps 1e-16), Adam (``torch.optim.Adam``) and SGD with
momentum 0.9 gets the same ``lrs`` constant learning rates: Halton points of log10(lr) in [-6, 0]
offset by the seed (all other hyperparameters at their defaults, betas 0.9/0.999, no weight decay).
A method's steps on a function: the fewest, over its learning rates, until f - f* <= ``TOY_TOL``; a
miss counts ``toy_steps + 1``. Each learning rate is its own param group of one optimizer, so the
rates run side by side.

Part 2, a digits network: the digits-mlp model (64-128-128-10 ReLU, batch 64) trained for exactly
``steps`` steps by AdaBelief, AdamW ("Adam") and SGD with heavy-ball momentum, each a tuning study of
``trials`` Halton trials of its registered search space. The 397 held-out images are split into a
validation half (197, used to pick each study's best trial) and a test half (200, reported): the
train/test gap is the chosen trial's final train accuracy minus its test accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from optarena.claims.experiments._training import tune, variant
from optarena.core.searchspace import halton
from optarena.optim.adabelief import AdaBelief
from optarena.workloads._common import numpy_rng
from optarena.workloads.digits_mlp import DigitsMLPProblem, DigitsMLPWorkload

TOY_TOL = 1e-3
LOG10_LR = (-6.0, 0.0)


def _beale(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


#: name -> (f(x, y) elementwise, start point, minimum value f*).
TOYS: dict[str, tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], tuple[float, float], float]] = {
    "abs": (lambda x, y: x.abs() + y.abs(), (-2.5, 0.0), 0.0),
    "abs_rotated": (lambda x, y: (x + y).abs() + (x - y).abs() / 10, (2.5, 0.0), 0.0),
    "quadratic_rotated": (lambda x, y: (x + y) ** 2 + (x - y) ** 2 / 10, (2.5, 0.0), 0.0),
    "beale": (_beale, (-2.5, -2.5), 0.0),
    "rosenbrock": (lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2, (-4.0, -4.0), 0.0),
}
TOY_METHODS = ("adabelief", "adam", "sgd")


def _toy_optimizer(method: str, groups: list[dict]) -> torch.optim.Optimizer:
    if method == "adabelief":
        return AdaBelief(groups)
    if method == "adam":
        return torch.optim.Adam(groups)
    if method == "sgd":
        return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=0.9)
    raise ValueError(f"unknown toy method {method!r}; known: {TOY_METHODS}")


def toy_steps(method: str, name: str, start: tuple[float, float], lrs: list[float], max_steps: int) -> float:
    """Fewest steps, over the learning rates ``lrs``, until ``f - f* <= TOY_TOL`` (``inf`` when no rate
    gets there within ``max_steps``). The rates run side by side; the run stops at the first hit."""
    f, _, f_star = TOYS[name]
    points = [torch.tensor(start, dtype=torch.float64, requires_grad=True) for _ in lrs]
    opt = _toy_optimizer(method, [{"params": [p], "lr": lr} for p, lr in zip(points, lrs, strict=True)])
    for step in range(max_steps + 1):
        opt.zero_grad(set_to_none=True)
        xy = torch.stack(points)
        gap = f(xy[:, 0], xy[:, 1]) - f_star
        if bool((gap <= TOY_TOL).any()):
            return float(step)
        finite = torch.isfinite(gap)
        if step == max_steps or not bool(finite.any()):
            break
        gap[finite].sum().backward()  # a diverged point gets no gradient and stops moving
        opt.step()
    return math.inf


def _toys(seed: int, lrs_per_method: int, max_steps: int) -> dict[str, float]:
    out: dict[str, float] = {}
    rng = numpy_rng(seed, "toy-starts")
    lo, hi = LOG10_LR
    lrs = [10 ** (lo + (hi - lo) * halton(seed * lrs_per_method + i, 1)[0]) for i in range(lrs_per_method)]
    logs: dict[str, list[float]] = {"adam": [], "sgd": []}
    hits = 0
    for name, (_, start, _) in TOYS.items():
        s = tuple(float(v) for v in np.asarray(start) + rng.uniform(-0.25, 0.25, 2))
        steps = {}
        for m in TOY_METHODS:
            best = toy_steps(m, name, s, lrs, max_steps)
            steps[m] = best if math.isfinite(best) else float(max_steps + 1)
            out[f"toy_{name}_{m}_steps"] = steps[m]
        hits += int(steps["adabelief"] <= max_steps)
        for b in logs:
            logs[b].append(math.log(max(steps["adabelief"], 1.0) / max(steps[b], 1.0)))
    out["toy_adabelief_hits"] = float(hits)
    for b, v in logs.items():
        out[f"toy_adabelief_over_{b}_geomean"] = math.exp(sum(v) / len(v))
    return out


class DigitsGapProblem(DigitsMLPProblem):
    """digits-mlp with the held-out images split into validation (first 197) and test (last 200)."""

    N_VAL = 197

    def __init__(self, seed: int, activation: type[torch.nn.Module]) -> None:
        super().__init__(seed, activation)
        self.x_test, self.y_test = self.x_val[self.N_VAL :], self.y_val[self.N_VAL :]
        self.x_val, self.y_val = self.x_val[: self.N_VAL], self.y_val[: self.N_VAL]

    def evaluate(self) -> dict[str, float]:
        out = super().evaluate()
        with torch.no_grad():
            out["test_accuracy"] = float((self.model(self.x_test).argmax(1) == self.y_test).float().mean())
        return out


class DigitsGapWorkload(DigitsMLPWorkload):
    """digits-mlp with a test split (:class:`DigitsGapProblem`); used through :func:`variant`."""

    id = "digits-mlp-gap"
    summary = "digits-mlp with the held-out images split into validation and test halves"

    def build(self, seed: int) -> DigitsGapProblem:
        return DigitsGapProblem(seed, self.activation)


DIGITS_METHODS = {"adabelief": "adabelief", "adam": "adamw", "sgd": "sgd-heavyball"}


def _digits(seed: int, trials: int, steps: int) -> dict[str, float]:
    out: dict[str, float] = {}
    vid = variant(DigitsGapWorkload, step_hint=steps, eval_every=max(1, steps // 5))
    for key, m in DIGITS_METHODS.items():
        st = tune(m, vid, seed, trials, max_steps=steps, stop_at_target=False, seed_key="digits-mlp")
        i = st.best_index("val_accuracy", "max")
        if i < 0:
            raise RuntimeError(f"every trial of {m} on {vid} diverged")
        train, test = st.final(i, "train_accuracy"), st.final(i, "test_accuracy")
        out[f"digits_{key}_train_acc"] = train
        out[f"digits_{key}_test_acc"] = test
        out[f"digits_{key}_gap"] = train - test
    out["digits_gap_minus_sgd"] = out["digits_adabelief_gap"] - out["digits_sgd_gap"]
    out["digits_gap_minus_adam"] = out["digits_adabelief_gap"] - out["digits_adam_gap"]
    out["digits_test_minus_sgd"] = out["digits_adabelief_test_acc"] - out["digits_sgd_test_acc"]
    out["digits_test_minus_adam"] = out["digits_adabelief_test_acc"] - out["digits_adam_test_acc"]
    return out


def measure(
    seed: int, quick: bool, lrs: int = 8, toy_max_steps: int = 2000, trials: int = 5, steps: int = 1500
) -> dict[str, float]:
    """One seed: the 2-D toys (``lrs`` learning rates per method, ``toy_max_steps`` at most) and the
    digits studies (``trials`` Halton trials per method, ``steps`` steps each)."""
    return {**_toys(seed, lrs, toy_max_steps), **_digits(seed, trials, steps)}
