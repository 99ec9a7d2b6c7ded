"""Report charts as PNG bytes (matplotlib, Agg backend: no display, no GUI toolkit).

Each function takes report rows and labels and returns PNG bytes; the HTML renderer embeds
them as ``data:`` URIs. Chinese labels need a CJK font: :func:`cjk_font` finds one among
the installed fonts (Noto CJK, Source Han, WenQuanYi…); without one, charts keep English
labels rather than draw empty boxes.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Final

from nocd.report.model import StabilityRow, TicketRow, TrendRow

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CJK_FAMILIES",
    "budget_chart",
    "cjk_font",
    "side_chart",
    "stability_chart",
    "trend_chart",
]

_logger = logging.getLogger(__name__)

# Preferred CJK families, in order; the HTML names the same ones in its font-family.
CJK_FAMILIES: Final = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Noto Sans CJK JP",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
)
_DPI: Final = 100
_COLOURS: Final = {
    "met": "#2e7d32",
    "at_risk": "#f9a825",
    "breached": "#c62828",
    "stable": "#2e7d32",
    "errored": "#f9a825",
    "marginal": "#ef6c00",
    "unstable": "#c62828",
    "unscored": "#9e9e9e",
}

Label = Callable[[str], str]


@cache
def _pyplot() -> ModuleType:
    """matplotlib on the Agg backend, imported on first use: it costs a second of start-up
    that every ``nocd`` command would otherwise pay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


@cache
def cjk_font() -> str | None:
    """The first installed family of :data:`CJK_FAMILIES`, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    return None


def _figure(width: float = 8.0, height: float = 3.2) -> Figure:
    figure: Figure = _pyplot().figure(figsize=(width, height), dpi=_DPI)
    return figure


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    finally:
        _pyplot().close(fig)
    return buffer.getvalue()


def _fonts(cjk: bool) -> list[str]:
    family = cjk_font() if cjk else None
    return [family, "DejaVu Sans"] if family else ["DejaVu Sans"]


def trend_chart(rows: Sequence[TrendRow], label: Label, *, title: str, cjk: bool) -> bytes:
    """Daily line availability (%) with customer-minutes lost as bars on a second axis."""
    with _pyplot().rc_context({"font.family": _fonts(cjk)}):
        fig = _figure()
        ax = fig.add_subplot()
        days = [r.date[5:] for r in rows]
        cml = [r.customer_minutes_lost or 0.0 for r in rows]
        ax2 = ax.twinx()
        ax2.bar(days, cml, color="#90caf9", alpha=0.6, label=label("customer_minutes_lost"))
        ax2.set_ylabel(label("customer_minutes_lost"))
        avail = [
            float("nan") if r.line_availability is None else r.line_availability * 100
            for r in rows
        ]
        ax.plot(days, avail, color="#1565c0", marker="o", markersize=3)
        ax.set_ylabel(label("line_availability") + " (%)")
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False)
        return _png(fig)


def budget_chart(targets: Sequence[tuple[str, float, str]], label: Label, *, cjk: bool) -> bytes:
    """Horizontal bars: error budget left (%) per target, coloured by status."""
    with _pyplot().rc_context({"font.family": _fonts(cjk)}):
        fig = _figure(height=max(1.6, 0.45 * len(targets) + 1.0))
        ax = fig.add_subplot()
        names = [t[0] for t in targets]
        values = [t[1] * 100 for t in targets]
        ax.barh(names, values, color=[_COLOURS.get(t[2], "#9e9e9e") for t in targets])
        ax.set_xlim(min(0.0, *values) if values else 0.0, 100)
        ax.set_xlabel(label("error_budget_remaining_ratio") + " (%)")
        ax.set_title(label("chart_budget"))
        ax.invert_yaxis()
        return _png(fig)


def stability_chart(rows: Sequence[StabilityRow], label: Label, *, cjk: bool) -> bytes:
    """Stacked bars of lines per stability class, per district (network first)."""
    classes = ("stable", "errored", "marginal", "unstable", "unscored")
    with _pyplot().rc_context({"font.family": _fonts(cjk)}):
        fig = _figure()
        ax = fig.add_subplot()
        names = [label("network") if r.district == "*" else r.district for r in rows]
        bottom = [0.0] * len(rows)
        for c in classes:
            values = [float(getattr(r, c)) for r in rows]
            ax.bar(names, values, bottom=bottom, color=_COLOURS[c], label=label(c))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel(label("lines"))
        ax.set_title(label("chart_stability"))
        ax.legend(fontsize=8, ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.12))
        return _png(fig)


def side_chart(rows: Sequence[TicketRow], label: Label, *, cjk: bool) -> bytes:
    """Stacked bars of fault tickets opened: network side, customer side, unclassified."""
    parts = (
        ("network_side", "#1565c0"),
        ("customer_side", "#ef6c00"),
        ("unknown_side", "#9e9e9e"),
    )
    with _pyplot().rc_context({"font.family": _fonts(cjk)}):
        fig = _figure()
        ax = fig.add_subplot()
        names = [label("network") if r.district == "*" else r.district for r in rows]
        bottom = [0.0] * len(rows)
        for key, colour in parts:
            values = [float(getattr(r, key)) for r in rows]
            ax.bar(names, values, bottom=bottom, color=colour, label=label(key))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel(label("faults"))
        ax.set_title(label("chart_side"))
        ax.legend(fontsize=8, ncols=3)
        return _png(fig)
