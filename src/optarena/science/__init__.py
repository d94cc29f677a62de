"""Scientific and combinatorial methods (family "science"): DAG learning (:mod:`optarena.science.dag`),
transductive few-shot learning by clustering (:mod:`optarena.science.fewshot`), optimizers for variational
quantum classifiers (:mod:`optarena.science.vqc`), the Light Schrodinger Bridge
(:mod:`optarena.science.lightsb`), multi-objective GFlowNets (:mod:`optarena.science.mogfn`), heatmap-guided
TSP search with an LKH-3 baseline (:mod:`optarena.science.tsp`), zero-cost NAS proxies with GradSign
(:mod:`optarena.science.zerocost`), solver-schedule search for diffusion samplers (:mod:`optarena.science.diffusion`)."""
