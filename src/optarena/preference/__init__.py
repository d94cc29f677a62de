"""Preference optimization: losses on per-token log-probs (DPO, IPO, SimPO, RPO, RRHF, CODPO), their
registry specs, an offline testbed with a tiny causal transformer (:mod:`.testbed`, imported lazily),
accelerated preference optimization (:mod:`.apo`) and an exact tabular bandit (:mod:`.tabular`)."""

from optarena.preference._logps import PreferenceInputError
from optarena.preference.losses import codpo_loss, dpo_loss, ipo_loss, rpo_loss, rrhf_loss, simpo_loss

__all__ = [
    "PreferenceInputError",
    "codpo_loss",
    "dpo_loss",
    "ipo_loss",
    "rpo_loss",
    "rrhf_loss",
    "simpo_loss",
]
