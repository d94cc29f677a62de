"""DAGMA baseline wrapper (needs the optional 'dagma' package; skipped without it)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from optarena.science.dag import dagma_baseline, is_dag, shd, simulate_dag, simulate_linear_sem
from optarena.science.dag.dagma_baseline import DAGMA_SPEC, MissingDependencyError, dagma_linear, make_dagma

_FAST = {"warm_iter": 3000, "max_iter": 6000}


def _data(d: int = 6, graph: str = "ER2", n: int = 500, seed: int = 0):
    W = simulate_dag(d, graph, seed)
    return W, simulate_linear_sem(W, n, seed=seed)


def test_missing_package_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # a None entry in sys.modules makes the import fail as if the package were absent
    monkeypatch.setitem(sys.modules, "dagma", None)
    monkeypatch.setitem(sys.modules, "dagma.linear", None)
    _, X = _data()
    with pytest.raises(MissingDependencyError, match="pip install dagma=="):
        dagma_linear(X)
    assert issubclass(MissingDependencyError, ImportError)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lambda1": -0.1}, "lambda1"),
        ({"w_threshold": float("nan")}, "w_threshold"),
        ({"T": 0}, "T"),
        ({"s": []}, "s must"),
        ({"lr": 0.0}, "lr"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, match: str) -> None:
    _, X = _data()
    with pytest.raises(ValueError, match=match):
        dagma_linear(X, **kwargs)


def test_recovers_a_small_dag_and_leaves_the_data_alone() -> None:
    pytest.importorskip("dagma")
    W_true, X = _data(d=6, n=1000, seed=3)
    X_before = X.copy()
    res = dagma_linear(X, **_FAST)
    assert np.array_equal(X, X_before)  # the package centers its input in place; we pass a copy
    assert res.W.shape == (6, 6) and is_dag(res.W)
    assert shd(W_true, res.W) <= 1
    assert np.all((res.W == 0) | (np.abs(res.W) >= 0.3))  # thresholded
    assert res.cut_edges == 0 and res.h_final < 1e-3


def test_thresholded_output_is_a_dag_and_cut_to_dag_breaks_cycles() -> None:
    pytest.importorskip("dagma")
    _, X = _data(d=8, graph="ER4", n=300, seed=5)
    res = make_dagma({"lambda1": 0.0, **_FAST})(X)  # no sparsity: the hardest case for acyclicity
    assert is_dag(res.W)
    cyc = np.array([[0.0, 0.9, 0.0], [0.0, 0.0, -2.0], [0.5, 0.0, 0.0]])  # 0 -> 1 -> 2 -> 0
    W, cut = dagma_baseline.cut_to_dag(cyc)
    assert cut == 1 and is_dag(W) and W[2, 0] == 0 and W[0, 1] == 0.9


def test_spec_is_a_science_method_with_a_paper() -> None:
    assert DAGMA_SPEC.family == "science" and DAGMA_SPEC.paper is not None
    assert DAGMA_SPEC.paper.year == 2022 and "DAGMA" in DAGMA_SPEC.paper.title
