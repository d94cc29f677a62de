"""Names -> import strings. Listing never imports a method or a workload; ``resolve`` does.

Built-in entries live in the tables below. Plugins register through the entry-point groups
``optarena.methods`` and ``optarena.workloads``: an entry ``name = "pkg.module:OBJECT"`` where OBJECT
is a :class:`~optarena.core.MethodSpec` or a :class:`~optarena.workloads.base.Workload` subclass.
At runtime, :func:`register_method` / :func:`register_workload` add entries (tests use them); a
duplicate name raises. ``OPTARENA_PLUGINS="pkg.module:register,..."`` names registration functions
that every process (the CLI, executor workers) runs before its first lookup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal

from optarena.core.errors import UnknownNameError
from optarena.core.spec import MethodSpec, load_object

if TYPE_CHECKING:
    from optarena.workloads.base import Workload

__all__ = [
    "Entry",
    "list_methods",
    "list_workloads",
    "register_method",
    "register_workload",
    "resolve_method",
    "resolve_workload",
    "unregister",
]

Kind = Literal["method", "workload"]


@dataclass(frozen=True)
class Entry:
    """A registry row: enough to list a name without importing it."""

    name: str
    kind: Kind
    target: str  # "package.module:attr"
    family: str  # method family, or "workload"
    summary: str
    source: str = "builtin"


_M = "optarena.optim.baselines"
_BUILTIN_METHODS = [
    Entry("adamw", "method", f"{_M}:ADAMW", "torch-optimizer", "AdamW, decoupled weight decay (torch.optim)"),
    Entry("nadamw", "method", f"{_M}:NADAMW", "torch-optimizer", "NAdam with decoupled weight decay (torch)"),
    Entry("sgd-heavyball", "method", f"{_M}:SGD_HEAVYBALL", "torch-optimizer", "SGD, heavy-ball momentum"),
    Entry("sgd-nesterov", "method", f"{_M}:SGD_NESTEROV", "torch-optimizer", "SGD, Nesterov momentum"),
    Entry("lbfgs", "method", "optarena.solvers.scipy_lbfgs:LBFGS", "minimizer", "scipy L-BFGS-B, full batch"),
    Entry(
        "lion",
        "method",
        "optarena.optim.lion:LION",
        "torch-optimizer",
        "Lion, sign of interpolated momentum with decoupled weight decay",
    ),
    Entry(
        "adabelief",
        "method",
        "optarena.optim.adabelief:ADABELIEF",
        "torch-optimizer",
        "AdaBelief, Adam with the belief (g - m)^2 as second moment",
    ),
    Entry(
        "exadam",
        "method",
        "optarena.optim.exadam:EXADAM",
        "torch-optimizer",
        "EXAdam: Adam with adaptive cross-moment debiasing (paper v2 / author's code)",
    ),
    Entry(
        "soap",
        "method",
        "optarena.optim.soap:SOAP_SPEC",
        "torch-optimizer",
        "SOAP: Adam in the eigenbasis of Shampoo's preconditioner (refreshed by one QR step every f)",
    ),
    Entry(
        "cosmos",
        "method",
        "optarena.optim.cosmos:COSMOS_SPEC",
        "torch-optimizer",
        "COSMOS: SOAP-like Adam on a rank-r gradient eigensubspace + Muon on the rest, AdamW elsewhere",
    ),
    Entry(
        "frugal",
        "method",
        "optarena.optim.frugal:FRUGAL_SPEC",
        "torch-optimizer",
        "FRUGAL: Adam on a low-dimensional state-full subspace + signSGD on the rest (AdamW elsewhere)",
    ),
    Entry(
        "hesso",
        "method",
        "optarena.optim.hesso:HESSO_SPEC",
        "torch-optimizer",
        "HESSO: SGD-momentum plus progressive shrinking of 50% of the channel groups to exact zero "
        "(chains of Linear/Conv2d layers)",
    ),
    Entry(
        "mfac",
        "method",
        "optarena.optim.mfac:MFAC_SPEC",
        "torch-optimizer",
        "M-FAC: SGD preconditioned by the matrix-free inverse empirical Fisher of the last m gradients",
    ),
    Entry(
        "muon",
        "method",
        "optarena.optim.muon:MUON",
        "torch-optimizer",
        "Muon (Newton-Schulz orthogonalized momentum) on hidden matrices + AdamW on the rest",
    ),
    Entry(
        "exact-al",
        "method",
        "optarena.solvers.constrained.specs:EXACT_AL_SPEC",
        "constrained",
        "adaptive Newton on the exact augmented Lagrangian, exact linear solve (Hong et al. 2023)",
    ),
    Entry(
        "exact-al-kaczmarz",
        "method",
        "optarena.solvers.constrained.specs:EXACT_AL_KACZMARZ_SPEC",
        "constrained",
        "AdaSketch-Newton: exact augmented Lagrangian, Newton system by randomized Kaczmarz",
    ),
    Entry(
        "exact-al-gaussian",
        "method",
        "optarena.solvers.constrained.specs:EXACT_AL_GAUSSIAN_SPEC",
        "constrained",
        "AdaSketch-Newton: exact augmented Lagrangian, Newton system by Gaussian sketching",
    ),
    Entry(
        "slsqp",
        "method",
        "optarena.solvers.constrained.specs:SLSQP_SPEC",
        "constrained",
        "scipy SLSQP (sequential least squares QP)",
    ),
    Entry(
        "trust-constr",
        "method",
        "optarena.solvers.constrained.specs:TRUST_CONSTR_SPEC",
        "constrained",
        "scipy trust-constr (Byrd-Omojokun SQP / interior point)",
    ),
    Entry(
        "ipopt",
        "method",
        "optarena.solvers.constrained.specs:IPOPT_SPEC",
        "constrained",
        "IPOPT interior point via cyipopt (optional extra)",
    ),
    Entry(
        "dpo",
        "method",
        "optarena.preference.specs:DPO_SPEC",
        "preference",
        "DPO, logistic loss on the policy/reference log-ratio gap",
    ),
    Entry(
        "ipo",
        "method",
        "optarena.preference.specs:IPO_SPEC",
        "preference",
        "IPO, squared regression of the log-ratio gap onto 1/(2 tau)",
    ),
    Entry(
        "simpo",
        "method",
        "optarena.preference.specs:SIMPO_SPEC",
        "preference",
        "SimPO, reference-free length-normalised reward with target margin gamma",
    ),
    Entry(
        "rpo",
        "method",
        "optarena.preference.specs:RPO_SPEC",
        "preference",
        "RPO, DPO plus eta*beta times the chosen-response NLL (summed or token-mean)",
    ),
    Entry(
        "rrhf",
        "method",
        "optarena.preference.specs:RRHF_SPEC",
        "preference",
        "RRHF, ranking hinge on length-normalised log-probs plus SFT on the best response",
    ),
    Entry(
        "codpo",
        "method",
        "optarena.preference.specs:CODPO_SPEC",
        "preference",
        "CODPO (CGPO), DPO plus the length-normalised chosen NLL",
    ),
    Entry(
        "apo",
        "method",
        "optarena.preference.apo:APO_SPEC",
        "preference",
        "APO, iterative DPO with a Nesterov extrapolation of the policy after each round",
    ),
    Entry(
        "constrained-rlhf",
        "method",
        "optarena.preference.constrained_rlhf:CONSTRAINED_RLHF_SPEC",
        "preference",
        "Constrained RLHF, Lagrange multipliers hold component rewards at their proxy points",
    ),
    Entry(
        "cgpo-crpg",
        "method",
        "optarena.preference.cgpo:CGPO_CRPG_SPEC",
        "preference",
        "CGPO CRPG, policy gradient on a calibrated reward, zero weight outside the judges' region",
    ),
    Entry(
        "cgpo-codpo",
        "method",
        "optarena.preference.cgpo:CGPO_CODPO_SPEC",
        "preference",
        "CGPO CODPO, online DPO+NLL on (best accepted, worst violating) sample pairs",
    ),
    Entry(
        "cgpo-crraft",
        "method",
        "optarena.preference.cgpo:CGPO_CRRAFT_SPEC",
        "preference",
        "CGPO CRRAFT, SFT on the best sample that every judge accepts",
    ),
    Entry(
        "bo-ei",
        "method",
        "optarena.solvers.blackbox.specs:BO_EI_SPEC",
        "blackbox",
        "GP (Matern 5/2 ARD, ML hyperparameters) Bayesian optimization with expected improvement",
    ),
    Entry(
        "bo-kg",
        "method",
        "optarena.solvers.blackbox.specs:BO_KG_SPEC",
        "blackbox",
        "GP Bayesian optimization with the discretized knowledge gradient",
    ),
    Entry(
        "random-search",
        "method",
        "optarena.solvers.blackbox.specs:RANDOM_SEARCH_SPEC",
        "blackbox",
        "Uniform random search (floor)",
    ),
    Entry(
        "sobol-search",
        "method",
        "optarena.solvers.blackbox.specs:SOBOL_SEARCH_SPEC",
        "blackbox",
        "Scrambled Sobol sequence (floor)",
    ),
    Entry(
        "optuna-tpe",
        "method",
        "optarena.solvers.blackbox.specs:OPTUNA_TPE_SPEC",
        "blackbox",
        "Optuna's TPE sampler with its defaults (baseline; needs optuna)",
    ),
    Entry(
        "optuna-gp",
        "method",
        "optarena.solvers.blackbox.specs:OPTUNA_GP_SPEC",
        "blackbox",
        "Optuna's GP sampler with its defaults (baseline; needs optuna and torch)",
    ),
    Entry(
        "zo-ranksgd",
        "method",
        "optarena.solvers.blackbox.specs:ZO_RANKSGD_SPEC",
        "blackbox",
        "ZO-RankSGD: rank-based zeroth-order descent with a rank line search (sees only rankings)",
    ),
    Entry(
        "zo-sgd",
        "method",
        "optarena.solvers.blackbox.specs:ZO_SGD_SPEC",
        "blackbox",
        "ZO-SGD with the two-point Gaussian estimator (values), optional line search",
    ),
    Entry(
        "cma-es",
        "method",
        "optarena.solvers.blackbox.specs:CMA_ES_SPEC",
        "blackbox",
        "CMA-ES via the cma package (baseline; needs cma)",
    ),
    Entry(
        "botorch-logei",
        "method",
        "optarena.solvers.blackbox.specs:BOTORCH_LOGEI_SPEC",
        "blackbox",
        "BoTorch's SingleTaskGP (its defaults) with LogEI, qLogNEI when noisy (baseline; needs botorch)",
    ),
    Entry(
        "lv-hba",
        "method",
        "optarena.solvers.bilevel.specs:LVHBA_SPEC",
        "bilevel",
        "LV-HBA: single-loop Hessian-free bilevel method with lower-level constraints",
    ),
    Entry(
        "bilevel-penalty",
        "method",
        "optarena.solvers.bilevel.specs:PENALTY_SPEC",
        "bilevel",
        "Penalty method for bilevel problems (sigma F + f), deterministic or stochastic",
    ),
    Entry(
        "implicit-cg",
        "method",
        "optarena.solvers.bilevel.specs:IMPLICIT_CG_SPEC",
        "bilevel",
        "Implicit-gradient bilevel baseline (CG hypergradient with Hessian-vector products)",
    ),
    Entry(
        "sso",
        "method",
        "optarena.solvers.surrogate:SSO_SPEC",
        "minimizer",
        "Target-based surrogates: m Armijo-SGD steps on a target-space surrogate per expensive gradient",
    ),
    Entry(
        "l2r-tsallis-inf",
        "method",
        "optarena.solvers.relax:TSALLIS_INF_SPEC",
        "science",
        "Tsallis-INF bandit over SOR's omega across a sequence of linear systems",
    ),
    Entry(
        "l2r-tsallis-inf-cb",
        "method",
        "optarena.solvers.relax:TSALLIS_INF_CB_SPEC",
        "science",
        "contextual Tsallis-INF (binned diagonal shift) over SOR's omega",
    ),
    Entry(
        "l2r-chebcb",
        "method",
        "optarena.solvers.relax:CHEB_CB_SPEC",
        "science",
        "ChebCB: SquareCB with per-arm Chebyshev regression on the diagonal shift, over SOR's omega",
    ),
    Entry(
        "reinforce",
        "method",
        "optarena.solvers.policy_gradient:REINFORCE_SPEC",
        "science",
        "REINFORCE (Williams 1992), minibatch, constant step",
    ),
    Entry(
        "gpomdp",
        "method",
        "optarena.solvers.policy_gradient:GPOMDP_SPEC",
        "science",
        "GPOMDP (Baxter & Bartlett 2001), minibatch, constant step",
    ),
    Entry(
        "n-pg-igt",
        "method",
        "optarena.solvers.policy_gradient:N_PG_IGT_SPEC",
        "science",
        "normalized PG with implicit gradient transport (one trajectory per step)",
    ),
    Entry(
        "harpg",
        "method",
        "optarena.solvers.policy_gradient:HARPG_SPEC",
        "science",
        "Hessian-aided recursive PG, unnormalized (two trajectories per step)",
    ),
    Entry(
        "n-harpg",
        "method",
        "optarena.solvers.policy_gradient:N_HARPG_SPEC",
        "science",
        "normalized Hessian-aided recursive PG (two trajectories per step)",
    ),
    Entry(
        "topo",
        "method",
        "optarena.science.dag.topo:TOPO_SPEC",
        "science",
        "TOPO, bilevel search over topological orders by gradient-guided swaps for linear DAG learning",
    ),
    Entry(
        "dagma",
        "method",
        "optarena.science.dag.dagma_baseline:DAGMA_SPEC",
        "science",
        "DAGMA (authors' PyPI package, linear l2): log-det acyclicity on M-matrices, central path",
    ),
    Entry(
        "gradsign",
        "method",
        "optarena.science.zerocost.specs:GRADSIGN_SPEC",
        "science",
        "GradSign zero-cost NAS proxy: sum_k |sum_i sign(per-sample gradient_ik)| at initialization",
    ),
    Entry(
        "usf-search",
        "method",
        "optarena.science.diffusion.specs:USF_SEARCH_SPEC",
        "science",
        "USF / S^3: predictor-guided evolutionary search of per-step diffusion ODE solver choices",
    ),
    Entry(
        "dpm-solver-pp-2m",
        "method",
        "optarena.science.diffusion.specs:DPM_SOLVER_PP_2M_SPEC",
        "science",
        "DPM-Solver++(2M): multistep 2nd-order data-prediction exponential integrator (baseline)",
    ),
    Entry(
        "fewshot-bound",
        "method",
        "optarena.science.fewshot.specs:FEWSHOT_BOUND_SPEC",
        "science",
        "Transductive few-shot by clustering: bound optimizer for prototype + Laplacian (lam = 0: K-means)",
    ),
    Entry(
        "nearest-prototype",
        "method",
        "optarena.science.fewshot.specs:NEAREST_PROTOTYPE_SPEC",
        "science",
        "Inductive few-shot baseline: nearest support-class mean (SimpleShot / ProtoNet rule)",
    ),
    Entry(
        "aqgd",
        "method",
        "optarena.science.vqc.specs:AQGD_SPEC",
        "science",
        "AQGD: parameter-shift gradient descent with momentum for a VQC (qiskit-aqua 0.8 rules)",
    ),
    Entry(
        "vqc-cobyla",
        "method",
        "optarena.science.vqc.specs:VQC_COBYLA_SPEC",
        "science",
        "COBYLA (scipy) training a VQC at an evaluation budget",
    ),
    Entry(
        "vqc-spsa",
        "method",
        "optarena.science.vqc.specs:VQC_SPSA_SPEC",
        "science",
        "SPSA with qiskit-aqua's step calibration training a VQC",
    ),
    Entry(
        "vqc-adam",
        "method",
        "optarena.science.vqc.specs:VQC_ADAM_SPEC",
        "science",
        "Adam on exact chain-rule parameter-shift gradients training a VQC",
    ),
    Entry(
        "lightsb",
        "method",
        "optarena.science.lightsb.specs:LIGHTSB_SPEC",
        "science",
        "LightSB: Schrodinger bridge with a Gaussian-mixture potential, closed-form plan and drift",
    ),
    Entry(
        "mogfn",
        "method",
        "optarena.science.mogfn.specs:MOGFN_SPEC",
        "science",
        "MOGFN-PC: preference-conditional GFlowNet (trajectory balance) for multi-objective generation",
    ),
    Entry(
        "softdist-search",
        "method",
        "optarena.science.tsp.specs:HEATMAP_SEARCH_SPEC",
        "science",
        "SoftDist heatmap + heatmap-guided 2-opt/Or-opt local search for the TSP (MCTS simplification)",
    ),
    Entry(
        "lkh3",
        "method",
        "optarena.science.tsp.specs:LKH_SPEC",
        "science",
        "LKH-3 (elkai, optional extra 'tsp', non-commercial licence) with a time limit",
    ),
]

_W = "optarena.workloads"
_BUILTIN_WORKLOADS = [
    Entry("quad", "workload", f"{_W}.quad:QuadWorkload", "workload", "noisy ill-conditioned least squares"),
    Entry(
        "logreg",
        "workload",
        f"{_W}.logreg:LogRegWorkload",
        "workload",
        "L2 logistic regression, breast_cancer",
    ),
    Entry(
        "digits-mlp", "workload", f"{_W}.digits_mlp:DigitsMLPWorkload", "workload", "MLP on sklearn digits"
    ),
    Entry(
        "digits-mlp-tanh",
        "workload",
        f"{_W}.digits_mlp:DigitsMLPTanhWorkload",
        "workload",
        "held-out variant of digits-mlp (tanh)",
    ),
    Entry(
        "teacher",
        "workload",
        f"{_W}.teacher:TeacherWorkload",
        "workload",
        "teacher -> student MLP, noisy labels",
    ),
    Entry(
        "charlm", "workload", f"{_W}.charlm:CharLMWorkload", "workload", "character transformer, pydoc text"
    ),
    Entry(
        "icl-lsa",
        "workload",
        f"{_W}.icl_lsa:ICLLSAWorkload",
        "workload",
        "linear self-attention, in-context LR",
    ),
    Entry("hs6", "workload", f"{_W}.constrained:HS6", "workload", "Hock-Schittkowski 6: n=2, one equality"),
    Entry("hs7", "workload", f"{_W}.constrained:HS7", "workload", "Hock-Schittkowski 7: n=2, one equality"),
    Entry(
        "hs28",
        "workload",
        f"{_W}.constrained:HS28",
        "workload",
        "Hock-Schittkowski 28: n=3, one linear equality",
    ),
    Entry(
        "hs40",
        "workload",
        f"{_W}.constrained:HS40",
        "workload",
        "Hock-Schittkowski 40: n=4, three equalities",
    ),
    Entry(
        "hs71",
        "workload",
        f"{_W}.constrained:HS71",
        "workload",
        "Hock-Schittkowski 71: n=4, equality, inequality and bounds",
    ),
    Entry(
        "maratos",
        "workload",
        f"{_W}.constrained:MARATOS",
        "workload",
        "scipy's Maratos problem: n=2, one equality (circle)",
    ),
    Entry(
        "clogreg-cancer",
        "workload",
        f"{_W}.constrained:CLOGREG",
        "workload",
        "logistic regression on breast_cancer with 10 random linear equalities and one quadratic constraint",
    ),
    Entry(
        "branin",
        "workload",
        f"{_W}.blackbox:BraninWorkload",
        "workload",
        "Branin on [-5, 10] x [0, 15] (three minimizers), 50 evaluations, simple regret",
    ),
    Entry(
        "hartmann6",
        "workload",
        f"{_W}.blackbox:Hartmann6Workload",
        "workload",
        "Hartmann6 on [0, 1]^6, 100 evaluations, simple regret",
    ),
    Entry(
        "lvhba-toy",
        "workload",
        f"{_W}.bilevel:LVHBAToyWorkload",
        "workload",
        "LV-HBA's coupled-constraint toy: x in R^100, y in R^200, known solution, relative error of x",
    ),
    Entry(
        "ridge-tuning",
        "workload",
        f"{_W}.bilevel:RidgeTuningWorkload",
        "workload",
        "ridge-penalty tuning on a validation split (x = log lambda), known solution, |x - x*|",
    ),
    Entry(
        "logreg-target",
        "workload",
        f"{_W}.target:LogRegTargetWorkload",
        "workload",
        "logistic regression on make_classification (n=1000, d=20) through its targets (for SSO), "
        "loss gap vs expensive gradients",
    ),
]

_runtime: dict[Kind, dict[str, Entry]] = {"method": {}, "workload": {}}


@cache
def _plugins(kind: Kind) -> tuple[Entry, ...]:
    group = "optarena.methods" if kind == "method" else "optarena.workloads"
    out = []
    for ep in entry_points(group=group):
        dist = ep.dist.name if ep.dist is not None else "?"
        family = "plugin" if kind == "method" else "workload"
        out.append(Entry(ep.name, kind, ep.value, family, f"plugin from {dist}", source=dist))
    return tuple(out)


_env_loaded = False


def _env_plugins() -> None:
    """Run the registration hooks named in ``OPTARENA_PLUGINS`` ("module:function,..."), once."""
    global _env_loaded
    if _env_loaded:
        return
    _env_loaded = True  # set first: the hooks call back into the registry
    for target in filter(None, (t.strip() for t in os.environ.get("OPTARENA_PLUGINS", "").split(","))):
        load_object(target)()


def _table(kind: Kind) -> dict[str, Entry]:
    _env_plugins()
    builtin = _BUILTIN_METHODS if kind == "method" else _BUILTIN_WORKLOADS
    table = {e.name: e for e in builtin}
    for e in _plugins(kind):
        table.setdefault(e.name, e)  # a plugin cannot shadow a built-in name
    table.update(_runtime[kind])
    return table


def list_methods() -> list[Entry]:
    return sorted(_table("method").values(), key=lambda e: e.name)


def list_workloads() -> list[Entry]:
    return sorted(_table("workload").values(), key=lambda e: e.name)


def _entry(kind: Kind, name: str) -> Entry:
    table = _table(kind)
    if name not in table:
        raise UnknownNameError(kind, name, list(table))
    return table[name]


def resolve_method(name: str) -> MethodSpec:
    """Import and return the MethodSpec registered as ``name``."""
    obj = load_object(_entry("method", name).target)
    if not isinstance(obj, MethodSpec):
        raise TypeError(f"method {name!r} points to {type(obj).__name__}, not a MethodSpec")
    if obj.name != name:
        raise ValueError(f"method registered as {name!r} has spec name {obj.name!r}")
    return obj


def resolve_workload(name: str) -> Workload:
    """Import the workload class registered as ``name`` and return an instance."""
    from optarena.workloads.base import Workload

    obj = load_object(_entry("workload", name).target)
    workload = obj() if isinstance(obj, type) else obj
    if not isinstance(workload, Workload):
        raise TypeError(f"workload {name!r} points to {obj!r}, not a Workload")
    if workload.id != name:
        raise ValueError(f"workload registered as {name!r} has id {workload.id!r}")
    return workload


def _register(kind: Kind, entry: Entry, replace: bool) -> None:
    if entry.name in _table(kind) and not replace:
        raise ValueError(f"{kind} {entry.name!r} is already registered ({_table(kind)[entry.name].target})")
    _runtime[kind][entry.name] = entry


def register_method(spec_target: str, *, replace: bool = False) -> MethodSpec:
    """Register a MethodSpec given as ``"module:SPEC"`` (importable by worker processes too)."""
    spec = load_object(spec_target)
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"{spec_target} is not a MethodSpec")
    _register(
        "method", Entry(spec.name, "method", spec_target, spec.family, spec.summary, "runtime"), replace
    )
    return spec


def register_workload(target: str, *, replace: bool = False) -> Any:
    """Register a Workload class given as ``"module:Class"``."""
    cls = load_object(target)
    _register("workload", Entry(cls.id, "workload", target, "workload", cls.summary, "runtime"), replace)
    return cls


def unregister(kind: Kind, name: str) -> None:
    _runtime[kind].pop(name, None)


def runtime_entries() -> list[dict[str, str]]:
    """Runtime registrations, as plain dicts an executor sends to its workers."""
    _env_plugins()
    return [e.__dict__.copy() for kind in _runtime.values() for e in kind.values()]


def apply_entry(entry: dict[str, str]) -> None:
    e = Entry(**entry)  # type: ignore[arg-type]
    _runtime[e.kind][e.name] = e
