"""Sample selection and evaluation for generated solutions (code, math answers).

- :mod:`.estimators`: unbiased pass@k (Chen et al. 2021) and ENAMEL's eff@k with its efficiency
  score (Qiu et al., ICLR 2025).
- :mod:`.aggregate`: best-of-N, majority / weighted vote, step-level beam search, self-refine
  (Liu et al., "Bag of Tricks ...", 2025) and solution-cluster re-ranking (Liu et al. 2023).
- :mod:`.codedpo`: CodeDPO's mutual ranking of codes and tests, and its preference pairs
  (Zhang et al., ACL 2025).
- :mod:`.sandbox`: resource-limited subprocess execution and ENAMEL scoring; :mod:`.problems`:
  four HumanEval problems with efficient references.
- :mod:`.llm`: an OpenAI-compatible client, a scripted client for tests, and
  :func:`~.llm.model_or_inconclusive` for claims that need a model.
- :mod:`.synthetic`: a simulated proposer and noisy verifier.

The submodules import only the standard library and NumPy; nothing here imports torch.
"""

from __future__ import annotations

from optarena.selection.aggregate import (
    BeamResult,
    RefineResult,
    Selection,
    best_of_n,
    cluster_rerank,
    majority_vote,
    rerank,
    select_best,
    self_refine,
    step_beam_search,
    vote,
    weighted_vote,
)
from optarena.selection.codedpo import MutualRank, correctness_pairs, efficiency_pairs, mutual_rank
from optarena.selection.estimators import (
    eff_at_k,
    eff_at_k_weights,
    efficiency_score,
    hodges_lehmann,
    level_efficiency,
    pass_at_k,
)

__all__ = [
    "BeamResult",
    "MutualRank",
    "RefineResult",
    "Selection",
    "best_of_n",
    "cluster_rerank",
    "correctness_pairs",
    "eff_at_k",
    "eff_at_k_weights",
    "efficiency_pairs",
    "efficiency_score",
    "hodges_lehmann",
    "level_efficiency",
    "majority_vote",
    "mutual_rank",
    "pass_at_k",
    "rerank",
    "select_best",
    "self_refine",
    "step_beam_search",
    "vote",
    "weighted_vote",
]
