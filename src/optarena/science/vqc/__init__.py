"""Variational quantum classifier (exact numpy statevector) and local optimizers: AQGD vs COBYLA, SPSA, Adam."""

from optarena.science.vqc.api import VQC
from optarena.science.vqc.circuits import ansatz_unitary, feature_states, label_mask, n_ansatz_params
from optarena.science.vqc.data import breast_cancer_pca
from optarena.science.vqc.model import BudgetExhausted, VQCObjective, class1_probability, cross_entropy
from optarena.science.vqc.optimizers import OPTIMIZERS, VQCOptResult, adam, aqgd, cobyla, spsa

__all__ = [
    "OPTIMIZERS",
    "VQC",
    "BudgetExhausted",
    "VQCObjective",
    "VQCOptResult",
    "adam",
    "ansatz_unitary",
    "aqgd",
    "breast_cancer_pca",
    "class1_probability",
    "cobyla",
    "cross_entropy",
    "feature_states",
    "label_mask",
    "n_ansatz_params",
    "spsa",
]
