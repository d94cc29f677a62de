"""Generated blocks in a markdown file (the README): text between a begin and an end marker line,
replaced in place on every regeneration, never duplicated."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["replace_block"]


def replace_block(path: str | Path, begin: str, end: str, block: str, heading: str) -> None:
    """Put ``block`` (which starts with ``begin`` and ends with ``end``) in place of the file's block
    between those markers, or append it under ``heading`` when the file has none."""
    if not (block.startswith(begin) and block.rstrip("\n").endswith(end)):
        raise ValueError(f"the block must start with {begin!r} and end with {end!r}")
    path = Path(path)
    body = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(body):
        body = pattern.sub(lambda _: block.rstrip("\n"), body, count=1)
    else:
        body = body.rstrip("\n") + f"\n\n{heading}\n\n" + block.rstrip("\n") + "\n"
    path.write_text(body, encoding="utf-8")
