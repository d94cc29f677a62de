"""Registry entries (family ``"preference"``) of the preference losses.

A preference factory answers ``factory(hparams) -> loss`` where ``loss`` is the loss function of
:mod:`optarena.preference.losses` with the hyperparameters bound: ``loss(policy_chosen_logps,
policy_rejected_logps, chosen_mask, rejected_mask, ref_chosen_logps=None, ref_rejected_logps=None)
-> (loss, metrics)``. Capabilities: ``"uses-reference"`` (needs reference log-probs) or
``"reference-free"``; ``"log2-at-reference"`` (the loss equals log 2 when policy == reference).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.preference import losses

__all__ = [
    "CODPO_SPEC",
    "DPO_SPEC",
    "IPO_SPEC",
    "PREFERENCE_SPECS",
    "RPO_SPEC",
    "RRHF_SPEC",
    "SIMPO_SPEC",
    "make_codpo",
    "make_dpo",
    "make_ipo",
    "make_rpo",
    "make_rrhf",
    "make_simpo",
]

LossFn = Callable[..., Any]


def _bind(fn: LossFn, spec_name: str, hparams: Mapping[str, Any] | None) -> LossFn:
    spec = {s.name: s for s in PREFERENCE_SPECS}[spec_name]
    bound = functools.partial(fn, **spec.resolve_hparams(hparams))
    functools.update_wrapper(bound, fn)
    return bound


def make_dpo(hparams: Mapping[str, Any] | None = None) -> LossFn:
    return _bind(losses.dpo_loss, "dpo", hparams)


def make_ipo(hparams: Mapping[str, Any] | None = None) -> LossFn:
    return _bind(losses.ipo_loss, "ipo", hparams)


def make_simpo(hparams: Mapping[str, Any] | None = None) -> LossFn:
    return _bind(losses.simpo_loss, "simpo", hparams)


def make_rpo(hparams: Mapping[str, Any] | None = None) -> LossFn:
    return _bind(losses.rpo_loss, "rpo", hparams)


def make_rrhf(hparams: Mapping[str, Any] | None = None) -> LossFn:
    return _bind(losses.rrhf_loss, "rrhf", hparams)


def make_codpo(hparams: Mapping[str, Any] | None = None) -> LossFn:
    return _bind(losses.codpo_loss, "codpo", hparams)


_DPO_PAPER = PaperRef(
    "R. Rafailov, A. Sharma, E. Mitchell, S. Ermon, C. D. Manning, C. Finn",
    "Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
    "NeurIPS",
    2023,
    "2305.18290",
)

DPO_SPEC = MethodSpec(
    name="dpo",
    family="preference",
    factory="optarena.preference.specs:make_dpo",
    summary="DPO, logistic loss on the policy/reference log-ratio gap",
    search_space=SearchSpace((Param("beta", 0.01, 1.0, log=True),)),
    defaults={"beta": 0.1},
    paper=_DPO_PAPER,
    capabilities=frozenset({"uses-reference", "log2-at-reference"}),
)

IPO_SPEC = MethodSpec(
    name="ipo",
    family="preference",
    factory="optarena.preference.specs:make_ipo",
    summary="IPO, squared regression of the log-ratio gap onto 1/(2 tau)",
    search_space=SearchSpace(
        (Param("tau", 0.01, 1.0, log=True), Param("length_normalize", choices=(False, True)))
    ),
    defaults={"tau": 0.1, "length_normalize": False},
    paper=PaperRef(
        "M. G. Azar, M. Rowland, B. Piot, D. Guo, D. Calandriello, M. Valko, R. Munos",
        "A General Theoretical Paradigm to Understand Learning from Human Preferences",
        "AISTATS",
        2024,
        "2310.12036",
    ),
    capabilities=frozenset({"uses-reference"}),
)

SIMPO_SPEC = MethodSpec(
    name="simpo",
    family="preference",
    factory="optarena.preference.specs:make_simpo",
    summary="SimPO, reference-free length-normalised reward with target margin gamma",
    search_space=SearchSpace((Param("beta", 0.5, 10.0, log=True), Param("gamma", 0.0, 3.0))),
    defaults={"beta": 2.5, "gamma": 1.375},
    paper=PaperRef(
        "Y. Meng, M. Xia, D. Chen",
        "SimPO: Simple Preference Optimization with a Reference-Free Reward",
        "NeurIPS",
        2024,
        "2405.14734",
    ),
    capabilities=frozenset({"reference-free"}),
)

RPO_SPEC = MethodSpec(
    name="rpo",
    family="preference",
    factory="optarena.preference.specs:make_rpo",
    summary="RPO, DPO plus eta*beta times the chosen-response NLL (summed or token-mean)",
    search_space=SearchSpace(
        (
            Param("beta", 0.005, 1.0, log=True),
            Param("eta", 1e-4, 100.0, log=True),
            Param("nll", choices=("sum", "token_mean")),
        )
    ),
    defaults={"beta": 0.01, "eta": 0.005, "nll": "sum"},
    paper=PaperRef(
        "Z. Liu, M. Lu, S. Zhang, B. Liu, H. Guo, Y. Yang, J. Blanchet, Z. Wang",
        "Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an Adversarial Regularizer",
        "NeurIPS",
        2024,
        "2405.16436",
    ),
    capabilities=frozenset({"uses-reference"}),
)

RRHF_SPEC = MethodSpec(
    name="rrhf",
    family="preference",
    factory="optarena.preference.specs:make_rrhf",
    summary="RRHF, ranking hinge on length-normalised log-probs plus SFT on the best response",
    search_space=SearchSpace(
        (
            Param("length_penalty", 0.0, 2.0),
            Param("rank_weight", 0.1, 100.0, log=True),
            Param("sft_weight", 0.0, 2.0),
        )
    ),
    defaults={"length_penalty": 1.0, "rank_weight": 1.0, "sft_weight": 1.0},
    paper=PaperRef(
        "Z. Yuan, H. Yuan, C. Tan, W. Wang, S. Huang, F. Huang",
        "RRHF: Rank Responses to Align Language Models with Human Feedback without tears",
        "NeurIPS",
        2023,
        "2304.05302",
    ),
    capabilities=frozenset({"reference-free"}),
)

CODPO_SPEC = MethodSpec(
    name="codpo",
    family="preference",
    factory="optarena.preference.specs:make_codpo",
    summary="CODPO (CGPO), DPO plus the length-normalised chosen NLL",
    search_space=SearchSpace((Param("beta", 0.01, 1.0, log=True), Param("lam", 0.0, 5.0))),
    defaults={"beta": 0.1, "lam": 1.0},
    paper=PaperRef(
        "T. Xu, E. Helenowski, K. A. Sankararaman, D. Jin, K. Peng, E. Han, S. Nie, C. Zhu, H. Zhang, "
        "W. Zhou, Z. Zeng, Y. He, K. Mandyam, A. Talabzadeh, M. Khabsa, G. Cohen, Y. Tian, H. Ma, "
        "S. Wang, H. Fang",
        "The Perfect Blend: Redefining RLHF with Mixture of Judges",
        "arXiv",
        2024,
        "2409.20370",
    ),
    capabilities=frozenset({"uses-reference"}),
)

PREFERENCE_SPECS: tuple[MethodSpec, ...] = (DPO_SPEC, IPO_SPEC, SIMPO_SPEC, RPO_SPEC, RRHF_SPEC, CODPO_SPEC)
