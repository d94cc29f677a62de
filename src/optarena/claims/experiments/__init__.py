"""One module per claim experiment: ``measure(seed, quick, **options) -> dict[str, float]``."""
