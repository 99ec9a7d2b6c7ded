"""The soak's RSS and CPU per process role over time, as a PNG (chaos events shaded).

    uv run python bench/soak_chart.py RESULT.json OUT.png     # RESULT: bench/soak.py --out

Reads only the JSON result (``resources.<role>.rss_mb_by_minute`` / ``cpu_pct_by_minute``,
``chaos``), so a run analysed again with ``--reanalyse`` can be drawn too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display
import matplotlib.pyplot as plt

ROLES = ("central", "district", "postgresql", "load")  # the lab's responders are drawn apart
CHAOS_COLOURS = {
    "cut_link": "#f4c7c3",
    "kill_district": "#fce8b2",
    "kill_central": "#c6dafc",
    "kill_database": "#d9d2e9",
}


def render(result: dict[str, Any], out: Path) -> None:
    """Two panels over the run's minutes: RSS (MB) and CPU (% of one core) per role."""
    resources: dict[str, dict[str, Any]] = result["resources"]
    figure, (rss_ax, cpu_ax) = plt.subplots(2, 1, figsize=(9.0, 6.0), dpi=110, sharex=True)
    roles = [r for r in ROLES if r in resources]
    roles += sorted(r for r in resources if r.startswith("snmpsim"))
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, role in enumerate(roles):
        colour = palette[i % len(palette)]  # the same colour for a role in both panels
        figures = resources[role]
        rss = sorted((int(m), v) for m, v in figures["rss_mb_by_minute"].items())
        cpu = sorted((int(m), v) for m, v in figures["cpu_pct_by_minute"].items())
        style = "--" if role.startswith("snmpsim") else "-"
        rss_ax.plot([m for m, _ in rss], [v for _, v in rss], style, color=colour, label=role)
        if role != "postgresql":  # a sum over backends that come and go: no CPU rate per minute
            cpu_ax.plot([m for m, _ in cpu], [v for _, v in cpu], style, color=colour, label=role)
    for event in result.get("chaos", []):
        start = event["at_s"] / 60.0
        end = start + (event.get("recovered_after_s") or event["down_s"]) / 60.0
        for ax in (rss_ax, cpu_ax):
            ax.axvspan(start, end, color=CHAOS_COLOURS.get(event["kind"], "#eeeeee"), lw=0)
        rss_ax.annotate(
            event["kind"].replace("_", " "),
            (start, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            rotation=90,
            va="top",
        )
    steady = [f.get("rss_steady_from_s") for f in resources.values()]
    if steady and steady[0] is not None and steady[0] < result["duration_s"]:
        rss_ax.axvline(steady[0] / 60.0, color="grey", lw=0.8, ls=":")
        rss_ax.annotate(
            "RSS judged from here",
            (steady[0] / 60.0, 0.92),
            xycoords=("data", "axes fraction"),
            fontsize=7,
        )
    rss_ax.set_ylabel("RSS (MB)")
    cpu_ax.set_ylabel("CPU (% of one core)")
    cpu_ax.set_xlabel("minutes since the soak clock started")
    rss_ax.legend(fontsize=7, ncol=3, loc="lower left", bbox_to_anchor=(0.0, 0.05))
    title = (
        f"soak ({result['mode']}): {result['devices']} devices, "
        f"{result['timing']['interfaces_s']} s polls, {result['duration_s'] / 60:.0f} min"
    )
    rss_ax.set_title(title, fontsize=10)
    for ax in (rss_ax, cpu_ax):
        ax.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, format="png", metadata={"Software": None})
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path, help="the JSON written by bench/soak.py --out")
    parser.add_argument("out", type=Path, help="the PNG to write")
    args = parser.parse_args(argv)
    try:
        result = json.loads(args.result.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"{args.result}: {exc}", file=sys.stderr)
        return 2
    render(result, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
