"""LV-HBA claim (Yao, Yu, Zeng, Zhang, ICLR 2024): the coupled-constraint toy and data hyper-cleaning.

Per seed: (1) the toy (x in R^100, y in R^200) from 10 * 1 plus N(0, 1) noise drawn from the seed
(seed 0: exactly 10 * 1), the paper's default hyperparameters, 1500 iterations: relative error of x;
(2) hyper-cleaning on digits with 50% label noise (split drawn from the seed): test accuracy of the
lower-level model retrained at LV-HBA's sample weights minus that of the unweighted model.
"""

from __future__ import annotations

import numpy as np
import torch

from optarena.solvers.bilevel._lower import solve_lower
from optarena.solvers.bilevel.api import solve_bilevel
from optarena.solvers.bilevel.problems import hyper_cleaning, lvhba_toy

#: hyper-cleaning settings, fixed before the claim was run (chosen on seed 0 of a 300-sample split)
CLEANING_OPTIONS = {"alpha": 3.0, "eta": 1.0, "gamma1": 10.0, "c0": 0.1, "p": 0.5}


def measure(
    seed: int, quick: bool, toy_iterations: int = 1500, cleaning_iterations: int = 300
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    noise = 0.0 if seed == 0 else 1.0
    toy = lvhba_toy(100, x0=10 + noise * rng.normal(size=100), y0=10 + noise * rng.normal(size=200))
    r = solve_bilevel(toy, "lv-hba", max_iter=toy_iterations)
    out = {"toy_rel_error": float(r.x_error), "toy_lower_gap": float(r.lower_gap)}
    n = 100 if quick else 300
    hc = hyper_cleaning(seed, n_train=n, n_val=n)
    p = hc.problem
    acc0 = hc.accuracy(solve_lower(p, p.x0))
    res = solve_bilevel(p, "lv-hba", max_iter=60 if quick else cleaning_iterations, options=CLEANING_OPTIONS)
    x = torch.as_tensor(res.x)
    acc = hc.accuracy(solve_lower(p, x))
    w = torch.sigmoid(x).numpy()
    out.update(
        cleaning_acc=acc,
        unweighted_acc=acc0,
        cleaning_gain=acc - acc0,
        cleaning_beats_unweighted=float(acc > acc0),
        weight_clean_mean=float(w[~hc.corrupted].mean()),
        weight_corrupted_mean=float(w[hc.corrupted].mean()),
    )
    return out
