"""OptArena: modern optimization methods from recent papers, their headline claims checked at small
scale, and a fair benchmark harness with the AlgoPerf rules.

Importing ``optarena`` is cheap: torch and the methods load only when used.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
