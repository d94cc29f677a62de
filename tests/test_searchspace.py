from __future__ import annotations

import pytest

from optarena.core.errors import HyperparameterError
from optarena.core.searchspace import Param, SearchSpace, halton
from optarena.registry import resolve_method


def test_halton_is_deterministic_and_low_discrepancy():
    pts = [halton(i, 2) for i in range(64)]
    assert pts == [halton(i, 2) for i in range(64)]
    assert all(0 < x < 1 for p in pts for x in p)
    # every cell of a 4x4 grid gets at least one of 64 points (a random sample often misses some)
    cells = {(int(p[0] * 4), int(p[1] * 4)) for p in pts}
    assert len(cells) == 16


def test_samples_stay_in_range_and_log_scale():
    space = SearchSpace((Param("lr", 1e-4, 1e-1, log=True), Param("k", 1, 5, integer=True)))
    values = [space.sample(i) for i in range(50)]
    assert all(1e-4 <= v["lr"] <= 1e-1 and 1 <= v["k"] <= 5 and isinstance(v["k"], int) for v in values)
    below = sum(v["lr"] < 1e-2 for v in values)
    assert 28 <= below <= 38  # log-uniform: two thirds of the decades lie below 1e-2


def test_out_of_range_names_the_parameter():
    spec = resolve_method("adamw")
    with pytest.raises(HyperparameterError, match=r"'lr' of adamw = 10.0 is outside its search space"):
        spec.resolve_hparams({"lr": 10.0})
    with pytest.raises(HyperparameterError, match=r"unknown hyperparameter 'lrr' of adamw"):
        spec.resolve_hparams({"lrr": 1e-3})
    with pytest.raises(HyperparameterError, match=r"fixed"):
        spec.resolve_hparams({"beta2": 0.9})
    assert spec.resolve_hparams({"lr": 3e-3})["lr"] == 3e-3
