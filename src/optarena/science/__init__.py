"""Scientific and combinatorial methods (family "science"): DAG learning (:mod:`optarena.science.dag`)."""
