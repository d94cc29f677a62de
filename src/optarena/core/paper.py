"""Bibliographic reference of the paper a method or workload comes from."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PaperRef"]


@dataclass(frozen=True)
class PaperRef:
    """Authors, title, venue and year of a paper, plus its arXiv id when it has one."""

    authors: str
    title: str
    venue: str
    year: int
    arxiv: str | None = None

    def cite(self) -> str:
        arxiv = f", arXiv:{self.arxiv}" if self.arxiv else ""
        return f'{self.authors}, "{self.title}", {self.venue}, {self.year}{arxiv}'
