"""Training optimizers (``torch.optim.Optimizer`` subclasses) and the baselines from torch.optim."""
