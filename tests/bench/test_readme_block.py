from __future__ import annotations

import pytest

from optarena.bench.readme_block import replace_block

B, E = "<!-- x:begin -->", "<!-- x:end -->"


def test_appends_once_then_replaces_in_place(tmp_path) -> None:
    p = tmp_path / "README.md"
    p.write_text("# T\n\nbody\n\n## Later\n")
    replace_block(p, B, E, f"{B}\none\n{E}", "## Gen")
    assert p.read_text() == f"# T\n\nbody\n\n## Later\n\n## Gen\n\n{B}\none\n{E}\n"
    replace_block(p, B, E, f"{B}\ntwo\n{E}\n", "## Gen")
    assert p.read_text() == f"# T\n\nbody\n\n## Later\n\n## Gen\n\n{B}\ntwo\n{E}\n"


def test_block_without_its_markers_is_refused(tmp_path) -> None:
    p = tmp_path / "README.md"
    p.write_text("x\n")
    with pytest.raises(ValueError, match="must start with"):
        replace_block(p, B, E, "no markers", "## Gen")
    assert p.read_text() == "x\n"
