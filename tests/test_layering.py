"""Dependencies point one way: core <- optim/solvers <- workloads <- bench <- cli."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "optarena"
LAYER = {
    "core": 0,
    "registry": 1,
    "optim": 2,
    "solvers": 2,
    "preference": 2,
    "selection": 2,
    "science": 2,
    "workloads": 3,
    "testing": 4,
    "bench": 4,
    "claims": 5,
    "cli": 6,
    "__main__": 7,
}


def _layer(module: str) -> tuple[str, int] | None:
    parts = module.split(".")
    if parts[0] != "optarena" or len(parts) < 2:
        return None
    return parts[1], LAYER.get(parts[1], 99)


def test_imports_point_one_way():
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        own = _layer(".".join(rel.parts))
        if own is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                dep = _layer(name)
                if (
                    dep
                    and dep[0] != own[0]
                    and dep[1] > own[1]
                    and not (own[0] == "registry" and dep[0] == "workloads")
                ):
                    bad.append(f"{rel}: imports {name}")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)
