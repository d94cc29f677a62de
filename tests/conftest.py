from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from optarena.testing.toys import register_toys

ROOT = Path(__file__).resolve().parents[1]
TOYS_HOOK = "optarena.testing.toys:register_toys"


@pytest.fixture(autouse=True, scope="session")
def _toys() -> None:
    register_toys()


def cli_env() -> dict[str, str]:
    """Environment for a fresh `optarena` process that knows the toy workloads and methods."""
    env = dict(os.environ)
    env["OPTARENA_PLUGINS"] = TOYS_HOOK
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "optarena", *args]
