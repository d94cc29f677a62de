r"""Constrained RLHF: component rewards held at their proxy points by Lagrange multipliers.

A composite reward :math:`\sum_i w_i r_i` of component reward models overoptimises: each component is a
good proxy of the evaluation (true) score only up to a value :math:`\theta_i`, its *proxy point*, and
pushing it further lowers the true score. Constrained RLHF replaces the fixed weights by Lagrange
multipliers that keep every component at its proxy point. Per component a sense :math:`s_i`:
``"ge"`` (:math:`v_i \ge \theta_i`), ``"le"`` (:math:`v_i \le \theta_i`) or ``"eq"``, with
:math:`v_i(\pi) = \mathbb{E}_{x, y\sim\pi}[r_i(x, y)]`:

.. math::
    \begin{aligned}
    &\max_\pi\ \sum_i w_i v_i(\pi) - \beta\,\mathrm{KL}(\pi\,\Vert\,\pi_0)
      \quad\text{s.t.}\quad g_i(\pi) \le 0\ (\text{or} = 0),\qquad
      g_i = \begin{cases}\theta_i - v_i & \text{ge}\\ v_i - \theta_i & \text{le, eq}\end{cases}\\
    &\mathcal{L}(\pi, \mu) = \sum_i w_i v_i - \beta\,\mathrm{KL}(\pi\Vert\pi_0) - \sum_i \mu_i g_i
      = \sum_i c_i v_i - \beta\,\mathrm{KL} + \text{const},\qquad
      c_i = \begin{cases} w_i + \mu_i & \text{ge}\\ w_i - \mu_i & \text{le, eq}\end{cases}\\
    &\textbf{for } t = 0, 1, \dots:\quad
      \pi \leftarrow \text{one policy-gradient step on the reward } \textstyle\sum_i c_i r_i
      \text{ with the KL penalty};\quad
      \mu_i \leftarrow \Pi_i\big[\mu_i + \eta\,\hat g_i\big]
    \end{aligned}

where :math:`\Pi_i` clips at 0 for inequality constraints (a multiplier rises while its constraint is
violated, :math:`\hat g_i > 0`, and decays to 0 while it holds) and is the identity for equalities. With
:math:`w = 0` and ``"ge"`` constraints (the default, the paper's :math:`\mu`-PPO reading: stay close to
:math:`\pi_0` while every component reaches its proxy point) the effective weights are the multipliers.

**Nelder-Mead variant** (:func:`nelder_mead_thresholds`): the proxy points are unknown; one run
optimises the thresholds :math:`\theta` against the evaluation score with ``scipy.optimize.minimize
(method="Nelder-Mead")``. Each objective call sets the thresholds, continues the *same* run (policy and
multipliers carried over) for ``steps_per_eval`` constrained steps, and returns minus the evaluation
score of the current policy. The best thresholds seen are the method's estimate of the proxy points.

Pieces: :func:`dual_ascent_step` and :func:`lagrangian_weights` (pure), :func:`run_constrained` (generic
loop over a ``step(weights) -> component estimates`` callable), :func:`run_fixed_weights` (the baseline),
:class:`ProxyBandit` (an exact tabular problem with known proxy points), and
:mod:`optarena.preference.policy_gradient` supplies the RLOO trainer for the sorting testbed.

What we follow and departures. The formulation above is our reading of the project notes of the paper
(the PDF was not re-checked here): constraints at proxy points, multipliers by projected dual ascent,
Nelder-Mead on the thresholds in one run. The authors' code (tedmoskovitz/ConstrainedRL4LMs, PPO on
GPT-2 with METEOR and intent rewards) uses PPO with a value head and, as we recall it, bounds the
multipliers through a sigmoid; here the multipliers are unbounded projected dual ascent, the primal step
is exact gradient ascent (bandit) or RLOO (testbed), and the evaluation score of the Nelder-Mead variant
is queried every ``steps_per_eval`` steps as in the paper's one-run scheme.

Reference: T. Moskovitz, A. K. Singh, D. J. Strouse, T. Sandholm, R. Salakhutdinov, A. D. Dragan,
S. McAleer, "Confronting Reward Model Overoptimization with Constrained RLHF", ICLR 2024, arXiv:2310.04373.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.preference._logps import hparam_positive

__all__ = [
    "CONSTRAINED_RLHF_SPEC",
    "SENSES",
    "ConstrainedRLHF",
    "ConstrainedResult",
    "NelderMeadResult",
    "ProxyBandit",
    "constraint_violation",
    "dual_ascent_step",
    "lagrangian_weights",
    "make_constrained_rlhf",
    "nelder_mead_thresholds",
    "run_constrained",
    "run_fixed_weights",
]

SENSES = ("ge", "le", "eq")

#: ``step(weights) -> values``: one primal update of the policy on the reward ``sum_i weights[i] r_i``
#: (with whatever KL penalty the trainer holds); returns the estimates of the component values
#: :math:`v_i` (shape ``(m,)``) on the data of that step.
Step = Callable[[np.ndarray], np.ndarray]


# ------------------------------------------------------------------------------------------- validation


def _vector(name: str, value: Any, m: int | None = None) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sequence of numbers, got shape {a.shape}")
    if m is not None and a.size != m:
        raise ValueError(f"{name} must have {m} entries, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {a.tolist()}")
    return a


def _senses(sense: str | Sequence[str], m: int) -> tuple[str, ...]:
    senses = (sense,) * m if isinstance(sense, str) else tuple(sense)
    if len(senses) != m:
        raise ValueError(f"sense must be one string or {m} strings, got {sense!r}")
    for s in senses:
        if s not in SENSES:
            raise ValueError(f"sense must be one of {SENSES}, got {s!r}")
    return senses


def _count(name: str, value: int, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------------------- dual pieces


def constraint_violation(
    values: Sequence[float], thresholds: Sequence[float], sense: str | Sequence[str] = "ge"
) -> np.ndarray:
    r""":math:`g_i`: positive where constraint ``i`` is violated (``ge``: :math:`\theta_i - v_i`;
    ``le`` and ``eq``: :math:`v_i - \theta_i`)."""
    v = _vector("values", values)
    th = _vector("thresholds", thresholds, v.size)
    senses = _senses(sense, v.size)
    sign = np.array([-1.0 if s == "ge" else 1.0 for s in senses])
    return sign * (v - th)


def dual_ascent_step(
    multipliers: Sequence[float],
    values: Sequence[float],
    thresholds: Sequence[float],
    lr: float,
    sense: str | Sequence[str] = "ge",
) -> np.ndarray:
    r"""One projected dual-ascent step :math:`\mu_i \leftarrow \Pi_i[\mu_i + \eta\,g_i]`: clipped at 0 for
    inequality senses (``ge``, ``le``), free for ``eq``. Returns a new array."""
    mu = _vector("multipliers", multipliers)
    g = constraint_violation(values, thresholds, sense)
    if g.size != mu.size:
        raise ValueError(f"multipliers has {mu.size} entries but values has {g.size}")
    lr = hparam_positive("lr", lr)
    senses = _senses(sense, mu.size)
    if any(s != "eq" and x < 0 for s, x in zip(senses, mu, strict=True)):
        raise ValueError(f"inequality multipliers must be >= 0, got {mu.tolist()}")
    new = mu + lr * g
    ineq = np.array([s != "eq" for s in senses])
    return np.where(ineq, np.maximum(new, 0.0), new)


def lagrangian_weights(
    multipliers: Sequence[float],
    sense: str | Sequence[str] = "ge",
    objective_weights: Sequence[float] | None = None,
) -> np.ndarray:
    r"""The effective reward weights :math:`c_i = w_i + \mu_i` (``ge``) or :math:`w_i - \mu_i` (``le``,
    ``eq``) of the Lagrangian; ``objective_weights`` :math:`w` default to 0."""
    mu = _vector("multipliers", multipliers)
    senses = _senses(sense, mu.size)
    w = (
        np.zeros(mu.size)
        if objective_weights is None
        else _vector("objective_weights", objective_weights, mu.size)
    )
    sign = np.array([1.0 if s == "ge" else -1.0 for s in senses])
    return w + sign * mu


# -------------------------------------------------------------------------------------------- run loops


@dataclass
class ConstrainedResult:
    """History of a run: per step the weights used, the component estimates and the multipliers after the
    dual step (``weights``, ``values``, ``multipliers``: arrays ``(steps, m)``), and ``evals`` (the
    ``evaluate`` callback's outputs with their step index), ``multipliers_final``."""

    weights: np.ndarray
    values: np.ndarray
    multipliers: np.ndarray
    evals: list[tuple[int, float]] = field(default_factory=list)

    @property
    def multipliers_final(self) -> np.ndarray:
        return self.multipliers[-1].copy()


def run_constrained(
    step: Step,
    thresholds: Sequence[float],
    steps: int,
    dual_lr: float,
    sense: str | Sequence[str] = "ge",
    objective_weights: Sequence[float] | None = None,
    init_multipliers: Sequence[float] | None = None,
    evaluate: Callable[[], float] | None = None,
    eval_every: int = 1,
) -> ConstrainedResult:
    """Alternate a primal ``step`` on the Lagrangian weights and a dual-ascent step, ``steps`` times.

    ``evaluate()`` (optional, e.g. the true score of the current policy) is called after every
    ``eval_every``-th step and after the last one.
    """
    th = _vector("thresholds", thresholds)
    m = th.size
    senses = _senses(sense, m)
    steps = _count("steps", steps)
    eval_every = _count("eval_every", eval_every)
    dual_lr = hparam_positive("dual_lr", dual_lr)
    mu = np.zeros(m) if init_multipliers is None else _vector("init_multipliers", init_multipliers, m)
    if objective_weights is not None:
        objective_weights = _vector("objective_weights", objective_weights, m)
    ws, vs, mus, evals = [], [], [], []
    for t in range(steps):
        c = lagrangian_weights(mu, senses, objective_weights)
        v = _vector("step(weights) output", step(c.copy()), m)
        mu = dual_ascent_step(mu, v, th, dual_lr, senses)
        ws.append(c)
        vs.append(v)
        mus.append(mu)
        if evaluate is not None and ((t + 1) % eval_every == 0 or t == steps - 1):
            evals.append((t + 1, float(evaluate())))
    return ConstrainedResult(np.array(ws), np.array(vs), np.array(mus), evals)


def run_fixed_weights(
    step: Step,
    weights: Sequence[float],
    steps: int,
    evaluate: Callable[[], float] | None = None,
    eval_every: int = 1,
) -> ConstrainedResult:
    """The baseline: ``steps`` primal steps on the fixed composite reward ``sum_i weights[i] r_i``."""
    w = _vector("weights", weights)
    steps = _count("steps", steps)
    eval_every = _count("eval_every", eval_every)
    vs, evals = [], []
    for t in range(steps):
        vs.append(_vector("step(weights) output", step(w.copy()), w.size))
        if evaluate is not None and ((t + 1) % eval_every == 0 or t == steps - 1):
            evals.append((t + 1, float(evaluate())))
    return ConstrainedResult(np.tile(w, (steps, 1)), np.array(vs), np.zeros((steps, w.size)), evals)


@dataclass
class NelderMeadResult:
    """``thresholds``: the best thresholds evaluated; ``score``: their evaluation score; ``trace``: every
    evaluation as ``(thresholds, score)`` in call order; ``run``: the concatenated constrained history;
    ``scipy``: scipy's ``OptimizeResult``."""

    thresholds: np.ndarray
    score: float
    trace: list[tuple[np.ndarray, float]]
    run: ConstrainedResult
    scipy: Any


def nelder_mead_thresholds(
    step: Step,
    evaluate: Callable[[], float],
    x0: Sequence[float],
    steps_per_eval: int,
    max_evals: int,
    dual_lr: float,
    initial_step: Sequence[float] | float = 1.0,
    sense: str | Sequence[str] = "ge",
    objective_weights: Sequence[float] | None = None,
    xatol: float = 1e-3,
    fatol: float = 1e-4,
    final_steps: int = 0,
) -> NelderMeadResult:
    """Find the thresholds in one run: scipy Nelder-Mead maximises ``evaluate()`` over the thresholds,
    each call continuing the same constrained run for ``steps_per_eval`` steps (multipliers carried over).

    ``initial_step`` sets the initial simplex: ``x0`` and ``x0 + initial_step_i e_i``. ``final_steps``
    (default 0) continues the run at the best thresholds found once the search ends, so the returned
    run ends at a policy trained for them (the search's last call need not be its best).
    """
    x0 = _vector("x0", x0)
    m = x0.size
    steps_per_eval = _count("steps_per_eval", steps_per_eval)
    final_steps = _count("final_steps", final_steps, low=0)
    max_evals = _count("max_evals", max_evals, low=m + 1)
    delta = np.broadcast_to(np.asarray(initial_step, dtype=np.float64), (m,)).copy()
    if not np.all(np.isfinite(delta)) or np.any(delta == 0):
        raise ValueError(f"initial_step must be finite and non-zero, got {initial_step!r}")
    senses = _senses(sense, m)
    dual_lr = hparam_positive("dual_lr", dual_lr)
    state: dict[str, Any] = {"mu": np.zeros(m), "parts": []}
    trace: list[tuple[np.ndarray, float]] = []

    def train(theta: np.ndarray, steps: int) -> ConstrainedResult:
        """``steps`` more steps of the constrained run at thresholds ``theta``, from the last multipliers."""
        return run_constrained(
            step, theta, steps, dual_lr, senses, objective_weights, state["mu"], evaluate, steps_per_eval
        )

    def objective(theta: np.ndarray) -> float:
        if len(trace) >= max_evals:  # scipy may overrun maxfev by a few calls: don't train further
            return -max(s for _, s in trace)
        res = train(theta, steps_per_eval)
        state["mu"] = res.multipliers_final
        state["parts"].append(res)
        score = res.evals[-1][1]
        trace.append((np.array(theta, dtype=np.float64), score))
        return -score

    simplex = np.vstack([x0, x0 + np.diag(delta)])
    out = minimize(
        objective,
        x0,
        method="Nelder-Mead",
        options={"maxfev": max_evals, "initial_simplex": simplex, "xatol": xatol, "fatol": fatol},
    )
    best = max(range(len(trace)), key=lambda i: trace[i][1])
    parts = state["parts"]
    if final_steps:
        parts.append(train(trace[best][0], final_steps))
    offsets = np.cumsum([0] + [len(p.weights) for p in parts])
    run = ConstrainedResult(
        np.concatenate([p.weights for p in parts]),
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.multipliers for p in parts]),
        [(int(offsets[i]) + t, s) for i, p in enumerate(parts) for t, s in p.evals],
    )
    return NelderMeadResult(trace[best][0].copy(), trace[best][1], trace, run, out)


# ------------------------------------------------------------------------------------ tabular bandit


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


class ProxyBandit:
    r"""An exact K-armed bandit with ``m`` component rewards and a known proxy point per component.

    Arm :math:`k` has component rewards ``rewards[:, k]``; the reference policy is
    :math:`\pi_0 = \mathrm{softmax}(\text{ref\_logits})`. The evaluation (true) score is an inverted U in
    the component values, peaking at the proxy points :math:`\theta^*`:

    .. math:: T(\pi) = 1 - \sum_i \big((v_i(\pi) - \theta^*_i)/s_i\big)^2,\quad
        s_i = \max(|\theta^*_i - v_i(\pi_0)|, 10^{-3}),

    so :math:`T(\pi_0) \le 0`, :math:`T = 1` exactly at the proxy points, and pushing any component past
    its proxy point lowers :math:`T` (overoptimization). :meth:`random` draws correlated components and
    proxy points reachable as :math:`\pi \propto \pi_0 e^{\mu^{*\top} r/\beta}` for a hidden
    :math:`\mu^*`. A policy is a logits vector; :meth:`make_step` returns a ``step(weights)`` closure of
    exact gradient ascent on :math:`\sum_i c_i v_i - \beta\,\mathrm{KL}(\pi\Vert\pi_0)`.
    """

    def __init__(
        self, rewards: np.ndarray, ref_logits: np.ndarray, proxy_points: Sequence[float], beta: float
    ):
        r = np.asarray(rewards, dtype=np.float64)
        if r.ndim != 2 or r.shape[1] < 2 or not np.all(np.isfinite(r)):
            raise ValueError(f"rewards must be a finite (m, K >= 2) array, got shape {r.shape}")
        self.rewards = r
        self.ref_logits = _vector("ref_logits", ref_logits, r.shape[1])
        self.proxy_points = _vector("proxy_points", proxy_points, r.shape[0])
        self.beta = hparam_positive("beta", beta)
        self.ref = _softmax(self.ref_logits)
        self.scale = np.maximum(np.abs(self.proxy_points - self.values(self.ref_logits)), 1e-3)

    @classmethod
    def random(
        cls,
        seed: int,
        n_arms: int = 32,
        n_components: int = 2,
        correlation: float = 0.5,
        beta: float = 1.0,
        mu_range: tuple[float, float] = (0.5, 2.5),
    ) -> ProxyBandit:
        _count("n_arms", n_arms, 2)
        _count("n_components", n_components)
        if not -1.0 < correlation < 1.0:
            raise ValueError(f"correlation must be in (-1, 1), got {correlation!r}")
        rng = np.random.default_rng(seed)
        cov = np.full((n_components, n_components), correlation) + (1 - correlation) * np.eye(n_components)
        rewards = rng.multivariate_normal(np.zeros(n_components), cov, size=n_arms).T
        ref_logits = rng.normal(size=n_arms)
        mu_star = rng.uniform(*mu_range, size=n_components)
        target = _softmax(ref_logits + mu_star @ rewards / beta)
        bandit = cls(rewards, ref_logits, rewards @ target, beta)
        bandit.mu_star = mu_star  # the weights (x beta) whose KL-optimal composite sits at the proxy points
        return bandit

    @property
    def m(self) -> int:
        return int(self.rewards.shape[0])

    def policy(self, logits: np.ndarray) -> np.ndarray:
        return _softmax(np.asarray(logits, dtype=np.float64))

    def values(self, logits: np.ndarray) -> np.ndarray:
        return self.rewards @ self.policy(logits)

    def kl(self, logits: np.ndarray) -> float:
        p = self.policy(logits)
        return float(np.sum(p * (np.log(p) - np.log(self.ref))))

    def true_score(self, logits: np.ndarray) -> float:
        return float(1.0 - np.sum(((self.values(logits) - self.proxy_points) / self.scale) ** 2))

    def composite_optimum(self, weights: Sequence[float]) -> np.ndarray:
        r"""Logits of the maximiser of :math:`\sum_i w_i v_i - \beta\,\mathrm{KL}`:
        :math:`\pi \propto \pi_0 e^{w^\top r/\beta}`."""
        w = _vector("weights", weights, self.m)
        return self.ref_logits + w @ self.rewards / self.beta

    def make_step(
        self, lr: float = 1.0, n_samples: int | None = None, seed: int = 0
    ) -> tuple[Step, dict[str, np.ndarray]]:
        r"""``(step, state)``: ``state["logits"]`` starts at the reference and is updated in place by
        ``step(weights)``, one gradient-ascent step on :math:`\sum_i c_i v_i - \beta\,\mathrm{KL}`.

        ``n_samples=None``: the exact gradient, and ``step`` returns the exact values before the step.
        Otherwise a policy-gradient step from ``n_samples`` arms drawn from the policy: REINFORCE with the
        leave-one-out (RLOO) baseline on the per-sample reward :math:`c^\top r(y) - \beta(\log\pi(y) -
        \log\pi_0(y))`, and ``step`` returns the sample means of the components.
        """
        lr = hparam_positive("lr", lr)
        if n_samples is not None:
            n_samples = _count("n_samples", n_samples, 2)
        rng = np.random.default_rng(seed)
        state = {"logits": self.ref_logits.copy()}

        def step(weights: np.ndarray) -> np.ndarray:
            w = _vector("weights", weights, self.m)
            p = self.policy(state["logits"])
            reward = w @ self.rewards - self.beta * (np.log(p) - np.log(self.ref))
            if n_samples is None:
                state["logits"] = state["logits"] + lr * p * (reward - p @ reward)
                return self.rewards @ p
            arms = rng.choice(p.size, size=n_samples, p=p)
            r = reward[arms]
            adv = r - (r.sum() - r) / (n_samples - 1)  # RLOO baseline
            grad = np.zeros_like(p)
            for a, g in zip(arms, adv, strict=True):  # grad of log pi(a) = e_a - p
                grad[a] += g
            grad -= adv.sum() * p
            state["logits"] = state["logits"] + lr * grad / n_samples
            return self.rewards[:, arms].mean(axis=1)

        return step, state


# ------------------------------------------------------------------------------------------ trainer/spec


@dataclass(frozen=True)
class ConstrainedRLHF:
    """The preference-family trainer object: hyperparameters of the Lagrangian method, bound to a
    ``step`` by :meth:`run` (fixed thresholds) or :meth:`run_nelder_mead` (thresholds searched)."""

    dual_lr: float = 0.05
    sense: str | tuple[str, ...] = "ge"

    def __post_init__(self) -> None:
        hparam_positive("dual_lr", self.dual_lr)
        _senses(self.sense, 1 if isinstance(self.sense, str) else len(self.sense))

    def run(self, step: Step, thresholds: Sequence[float], steps: int, **kw: Any) -> ConstrainedResult:
        return run_constrained(step, thresholds, steps, self.dual_lr, self.sense, **kw)

    def run_nelder_mead(
        self,
        step: Step,
        evaluate: Callable[[], float],
        x0: Sequence[float],
        steps_per_eval: int,
        max_evals: int,
        **kw: Any,
    ) -> NelderMeadResult:
        return nelder_mead_thresholds(
            step, evaluate, x0, steps_per_eval, max_evals, self.dual_lr, sense=self.sense, **kw
        )


def make_constrained_rlhf(hparams: Mapping[str, Any] | None = None) -> ConstrainedRLHF:
    """The preference-family factory: a :class:`ConstrainedRLHF` trainer (not a loss)."""
    return ConstrainedRLHF(**CONSTRAINED_RLHF_SPEC.resolve_hparams(hparams))


CONSTRAINED_RLHF_SPEC = MethodSpec(
    name="constrained-rlhf",
    family="preference",
    factory="optarena.preference.constrained_rlhf:make_constrained_rlhf",
    summary="Constrained RLHF, Lagrange multipliers hold component rewards at their proxy points",
    search_space=SearchSpace((Param("dual_lr", 1e-3, 1.0, log=True), Param("sense", choices=SENSES))),
    defaults={"dual_lr": 0.05, "sense": "ge"},
    paper=PaperRef(
        "T. Moskovitz, A. K. Singh, D. J. Strouse, T. Sandholm, R. Salakhutdinov, A. D. Dragan, S. McAleer",
        "Confronting Reward Model Overoptimization with Constrained RLHF",
        "ICLR",
        2024,
        "2310.04373",
    ),
    capabilities=frozenset({"uses-reference", "trainer", "multi-reward"}),
)
