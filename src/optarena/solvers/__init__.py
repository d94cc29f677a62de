"""Solvers for constrained, bilevel, black-box and full-batch problems."""
