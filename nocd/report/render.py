"""Renderers: the report as JSON, as one CSV per table (and a zip of them), as printable HTML.

All three read the same ``Report`` rows. In HTML every value cell carries the raw value
the CSV has (``<td data-col="sli" data-v="0.998765">99.877 %</td>``), so the formats can be
checked against each other mechanically and the page is still readable.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any, Final

from nocd.report import charts
from nocd.report.labels import Lang, label
from nocd.report.model import ALL, TABLES, Report, table_columns

__all__ = ["raw_text", "render_csv", "render_csv_zip", "render_html", "render_json"]

_ZIP_TIME: Final = (2000, 1, 1, 0, 0, 0)  # fixed member times: identical input, identical zip


def render_json(report: Report) -> bytes:
    """The JSON document, keys in schema order, UTF-8, ending with a newline."""
    return (json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n").encode()


def raw_text(value: object) -> str:
    """A value as CSV writes it (and as HTML ``data-v`` carries it): '' for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render_csv(report: Report) -> dict[str, bytes]:
    """``{table: CSV bytes}``, header = the JSON field names, one row per JSON row."""
    out: dict[str, bytes] = {}
    for name in TABLES:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        columns = table_columns(name)
        writer.writerow(columns)
        for row in report.rows(name):
            writer.writerow([raw_text(row[c]) for c in columns])
        out[name] = buffer.getvalue().encode()
    return out


def render_csv_zip(report: Report) -> bytes:
    """Every CSV in one zip: ``report_<date>_<period>_<table>.csv``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in render_csv(report).items():
            info = zipfile.ZipInfo(f"report_{report.date}_{report.period}_{name}.csv", _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


# --------------------------------------------------------------------------- HTML

_RATIO_FIELDS: Final = frozenset(
    {
        "objective",
        "sli",
        "line_availability",
        "availability",
    }
)
_PERCENT_FIELDS: Final = frozenset(
    {
        "error_budget_remaining_ratio",
        "congestion_share",
        "max_utilisation",
        "on_site_within_30_min",
        "callback_done",
        "installation_within_3_days",
        "network_side_share",
        "customer_side_share",
        "utilisation",
        "growth_per_year",
    }
)
_SECONDS_FIELDS: Final = frozenset(
    {
        "duration_s",
        "down_s",
        "maintenance_s",
        "unknown_s",
        "mttr_median_s",
        "mttr_p80_s",
        "mttr_p95_s",
    }
)
_WORD_FIELDS: Final = frozenset({"status", "scope", "stability"})
_KQI_UNITS: Final = {
    "customer_minutes_lost": "minutes",
    "fault_reports_per_100_lines_month": "number",
    "repair_time_median_seconds": "seconds",
    "repair_time_p80_seconds": "seconds",
    "repair_time_p95_seconds": "seconds",
}

# table → the columns shown (all CSV columns are in the CSV; HTML shows what reads well)
_SHOWN: Final[dict[str, tuple[str, ...]]] = {
    "sla": (
        "target",
        "kqi",
        "sla_class",
        "scope",
        "objective",
        "sli",
        "status",
        "error_budget_remaining_ratio",
        "burn_rate",
        "entities",
    ),
    "kqis": ("district", "sla_class", "kqi", "numerator", "denominator", "value"),
    "trend": ("date", "district", "line_availability", "customer_minutes_lost"),
    "outages": (
        "device",
        "district",
        "start",
        "end",
        "duration_s",
        "maintenance_s",
        "cause",
        "lines",
        "customer_minutes_lost",
    ),
    "worst_dslams": (
        "rank",
        "device",
        "district",
        "lines",
        "down_s",
        "customer_minutes_lost",
        "availability",
    ),
    "worst_ports": (
        "rank",
        "device",
        "port",
        "district",
        "congestion_share",
        "max_utilisation",
    ),
    "worst_lines": (
        "rank",
        "device",
        "ifindex",
        "district",
        "customer",
        "sla_class",
        "down_s",
        "unknown_s",
        "availability",
        "stability",
    ),
    "stability": ("district", "stable", "errored", "marginal", "unstable", "unscored"),
    "tickets": (
        "district",
        "opened_faults",
        "opened_installations",
        "opened_complaints",
        "resolved_faults",
        "mttr_median_s",
        "mttr_p80_s",
        "mttr_p95_s",
        "on_site_within_30_min",
        "callback_done",
        "installation_within_3_days",
        "network_side_share",
        "customer_side_share",
    ),
    "capacity": (
        "device",
        "port",
        "district",
        "utilisation",
        "growth_per_year",
        "days_to_exhaustion",
        "days_low",
        "days_high",
    ),
    "changes": ("district", "kind", "item", "before", "after", "delta"),
}
_HEADER_KEYS: Final = {
    "opened_faults": "faults",
    "opened_installations": "installations",
    "opened_complaints": "complaints",
    "resolved_faults": "resolved",
    "rank": "#",
    "ifindex": "port",
    "intervals": "intervals",
    "kind": "item",
    "days_low": "days_range",
    "days_high": "days_range",
}

_FONTS: Final = ", ".join(
    [*(f'"{f}"' for f in charts.CJK_FAMILIES), '"DejaVu Sans"', "sans-serif"]
)

_CSS: Final = f"""
body {{ font-family: {_FONTS}; font-size: 10.5pt; color: #212121; margin: 1.5em; }}
h1 {{ font-size: 18pt; margin-bottom: 0.2em; }}
h2 {{ font-size: 13.5pt; border-bottom: 2px solid #1565c0; margin-top: 1.6em; }}
h3 {{ font-size: 11.5pt; margin-bottom: 0.3em; }}
table {{ border-collapse: collapse; margin: 0.4em 0 1em; }}
th, td {{ border: 1px solid #bdbdbd; padding: 2px 6px; }}
th {{ background: #eceff1; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.met {{ color: #2e7d32; font-weight: bold; }}
.at_risk {{ color: #b26a00; font-weight: bold; }}
.breached {{ color: #c62828; font-weight: bold; }}
.note {{ color: #616161; font-style: italic; }}
img.chart {{ max-width: 100%; display: block; margin: 0.4em 0; }}
dl.meta {{ display: grid; grid-template-columns: max-content auto; gap: 0 1em; }}
dl.meta dt {{ font-weight: bold; }}
@page {{ size: A4; margin: 12mm; }}
@media print {{
  body {{ margin: 0; }}
  h2 {{ break-after: avoid; }}
  tr, img.chart {{ break-inside: avoid; }}
}}
"""


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86_400} d {s % 86_400 // 3600:02d} h"


def _shown(column: str, value: object, row: dict[str, Any], lang: Lang) -> tuple[str, bool]:
    """(display text, numeric?) of one cell."""
    if value is None:
        return "–", False
    status_change = column in ("before", "after") and row.get("kind") == "sla_status"
    if column in _WORD_FIELDS or status_change:
        return label(str(value), lang), False
    if column in ("kqi", "item") and isinstance(value, str):
        return label(value, lang), False
    if column == "district" and value == ALL:
        return label("network", lang), False
    if column in ("start", "end") and isinstance(value, str):
        return value[:16].replace("T", " "), False
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value), False
    x = float(value)
    if column == "value" and row.get("kqi") in _KQI_UNITS:
        unit = _KQI_UNITS[str(row["kqi"])]
        if unit == "seconds":
            return _duration(x), True
        return f"{x:,.1f}", True
    if column in ("value", "delta") and row.get("kqi", row.get("item", "")).endswith("_ratio"):
        return f"{x * 100:.3f} %", True
    if column in _RATIO_FIELDS:
        return f"{x * 100:.3f} %", True
    if column in _PERCENT_FIELDS:
        return f"{x * 100:.1f} %", True
    if column in _SECONDS_FIELDS:
        return _duration(x), True
    if isinstance(value, int):
        return f"{value:,}", True
    if column.startswith("days"):
        return f"{x:.1f}", True
    return f"{x:,.3f}".rstrip("0").rstrip(".") if abs(x) < 1000 else f"{x:,.1f}", True


def _table(
    report: Report,
    name: str,
    lang: Lang,
    *,
    rows: Sequence[int] | None = None,
    hide: Sequence[str] = (),
) -> str:
    all_rows = report.rows(name)
    indices = list(range(len(all_rows))) if rows is None else list(rows)
    if not indices:
        note = report.notes.get(name)
        text = label("no_source", lang) + f" ({note})" if note else label("no_data", lang)
        return f'<p class="note" data-empty="{name}">{html.escape(text)}</p>'
    columns = [c for c in _SHOWN[name] if c not in hide]
    head = "".join(
        f"<th>{html.escape(label(_HEADER_KEYS.get(c, c), lang))}</th>" for c in columns
    )
    body = []
    for i in indices:
        row = all_rows[i]
        cells = []
        for c in columns:
            text, numeric = _shown(c, row[c], row, lang)
            classes = ["num"] if numeric else []
            if c == "status" or (c == "after" and row.get("kind") == "sla_status"):
                classes.append(str(row[c]))
            cls = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(
                f'<td{cls} data-col="{c}" data-v="{html.escape(raw_text(row[c]))}">'
                f"{html.escape(text)}</td>"
            )
        body.append(f'<tr data-row="{i}">{"".join(cells)}</tr>')
    return (
        f'<table data-table="{name}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _when(iso: str) -> str:
    return html.escape(iso[:16].replace("T", " "))


def _img(png: bytes, alt: str, chart_id: str) -> str:
    data = base64.b64encode(png).decode()
    return (
        f'<img class="chart" data-chart="{chart_id}" alt="{html.escape(alt)}" '
        f'src="data:image/png;base64,{data}">'
    )


def render_html(report: Report, lang: Lang | str = Lang.EN) -> bytes:
    """A self-contained printable page: tables and PNG charts embedded as data URIs."""
    lang = Lang(lang)
    cjk = lang is Lang.ZH_CN and charts.cjk_font() is not None

    def chart_label(key: str) -> str:
        return label(key, lang if cjk else Lang.EN)

    def l10n(key: str) -> str:
        return html.escape(label(key, lang))

    districts = [ALL, *sorted(d for d in report.districts if d != ALL)]

    def name_of(district: str) -> str:
        if district == ALL:
            return label("network", lang)
        return f"{report.districts.get(district, district)} ({district})"

    sections = ("sla", "kqis", "outages", "worst_dslams", "worst_ports", "worst_lines",
                "stability", "tickets", "capacity", "changes")  # fmt: skip
    parts: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{lang.value}"><head><meta charset="utf-8">',
        f"<title>{l10n('title')} {report.date}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{l10n('title')}</h1>",
        '<dl class="meta">',
        f"<dt>{l10n('period')}</dt><dd>{l10n('period_' + report.period)}: "
        f"{html.escape(report.period_start[:10])} – {_when(report.evaluated_until)}</dd>",
        f"<dt>{l10n('time_zone')}</dt><dd>{html.escape(report.time_zone)}</dd>",
        f"<dt>{l10n('generated_at')}</dt><dd>{_when(report.generated_at)}</dd>",
        "</dl>",
        f"<nav><h3>{l10n('contents')}</h3><ol>",
        *(f'<li><a href="#{s}">{l10n(s)}</a></li>' for s in sections),
        "</ol></nav>",
    ]
    trend = report.rows("trend")
    sla_rows = report.rows("sla")
    parts.append(f'<h2 id="sla">{l10n("sla")}</h2>')
    for district in districts:
        idx = [i for i, r in enumerate(sla_rows) if r["district"] == district]
        parts.append(f"<h3>{html.escape(name_of(district))}</h3>")
        parts.append(_table(report, "sla", lang, rows=idx))
        points = [
            report.tables["trend"][i] for i, r in enumerate(trend) if r["district"] == district
        ]
        if points:
            title = f"{chart_label('chart_trend')} — {label('trend', lang if cjk else Lang.EN)}"
            if district != ALL:
                title = f"{district}: {title}"
            png = charts.trend_chart(points, chart_label, title=title, cjk=cjk)
            alt = f"{label('trend', lang)} {name_of(district)}"
            parts.append(_img(png, alt, f"trend-{district}"))
    network_targets = [
        (r["target"], r["error_budget_remaining_ratio"], r["status"])
        for r in sla_rows
        if r["district"] == ALL and r["error_budget_remaining_ratio"] is not None
    ]
    if network_targets:
        png = charts.budget_chart(network_targets, chart_label, cjk=cjk)
        parts.append(_img(png, label("chart_budget", lang), "budget"))
    parts.append(f'<h2 id="kqis">{l10n("kqis")}</h2>')
    parts.append(_table(report, "kqis", lang))
    parts.append(f"<h3>{l10n('trend')}</h3>")
    parts.append(_table(report, "trend", lang))
    for name in ("outages", "worst_dslams", "worst_ports", "worst_lines"):
        parts.append(f'<h2 id="{name}">{l10n(name)}</h2>')
        parts.append(_table(report, name, lang))
    parts.append(f'<h2 id="stability">{l10n("stability")}</h2>')
    parts.append(_table(report, "stability", lang))
    if report.tables["stability"]:
        png = charts.stability_chart(report.tables["stability"], chart_label, cjk=cjk)
        parts.append(_img(png, label("chart_stability", lang), "stability"))
    parts.append(f'<h2 id="tickets">{l10n("tickets")}</h2>')
    parts.append(_table(report, "tickets", lang))
    if report.tables["tickets"]:
        png = charts.side_chart(report.tables["tickets"], chart_label, cjk=cjk)
        parts.append(_img(png, label("chart_side", lang), "side"))
    for name in ("capacity", "changes"):
        parts.append(f'<h2 id="{name}">{l10n(name)}</h2>')
        parts.append(_table(report, name, lang))
    parts.append("</body></html>\n")
    return "\n".join(parts).encode()

