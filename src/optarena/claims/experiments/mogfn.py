"""Claim experiment: MOGFN-PC on the multi-objective HyperGrid (Jain et al., ICML 2023).

One seed = one MOGFN-PC run (initialisation, training preferences and actions from the seed) on a
``ndim x height`` grid with the normalised objectives (Branin, Currin, Shubert by default), weighted-sum
reward ``R(x | w)^beta``. Then, for ``n_test_prefs`` test preferences ``w ~ Dir(alpha)`` (their own
generator, seeded by ``10_000 + seed``):

- distribution: the exact target ``p(. | w)`` and the model's exact terminal distribution ``q(. | w)``
  (dynamic programming over the DAG); ``l1_mean`` = mean over preferences of ``sum_x |p - q|`` (in
  [0, 2]; the authors' script reports the per-state mean, ``l1_per_state_mean`` = ``l1 / N``);
  ``l1_uniform_mean``: the same for the uniform distribution (an untrained model's scale);
  ``logz_abs_err``: ``|log Z_learned(w) - log sum_x R(x|w)^beta|``;
- Pareto quality: ``samples_per_pref`` samples from the model per test preference; hypervolume of all
  of them (reference 0, exact) against NSGA-II (pymoo) given the same number of reward calls
  (training ``n_steps * batch_size`` + the samples evaluated), scored by its final population;
  ``hv_gap_vs_nsga2 = (hv_mogfn - hv_nsga2) / hv_true`` (``hv_true``: the grid's exact Pareto
  front). NaN without pymoo. Also reported: the same number of samples drawn from the exact target
  (what a perfect sampler would score), uniform random states, NSGA-II's archive of every state it
  evaluated, and the evaluations NSGA-II needed to reach ``hv_true``;
- diversity: distinct states, share of the true Pareto set found (``*_pareto_recall``), top-10
  diversity (mean pairwise distance in ``[0, 1]^ndim`` of the 10 best distinct candidates per
  preference, averaged), for the model, the target samples and NSGA-II's final population.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from optarena.science.mogfn import (
    MOGFN,
    HyperGrid,
    hypervolume,
    l1_distance,
    nsga2,
    pareto_recall,
    pymoo_available,
    random_search,
    set_hypervolume,
    topk_diversity,
)


def _diversity(env: HyperGrid, states: np.ndarray, prefs: np.ndarray, k: int) -> float:
    return float(np.mean([topk_diversity(env, states, w, k) for w in prefs]))


def measure(
    seed: int,
    quick: bool,
    ndim: int = 2,
    height: int = 32,
    objectives: tuple[str, ...] | list[str] = ("branin", "currin", "shubert"),
    beta: float = 16.0,
    alpha: float = 1.5,
    n_steps: int = 2000,
    batch_size: int = 128,
    hidden: int = 64,
    lr: float = 1e-2,
    n_test_prefs: int = 20,
    samples_per_pref: int = 64,
    pop_size: int = 100,
    topk: int = 10,
) -> dict[str, float]:
    if quick:
        height, objectives, n_steps, batch_size = 8, ("branin", "currin"), 100, 16
        n_test_prefs, samples_per_pref, pop_size = 5, 16, 20
    torch.set_num_threads(1)
    env = HyperGrid(ndim, height, objectives=tuple(objectives))
    model = MOGFN(env, hidden=hidden, beta=beta, alpha=alpha, lr=lr, seed=seed)
    model.fit(n_steps, batch_size)
    rng = np.random.default_rng(10_000 + seed)
    prefs = rng.dirichlet([alpha] * env.n_objectives, size=n_test_prefs)
    t0 = time.perf_counter()
    P = model.target_distribution(prefs)
    Q = model.terminal_distribution(prefs)
    t_exact = time.perf_counter() - t0
    l1 = l1_distance(P, Q)
    l1_unif = l1_distance(P, np.full_like(P, 1.0 / env.n_states))
    logz_err = np.abs(model.log_z(prefs) - model.true_log_z(prefs))

    n_samples = n_test_prefs * samples_per_pref
    gfn = np.concatenate(
        [model.sample(samples_per_pref, w, seed=1_000_000 * (seed + 1) + j) for j, w in enumerate(prefs)]
    )
    tgt = env.states[
        np.concatenate([rng.choice(env.n_states, size=samples_per_pref, p=P[j]) for j in range(n_test_prefs)])
    ]
    front = env.pareto_mask()
    hv_true = hypervolume(env.rewards)
    hv_gfn = set_hypervolume(env, gfn)
    out = {
        "l1_mean": float(l1.mean()),
        "l1_max": float(l1.max()),
        "l1_per_state_mean": float(l1.mean() / env.n_states),
        "l1_uniform_mean": float(l1_unif.mean()),
        "logz_abs_err": float(logz_err.mean()),
        "final_loss_mean100": float(np.mean(model.losses_[-100:])),
        "hv_true": hv_true,
        "hv_mogfn": hv_gfn,
        "hv_mogfn_frac": hv_gfn / hv_true,
        "hv_target_samples": set_hypervolume(env, tgt),
        "hv_random": set_hypervolume(env, random_search(env, n_samples, seed=seed)),
        "n_pareto_states": float(front.sum()),
        "mogfn_pareto_recall": pareto_recall(env, gfn, front),
        "target_pareto_recall": pareto_recall(env, tgt, front),
        "mogfn_unique": float(len(np.unique(env.index(gfn)))),
        "target_unique": float(len(np.unique(env.index(tgt)))),
        "mogfn_topk_div": _diversity(env, gfn, prefs, topk),
        "target_topk_div": _diversity(env, tgt, prefs, topk),
        "reward_calls": float(model.n_reward_calls_ + n_samples),
        "fit_time_s": model.fit_time_s_,
        "exact_time_s": t_exact,
    }
    nan = float("nan")
    if pymoo_available():
        res = nsga2(env, model.n_reward_calls_ + n_samples, pop_size=pop_size, seed=seed, target_hv=hv_true)
        hv_ns = set_hypervolume(env, res.states)
        out.update(
            {
                "hv_nsga2": hv_ns,
                "hv_gap_vs_nsga2": (hv_gfn - hv_ns) / hv_true,
                "hv_nsga2_archive": hypervolume(env.rewards[res.archive]),
                "nsga2_evals": float(res.n_evals),
                "nsga2_evals_to_true_hv": nan if res.evals_to_target is None else float(res.evals_to_target),
                "nsga2_pareto_recall": pareto_recall(env, res.states, front),
                "nsga2_unique": float(len(np.unique(env.index(res.states)))),
                "nsga2_topk_div": _diversity(env, res.states, prefs, topk),
                "nsga2_time_s": res.time_s,
            }
        )
    else:
        for key in (
            "hv_nsga2",
            "hv_gap_vs_nsga2",
            "hv_nsga2_archive",
            "nsga2_evals",
            "nsga2_evals_to_true_hv",
        ):
            out[key] = nan
        for key in ("nsga2_pareto_recall", "nsga2_unique", "nsga2_topk_div", "nsga2_time_s"):
            out[key] = nan
    return out
