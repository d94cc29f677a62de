"""What runs inside an executor's worker: apply the driver's runtime registrations, run one trial.

Imported by the forkserver at start (``torch`` included), so forking a trial costs milliseconds.
"""

from __future__ import annotations

from typing import Any

import torch

from optarena import registry
from optarena.bench.trial import run_trial
from optarena.core.types import EvalPoint, TrialSpec

__all__ = ["apply_registrations", "execute", "warm_up"]


def warm_up() -> None:
    """Pay one-time import costs once, in the forkserver, instead of in every trial: the first
    ``torch.optim`` construction imports about a second of modules; scipy and sklearn load data code."""
    import scipy.optimize  # noqa: F401
    import sklearn.datasets  # noqa: F401

    p = torch.nn.Parameter(torch.zeros(2))
    p.grad = torch.ones(2)
    for opt in (torch.optim.SGD([p], lr=0.1), torch.optim.AdamW([p]), torch.optim.NAdam([p])):
        opt.step()


warm_up()


def apply_registrations(entries: list[dict[str, Any]]) -> None:
    """Replay the driver's runtime registrations (plugins added with ``register_*``) in this process."""
    for e in entries:
        registry.apply_entry(e)


def execute(spec_dict: dict[str, Any], entries: list[dict[str, Any]], send: Any = None) -> dict[str, Any]:
    """Run one trial; ``send(("eval", point_dict))`` streams evals as they happen when given."""
    apply_registrations(entries)
    spec = TrialSpec.from_dict(spec_dict)

    def on_eval(p: EvalPoint) -> None:
        if send is not None:
            send(("eval", {"step": p.step, "time": p.time, "metrics": dict(p.metrics)}))

    return run_trial(spec, on_eval=on_eval).to_dict()
