"""Small inline-SVG plots for the HTML report: no plotting library, no external resources.

Each plot is an ``<svg class="plot" data-plot="...">`` string. Data marks (lines, bands, dots, cells)
carry ``class="mark"`` so the report's self-check can count them, and ``data-m`` (the method's index)
so the legend can toggle a method across plots. Hover text uses SVG ``<title>`` children. Every
string that comes from data goes through :func:`esc`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "PALETTE",
    "Figure",
    "Scale",
    "color",
    "esc",
    "fmt_num",
    "heatmap",
    "linear_ticks",
    "log_ticks",
]

# Okabe-Ito (colour-blind safe) followed by a few Tableau colours for larger method sets.
PALETTE = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#8C6D1F",
    "#000000",
    "#7F3C8D",
    "#11A579",
    "#E73F74",
    "#3969AC",
]
DASHES = ["", "6 3", "2 2", "8 3 2 3"]


def esc(s: object) -> str:
    """HTML/SVG-escape any value (quotes too, so it is safe inside attributes)."""
    return html.escape(str(s), quote=True)


def color(i: int) -> str:
    """Colour of the method with index ``i``."""
    return PALETTE[i % len(PALETTE)]


def dash(i: int) -> str:
    """Dash pattern that tells methods apart once the palette wraps around."""
    return DASHES[(i // len(PALETTE)) % len(DASHES)]


def fmt_num(v: float, digits: int = 4) -> str:
    """A compact number: ``digits`` significant digits, no trailing zeros."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        m, e = f"{v:.{max(digits - 2, 1)}e}".split("e")
        m = m.rstrip("0").rstrip(".")
        return f"{m}e{int(e)}"
    return f"{v:.{digits}g}"


def linear_ticks(lo: float, hi: float, n: int = 5) -> tuple[float, float, list[float]]:
    """Nice ticks covering [lo, hi]: (domain lo, domain hi, ticks)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for mult in (1, 2, 2.5, 5, 10):
        step = mult * mag
        if (hi - lo) / step <= n:
            break
    d_lo = math.floor(lo / step + 1e-9) * step
    d_hi = math.ceil(hi / step - 1e-9) * step
    ticks = [d_lo + k * step for k in range(round((d_hi - d_lo) / step) + 1)]
    return d_lo, d_hi, [0.0 if abs(t) < step * 1e-9 else t for t in ticks]


def log_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    """Decade ticks covering [lo, hi] (both > 0), with 2 and 5 added when the span is short."""
    e_lo = math.floor(math.log10(lo))
    e_hi = math.ceil(math.log10(hi))
    if e_hi == e_lo:
        e_hi += 1
    span = e_hi - e_lo
    stride = max(1, math.ceil(span / 7))
    ticks = [10.0**e for e in range(e_lo, e_hi + 1, stride)]
    if span <= 2:
        ticks = sorted(t * m for t in ticks for m in (1, 2, 5) if t * m <= 10.0**e_hi)
    return 10.0**e_lo, 10.0**e_hi, ticks


@dataclass
class Scale:
    """Map data values in [lo, hi] to pixels in [p0, p1], linearly or in log10."""

    lo: float
    hi: float
    p0: float
    p1: float
    log: bool = False

    def __call__(self, v: float) -> float:
        if self.log:
            v, lo, hi = math.log10(max(v, 1e-300)), math.log10(self.lo), math.log10(self.hi)
        else:
            lo, hi = self.lo, self.hi
        f = (v - lo) / (hi - lo) if hi != lo else 0.5
        return self.p0 + f * (self.p1 - self.p0)


def _p(x: float) -> str:
    return f"{x:.1f}"


def _points(xs: Sequence[float], ys: Sequence[float]) -> str:
    return " ".join(f"{_p(x)},{_p(y)}" for x, y in zip(xs, ys, strict=True))


@dataclass
class Figure:
    """An SVG canvas with a plot area; add axes and marks, then call :meth:`svg`."""

    kind: str
    width: int = 460
    height: int = 300
    left: int = 64
    right: int = 16
    top: int = 30
    bottom: int = 46
    title: str = ""
    label: str = ""  # extra identifying text for data-plot, e.g. the workload
    parts: list[str] = field(default_factory=list)
    n_marks: int = 0

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:
        return self.height - self.bottom

    @property
    def y1(self) -> float:
        return self.top

    def xscale(self, lo: float, hi: float, log: bool = False) -> Scale:
        return Scale(lo, hi, self.x0, self.x1, log)

    def yscale(self, lo: float, hi: float, log: bool = False) -> Scale:
        return Scale(lo, hi, self.y0, self.y1, log)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def mark(self, element: str) -> None:
        """Add a data mark (the element must already carry ``class="mark ..."``)."""
        self.n_marks += 1
        self.parts.append(element)

    def axes(
        self,
        xs: Scale,
        ys: Scale,
        xticks: Sequence[float],
        yticks: Sequence[float],
        xlabel: str,
        ylabel: str,
        xtick_labels: Sequence[str] | None = None,
        ytick_labels: Sequence[str] | None = None,
    ) -> None:
        """Grid, axis lines, tick labels and axis labels."""
        a = self.add
        for i, t in enumerate(yticks):
            y = ys(t)
            a(f'<line class="grid" x1="{_p(self.x0)}" x2="{_p(self.x1)}" y1="{_p(y)}" y2="{_p(y)}"/>')
            lab = ytick_labels[i] if ytick_labels else fmt_num(t, 3)
            a(f'<text class="tick" x="{_p(self.x0 - 6)}" y="{_p(y + 4)}" text-anchor="end">{esc(lab)}</text>')
        for i, t in enumerate(xticks):
            x = xs(t)
            a(f'<line class="grid" x1="{_p(x)}" x2="{_p(x)}" y1="{_p(self.y0)}" y2="{_p(self.y1)}"/>')
            lab = xtick_labels[i] if xtick_labels else fmt_num(t, 3)
            a(f'<text class="tick" x="{_p(x)}" y="{_p(self.y0 + 16)}" text-anchor="middle">{esc(lab)}</text>')
        a(f'<line class="axis" x1="{_p(self.x0)}" x2="{_p(self.x1)}" y1="{_p(self.y0)}" y2="{_p(self.y0)}"/>')
        a(f'<line class="axis" x1="{_p(self.x0)}" x2="{_p(self.x0)}" y1="{_p(self.y0)}" y2="{_p(self.y1)}"/>')
        cx = (self.x0 + self.x1) / 2
        a(
            f'<text class="label" x="{_p(cx)}" y="{_p(self.height - 8)}" text-anchor="middle">'
            f"{esc(xlabel)}</text>"
        )
        cy = (self.y0 + self.y1) / 2
        a(
            f'<text class="label" x="14" y="{_p(cy)}" text-anchor="middle" '
            f'transform="rotate(-90 14 {_p(cy)})">{esc(ylabel)}</text>'
        )

    def polyline(
        self, xs: Sequence[float], ys: Sequence[float], m: int, tip: str, width: float = 2.0
    ) -> None:
        if len(xs) == 0:
            return
        self.mark(
            f'<polyline class="mark line" data-m="{m}" points="{_points(xs, ys)}" fill="none" '
            f'stroke="{color(m)}" stroke-width="{width}" stroke-dasharray="{dash(m)}">'
            f"<title>{esc(tip)}</title></polyline>"
        )

    def band(self, xs: Sequence[float], lo: Sequence[float], hi: Sequence[float], m: int, tip: str) -> None:
        if len(xs) == 0:
            return
        pts = _points([*xs, *xs[::-1]], [*hi, *lo[::-1]])
        self.mark(
            f'<polygon class="mark band" data-m="{m}" points="{pts}" fill="{color(m)}" fill-opacity="0.16" '
            f'stroke="none"><title>{esc(tip)}</title></polygon>'
        )

    def dot(self, x: float, y: float, m: int, tip: str, r: float = 4.0, hollow: bool = False) -> None:
        fill = "white" if hollow else color(m)
        self.mark(
            f'<circle class="mark dot" data-m="{m}" cx="{_p(x)}" cy="{_p(y)}" r="{r}" fill="{fill}" '
            f'stroke="{color(m)}" stroke-width="1.5"><title>{esc(tip)}</title></circle>'
        )

    def cross(self, x: float, y: float, m: int, tip: str, r: float = 4.5) -> None:
        a, b, c, e = _p(x - r), _p(x + r), _p(y - r), _p(y + r)
        d = f"M{a},{c}L{b},{e}M{a},{e}L{b},{c}"
        self.mark(
            f'<path class="mark miss" data-m="{m}" d="{d}" stroke="{color(m)}" stroke-width="2">'
            f"<title>{esc(tip)}</title></path>"
        )

    def hline(self, y: float, label: str, cls: str = "target") -> None:
        """A dashed reference line across the plot area (not a data mark)."""
        self.add(
            f'<line class="{cls}" x1="{_p(self.x0)}" x2="{_p(self.x1)}" y1="{_p(y)}" y2="{_p(y)}">'
            f"<title>{esc(label)}</title></line>"
        )
        self.add(
            f'<text class="reflabel" x="{_p(self.x1 - 4)}" y="{_p(y - 4)}" text-anchor="end">'
            f"{esc(label)}</text>"
        )

    def legend(self, entries: Sequence[tuple[int, str]], x: float, y: float) -> None:
        """Colour swatches and names stacked from (x, y)."""
        for k, (m, name) in enumerate(entries):
            yy = y + 18 * k
            short = name if len(name) <= 26 else name[:25] + "…"
            self.add(
                f'<g class="legend-entry" data-m="{m}"><line x1="{_p(x)}" x2="{_p(x + 18)}" y1="{_p(yy)}" '
                f'y2="{_p(yy)}" stroke="{color(m)}" stroke-width="3" stroke-dasharray="{dash(m)}"/>'
                f'<text class="legend" x="{_p(x + 24)}" y="{_p(yy + 4)}">'
                f"{esc(short)}<title>{esc(name)}</title>"
                "</text></g>"
            )

    def svg(self) -> str:
        head = (
            f'<svg class="plot" data-plot="{esc(self.kind)}" data-label="{esc(self.label)}" '
            f'viewBox="0 0 {self.width} {self.height}" '
            f'width="{self.width}" height="{self.height}" role="img" aria-label="{esc(self.title)}">'
        )
        title = (
            f'<text class="ptitle" x="{_p(self.x0)}" y="18">{esc(self.title)}</text>' if self.title else ""
        )
        return head + title + "".join(self.parts) + "</svg>"


def heatmap(
    kind: str,
    rows: Sequence[str],
    cols: Sequence[str],
    values: np.ndarray,
    texts: Sequence[Sequence[str]],
    tips: Sequence[Sequence[str]],
    title: str = "",
    col_ids: Sequence[int] | None = None,
) -> Figure:
    """A rows x cols grid coloured white -> green by ``values`` in [0, 1] (NaN: grey), with text.

    ``col_ids`` are the columns' method indices (``data-m``), default 0..n-1.
    """
    col_ids = list(col_ids) if col_ids is not None else list(range(len(cols)))
    cell_w, cell_h = 92, 30
    left = 12 + 7 * min(max((len(r) for r in rows), default=4), 34)
    top = 30 + 6 * min(max((len(c) for c in cols), default=4), 26)
    fig = Figure(
        kind,
        width=left + cell_w * len(cols) + 16,
        height=top + cell_h * len(rows) + 12,
        left=left,
        top=top,
        bottom=12,
        right=16,
        title=title,
    )
    for j, c in enumerate(cols):
        x = left + cell_w * (j + 0.5)
        short = c if len(c) <= 26 else c[:25] + "…"
        fig.add(
            f'<text class="tick" x="{_p(x)}" y="{_p(top - 8)}" transform="rotate(-30 {_p(x)} {_p(top - 8)})">'
            f"{esc(short)}<title>{esc(c)}</title></text>"
        )
    for i, r in enumerate(rows):
        y = top + cell_h * i
        short = r if len(r) <= 34 else r[:33] + "…"
        fig.add(
            f'<text class="tick" x="{_p(left - 8)}" y="{_p(y + cell_h / 2 + 4)}" text-anchor="end">'
            f"{esc(short)}<title>{esc(r)}</title></text>"
        )
        for j in range(len(cols)):
            v = float(values[i, j])
            fill = "#e5e5e5" if math.isnan(v) else _green(v)
            ink = "white" if (not math.isnan(v) and v > 0.6) else "#222"
            x = left + cell_w * j
            fig.mark(
                f'<rect class="mark cell" data-m="{col_ids[j]}" x="{_p(x + 1)}" y="{_p(y + 1)}" '
                f'width="{cell_w - 2}" '
                f'height="{cell_h - 2}" rx="3" fill="{fill}"><title>{esc(tips[i][j])}</title></rect>'
            )
            fig.add(
                f'<text class="celltext" x="{_p(x + cell_w / 2)}" y="{_p(y + cell_h / 2 + 4)}" '
                f'text-anchor="middle" fill="{ink}">{esc(texts[i][j])}</text>'
            )
    return fig


def _green(v: float) -> str:
    """White (0) to dark green (1)."""
    lo, hi = (247, 252, 245), (0, 109, 44)
    v = min(max(v, 0.0), 1.0)
    r, g, b = (round(a + (b - a) * v) for a, b in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"
