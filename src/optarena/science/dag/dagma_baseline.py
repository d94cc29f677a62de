"""DAGMA (linear, least squares) as a baseline for TOPO, wrapping the authors' PyPI package ``dagma``.

Paper: K. Bello, B. Aragam, P. Ravikumar, "DAGMA: Learning DAGs via M-matrices and a Log-Determinant
Acyclicity Characterization", NeurIPS 2022 (arXiv:2209.08037). Code: github.com/kevinsbello/dagma,
PyPI ``dagma`` (optional extra ``dag``); this module calls its numpy ``dagma.linear.DagmaLinear``.

Central path: for ``t = 1..T`` with ``mu_t = mu_init * mu_factor^(t-1)`` and ``s_t`` from ``s``,

``W_t = argmin_W  mu_t (1/(2n)||X - XW||_F^2 + lambda1 ||W||_1) + h_s(W)``,
``h_s(W) = -log det(s I - W o W) + d log s``  (finite, and zero exactly on DAGs, while ``sI - W o W``
is an M-matrix), each solved by Adam from ``W_{t-1}`` (``W_0 = 0``; ``warm_iter`` steps, ``max_iter``
for the last); finally zero ``|w| < w_threshold``.

Defaults are the package's (lambda1 = 0.03, w_threshold = 0.3, T = 5, mu_init = 1, mu_factor = 0.1,
s = [1, .9, .8, .7, .6], warm_iter = 3e4, max_iter = 6e4, lr = 3e-4). Departures: the data are copied
(the package centers ``X`` in place) and its progress bar is silenced; with ``ensure_dag`` (default) a
thresholded output that still has a cycle (rare; the package's docstring suggests a larger ``T``)
loses its smallest-magnitude edges one at a time until it is acyclic, and ``DagmaResult.cut_edges``
counts them.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.science.dag.data import check_data, is_dag

__all__ = [
    "DAGMA_PIN",
    "DAGMA_SPEC",
    "DagmaResult",
    "MissingDependencyError",
    "cut_to_dag",
    "dagma_linear",
    "make_dagma",
]

DAGMA_PIN = "dagma==1.1.1"


class MissingDependencyError(ImportError):
    """The optional package ``dagma`` is not installed."""


def _require_dagma() -> Any:
    try:
        return importlib.import_module("dagma.linear")
    except ImportError as exc:
        raise MissingDependencyError(
            f"the DAGMA baseline needs the 'dagma' package: pip install {DAGMA_PIN} (or the 'dag' extra: "
            "pip install optarena[dag])"
        ) from exc


@dataclass(frozen=True)
class DagmaResult:
    """Thresholded DAGMA estimate ``W`` (``W[i, j]``: edge i -> j) and run details."""

    W: np.ndarray
    h_final: float  # h_1(W) before thresholding
    score_final: float  # 1/(2n)||X - XW||^2 before thresholding
    cut_edges: int  # edges removed by ensure_dag (0 when the thresholded output was already a DAG)


def cut_to_dag(W: np.ndarray) -> tuple[np.ndarray, int]:
    """Remove smallest-|w| edges one at a time until the support of ``W`` is acyclic."""
    W = W.copy()
    cut = 0
    while not is_dag(W):
        nz = np.flatnonzero(W)
        W.flat[nz[np.argmin(np.abs(W.flat[nz]))]] = 0.0
        cut += 1
    return W, cut


def dagma_linear(
    X: np.ndarray,
    lambda1: float = 0.03,
    w_threshold: float = 0.3,
    T: int = 5,
    mu_init: float = 1.0,
    mu_factor: float = 0.1,
    s: float | list[float] | tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6),
    warm_iter: int = 30_000,
    max_iter: int = 60_000,
    lr: float = 3e-4,
    ensure_dag: bool = True,
) -> DagmaResult:
    """Run the package's ``DagmaLinear(loss_type='l2').fit`` on a copy of ``X`` (centered there)."""
    X = check_data(X)
    if not (np.isfinite(lambda1) and lambda1 >= 0):
        raise ValueError(f"lambda1 must be a finite number >= 0, got {lambda1!r}")
    if not (np.isfinite(w_threshold) and w_threshold >= 0):
        raise ValueError(f"w_threshold must be a finite number >= 0, got {w_threshold!r}")
    for name, val in (("T", T), ("warm_iter", warm_iter), ("max_iter", max_iter)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {val!r}")
    if not (mu_init > 0 and 0 < mu_factor <= 1 and lr > 0):
        raise ValueError(f"need mu_init > 0, 0 < mu_factor <= 1, lr > 0; got {mu_init}, {mu_factor}, {lr}")
    s_list = [float(s)] if np.isscalar(s) else [float(v) for v in s]  # type: ignore[arg-type]
    if not s_list or min(s_list) <= 0:
        raise ValueError(f"s must be a positive number or a non-empty list of positive numbers, got {s!r}")
    linear = _require_dagma()
    model = linear.DagmaLinear(loss_type="l2")
    with contextlib.redirect_stderr(io.StringIO()):  # the package's tqdm bar
        W = model.fit(
            np.array(X, dtype=float, copy=True),
            lambda1=float(lambda1),
            w_threshold=float(w_threshold),
            T=int(T),
            mu_init=float(mu_init),
            mu_factor=float(mu_factor),
            s=list(s_list),
            warm_iter=int(warm_iter),
            max_iter=int(max_iter),
            lr=float(lr),
        )
    W = np.asarray(W, dtype=float)
    cut = 0
    if ensure_dag:
        W, cut = cut_to_dag(W)
    return DagmaResult(W, float(model.h_final), float(model.score_final), cut)


def make_dagma(hparams: dict[str, Any]) -> Any:
    """Factory of the "science" family: ``factory(hparams) -> fit(X) -> DagmaResult``."""
    h = dict(hparams)

    def run(X: np.ndarray) -> DagmaResult:
        return dagma_linear(X, **h)

    return run


DAGMA_SPEC = MethodSpec(
    name="dagma",
    family="science",
    factory="optarena.science.dag.dagma_baseline:make_dagma",
    summary="DAGMA (authors' PyPI package, linear l2): log-det acyclicity on M-matrices, central path",
    search_space=SearchSpace(
        params=(
            Param("lambda1", 1e-3, 0.3, log=True),
            Param("w_threshold", 0.05, 0.5),
        ),
    ),
    defaults={"lambda1": 0.03, "w_threshold": 0.3},
    paper=PaperRef(
        "K. Bello, B. Aragam, P. Ravikumar",
        "DAGMA: Learning DAGs via M-matrices and a Log-Determinant Acyclicity Characterization",
        "NeurIPS",
        2022,
        "2209.08037",
    ),
    capabilities=frozenset({"dag", "linear-sem", "baseline"}),
    status="experimental",
)
