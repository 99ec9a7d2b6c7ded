"""Builds nocd's Grafana dashboards with grafana-foundation-sdk and writes them as JSON.

    uv run python dashboards/build.py           # rewrite dashboards/*.json
    uv run python dashboards/build.py --check   # exit 1 if a committed file differs

The JSON files are committed (provisioning reads them); tests/unit/test_dashboard_json.py
fails when they drift from this script. Every query uses only metrics nocd exports (see
dashboards/README.md for the list per dashboard) and the ``${datasource}`` variable.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import bargauge, gauge, stat, table, text, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import statetimeline as state_timeline
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DashboardLink,
    DatasourceVariable,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat
from grafana_foundation_sdk.models.text import TextMode

PanelT = TypeVar("PanelT", bound=Any)  # the SDK's panel builders share no typed base
HERE = Path(__file__).resolve().parent
DS = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["nocd"]
OPEN = 'state!~"closed|cancelled"'  # ticket states still in the queue
# The Prometheus job label is left out of every selector: a deployment may rename the job.

# SLA verdict as one number: 0 met, 1 at risk, 2 breached (nocd_sla_status is one-hot).
SLA_CODE = (
    'sum without (status) (nocd_sla_status{{{sel}, status="at_risk"}})'
    ' + 2 * sum without (status) (nocd_sla_status{{{sel}, status="breached"}})'
)
# Budget spent per second × seconds of a 30-day period: 1.0 spends the whole error budget
# exactly by the end of a monthly period ([sla] period = "month", the default).
BURN_RATE = "-deriv(nocd_sla_error_budget_remaining_ratio{{{sel}}}[{window}]) * 2592000"


# --- small pieces ----------------------------------------------------------------------


def _query(expr: str, legend: str = "", *, instant: bool = False) -> Dataquery:
    """A Prometheus target on ``${datasource}``; panels name it A, B… unless it has a name."""
    query = Dataquery().expr(expr).datasource(DS)
    if legend:
        query = query.legend_format(legend)
    if instant:
        query = query.instant().format(PromQueryFormat.TABLE)
    return query


def _steps(base: str, *steps: tuple[float, str]) -> ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first step, then each (value, colour)."""
    return ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(
        [model.Threshold(value=None, color=base)]
        + [model.Threshold(value=value, color=color) for value, color in steps]
    )


def _values(*pairs: tuple[str, str, str]) -> list[model.ValueMapping]:
    """A value→text mapping with colours: (value, text, colour)."""
    return [
        model.ValueMap(
            options={
                value: model.ValueMappingResult(text=label, color=colour, index=i)
                for i, (value, label, colour) in enumerate(pairs)
            }
        )
    ]


SLA_MAPPING = _values(("0", "met", "green"), ("1", "at risk", "orange"), ("2", "breached", "red"))
UP_MAPPING = _values(("1", "up", "green"), ("0", "down", "red"))
RATIO_HIGH_GOOD = _steps("red", (0.99, "orange"), (0.999, "green"))  # availability-like
SHARE_HIGH_GOOD = _steps("red", (0.9, "orange"), (0.95, "green"))  # line/ticket shares
COUNT_BAD = _steps("green", (1, "red"))
COUNT_WARN = _steps("green", (1, "orange"))
UNITS_BY_KQI_COLUMN = (  # KQI names carry their unit (kpi/definitions.py)
    (".*_ratio", "percentunit"),
    ("customer_minutes_lost", "m"),
    (".*_seconds", "s"),
    (".*_month", "short"),
)


def _matrix(rows: str, columns: str) -> model.DataTransformerConfig:
    """Pivot an instant table: one row per ``rows`` label value, one column per ``columns``."""
    return model.DataTransformerConfig(
        id_val="groupingToMatrix",
        options={"rowField": rows, "columnField": columns, "valueField": "Value"},
    )


def _kqi_units(panel: table.Panel) -> table.Panel:
    for pattern, unit in UNITS_BY_KQI_COLUMN:
        unit_value = model.DynamicConfigValue(id_val="unit", value=unit)
        panel = panel.override_by_regexp(pattern, [unit_value])
    return panel


def _links() -> list[Builder[model.DashboardLink]]:
    return [
        DashboardLink("nocd dashboards")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags(TAGS)
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    ]


def _datasource() -> DatasourceVariable:
    return DatasourceVariable("datasource").label("Data source").type("prometheus")


def _district(*, multi: bool) -> QueryVariable:
    variable = (
        QueryVariable("district")
        .label("District")
        .query("label_values(nocd_inventory_devices, district)")
        .datasource(DS)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = variable.multi(True).include_all(True).all_value(".*")
    return variable


def _dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .links(_links())
        .readonly()
    )


def _with_targets(panel: PanelT, targets: tuple[Dataquery, ...]) -> PanelT:
    for letter, target in zip("ABCDEFGH", targets, strict=False):
        if not target.build().ref_id:
            target = target.ref_id(letter)
        panel = panel.with_target(target).datasource(DS)
    return panel


def _stat(
    title: str, expr: str, unit: str, thresholds: ThresholdsConfig, *, legend: str = ""
) -> stat.Panel:
    return (
        _with_targets(stat.Panel(), (_query(expr, legend),))
        .title(title)
        .unit(unit)
        .thresholds(thresholds)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .height(4)
        .span(4)
    )


def _series(title: str, unit: str, *targets: Dataquery) -> timeseries.Panel:
    panel = _with_targets(timeseries.Panel(), targets).title(title).unit(unit)
    return panel.height(8).span(12).legend(
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def _bars(title: str, expr: str, legend: str, unit: str) -> bargauge.Panel:
    return (
        _with_targets(bargauge.Panel(), (_query(expr, legend),))
        .title(title)
        .unit(unit)
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .height(8)
        .span(8)
    )


def _table(title: str, *targets: Dataquery) -> table.Panel:
    return _with_targets(table.Panel(), targets).title(title).unit("none").height(8).span(12)


def _note(title: str, markdown: str, *, span: int = 12, height: int = 6) -> text.Panel:
    return (
        text.Panel().title(title).mode(TextMode.MARKDOWN).content(markdown)
        .height(height).span(span)
    )


def _numbered(dash: Dashboard, *items: Builder[model.Panel] | Row) -> Dashboard:
    """Adds rows and panels in order with ids 1, 2, 3… (unique within the dashboard)."""
    ids: Iterator[int] = itertools.count(1)
    for item in items:
        if isinstance(item, Row):
            dash = dash.with_row(item.id(next(ids)))
        else:
            dash = dash.with_panel(item.id(next(ids)))  # type: ignore[attr-defined]
    return dash


# --- dashboards --------------------------------------------------------------------------


def overview() -> Dashboard:
    """NOC wall screen: what is down, what fires, each district's KQIs and SLA verdicts."""
    sel = 'district=~"$district"'
    net = 'district=~"$district|\\\\*"'  # the districts chosen plus the network row ("*")
    return _numbered(
        _dashboard(
            "nocd-overview",
            "nocd / NOC overview",
            "Devices down, firing alerts, open incidents and tickets, and every district's "
            "KQIs and SLA verdicts (district * is the whole network).",
        )
        .with_variable(_datasource())
        .with_variable(_district(multi=True)),
        Row("Now"),
        _stat("Devices down", f'sum(nocd_device_state{{{sel}, state="down"}})', "none", COUNT_BAD),
        _stat("Devices unknown", f'sum(nocd_device_state{{{sel}, state="unknown"}})', "none",
              COUNT_WARN),
        _stat("Firing alerts", f"sum(nocd_alerts_firing{{{sel}}})", "none",
              _steps("green", (1, "orange"), (10, "red"))),
        _stat("Open incidents", f"sum(nocd_incidents_open{{{sel}}})", "none", COUNT_BAD),
        _stat("Open tickets", f"sum(nocd_tickets{{{sel}, {OPEN}}})", "none",
              _steps("green", (10, "orange"), (50, "red"))),
        _stat(
            "Network line availability",
            'max(nocd_kqi_value{district="*", kqi="line_availability_ratio", sla_class="*"})',
            "percentunit",
            RATIO_HIGH_GOOD,
        ).decimals(3),
        Row("Districts"),
        _kqi_units(
            _table(
                "KQIs by district (current SLA period)",
                _query(f'max by (district, kqi) (nocd_kqi_value{{{net}, sla_class="*"}})',
                       instant=True),
            )
            .with_transformation(_matrix("district", "kqi"))
            .description("District * is the whole network. Per-line detail: /api/v1/kpis/lines.")
        ),
        _table(
            "SLA verdict by district and target",
            _query(f"max by (district, target) ({SLA_CODE.format(sel=net)})", instant=True),
        )
        .with_transformation(_matrix("district", "target"))
        .mappings(SLA_MAPPING)
        .cell_options(common.TableColoredBackgroundCellOptions())
        .description("met / at risk / breached, from nocd_sla_status (district * = network)."),
        Row("Alerts"),
        _table(
            "Firing alerts",
            _query(f"sum by (district, rule, severity) (nocd_alerts_firing{{{sel}}}) > 0",
                   instant=True),
        ).description("Suppressed child alerts included; incidents group them by root cause."),
        _series(
            "Firing alerts by severity",
            "none",
            _query(f"sum by (severity) (nocd_alerts_firing{{{sel}}})", "{{severity}}"),
        ),
        _series(
            "Devices down by district",
            "none",
            _query(f'sum by (district) (nocd_device_state{{{sel}, state="down"}})',
                   "{{district}}"),
        ),
        _series(
            "Open incidents by severity",
            "none",
            _query(f"sum by (severity) (nocd_incidents_open{{{sel}}})", "{{severity}}"),
        ),
        Row("nocd itself"),
        _stat("Since the last alerting cycle",
              "time() - max(nocd_alerting_last_success_timestamp_seconds)", "s",
              _steps("green", (60, "orange"), (300, "red"))),
        _stat("Age of the KQI/SLA figures", "time() - max(nocd_kpi_computed_timestamp_seconds)",
              "s", _steps("green", (1800, "orange"), (3600, "red"))),
        _stat("nocd processes", "count(nocd_build_info)", "none", _steps("red", (1, "green"))),
        _series(
            "SNMP polls by result",
            "reqps",
            _query("sum by (result) (rate(nocd_snmp_requests_total[$__rate_interval]))",
                   "{{result}}"),
        ).span(12),
    )


def district() -> Dashboard:
    """One district: inventory, reachability, KQIs by SLA class, SLA targets, alerts, link."""
    sel = 'district="$district"'
    open_tickets = f"nocd_tickets{{{sel}, {OPEN}}}"
    return _numbered(
        _dashboard(
            "nocd-district",
            "nocd / District",
            "Drill-down into one district: devices, KQIs per SLA class, SLA targets, alerts, "
            "tickets and the district → central link of a two-tier deployment.",
        )
        .with_variable(_datasource())
        .with_variable(_district(multi=False)),
        Row("Devices"),
        # Central and the district's own nocd both export the inventory: count it once.
        _stat("Devices", f"sum(max by (kind) (nocd_inventory_devices{{{sel}}}))", "none",
              _steps("blue")),
        _stat("Up", f'sum(nocd_device_state{{{sel}, state="up"}})', "none", _steps("green")),
        _stat("Down", f'sum(nocd_device_state{{{sel}, state="down"}})', "none", COUNT_BAD),
        _stat("Unknown", f'sum(nocd_device_state{{{sel}, state="unknown"}})', "none", COUNT_WARN),
        _stat("Line availability",
              f'max(nocd_kqi_value{{{sel}, kqi="line_availability_ratio", sla_class="*"}})',
              "percentunit", RATIO_HIGH_GOOD).decimals(3),
        _stat("Customer-minutes lost",
              f'max(nocd_kqi_value{{{sel}, kqi="customer_minutes_lost", sla_class="*"}})',
              "m", _steps("green", (60, "orange"), (600, "red"))),
        state_timeline.Panel()
        .title("Device reachability")
        .with_target(_query(f"max by (device) (nocd_device_up{{{sel}}})", "{{device}}").ref_id("A"))
        .datasource(DS)
        .mappings(UP_MAPPING)
        .unit("none")
        .thresholds(_steps("red", (1, "green")))
        .description("Gaps: the device's verdict is unknown (never polled, or its district is "
                     "silent).")
        .height(8)
        .span(16),
        _bars("Devices by kind", f"max by (kind) (nocd_inventory_devices{{{sel}}})", "{{kind}}",
              "none").thresholds(_steps("blue")),
        Row("Service quality"),
        _kqi_units(
            _table(
                "KQIs by SLA class (current SLA period)",
                _query(f"max by (sla_class, kqi) (nocd_kqi_value{{{sel}}})", instant=True),
            ).with_transformation(_matrix("sla_class", "kqi"))
        ).span(24),
        _table(
            "SLA targets",
            _query(f"max by (target, sla_class, scope) (nocd_sla_sli_ratio{{{sel}}})",
                   instant=True).ref_id("SLI"),
            _query(f"max by (target, sla_class, scope) "
                   f"(nocd_sla_error_budget_remaining_ratio{{{sel}}})",
                   instant=True).ref_id("BUDGET"),
            _query(f"max by (target, sla_class, scope) ({SLA_CODE.format(sel=sel)})",
                   instant=True).ref_id("STATUS"),
        )
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(model.DataTransformerConfig(
            id_val="organize",
            options={"excludeByName": {"Time": True},
                     "renameByName": {"Value #SLI": "SLI", "Value #BUDGET": "error budget left",
                                      "Value #STATUS": "status"}},
        ))
        .override_by_name("SLI", [model.DynamicConfigValue(id_val="unit", value="percentunit"),
                                  model.DynamicConfigValue(id_val="decimals", value=3)])
        .override_by_name("error budget left",
                          [model.DynamicConfigValue(id_val="unit", value="percentunit")])
        .override_by_name("status", [
            model.DynamicConfigValue(id_val="mappings", value=SLA_MAPPING),
            model.DynamicConfigValue(id_val="custom.cellOptions",
                                     value={"type": "color-background"}),
        ])
        .span(24),
        Row("Alerts and tickets"),
        _series("Firing alerts by rule", "none",
                _query(f"sum by (rule) (nocd_alerts_firing{{{sel}}})", "{{rule}}")),
        _bars("Open incidents by severity",
              f"sum by (severity) (nocd_incidents_open{{{sel}}})", "{{severity}}", "none")
        .thresholds(COUNT_BAD).span(6),
        _bars("Open tickets by priority", f"sum by (priority) ({open_tickets})", "{{priority}}",
              "none").thresholds(COUNT_WARN).span(6),
        Row("District → central link (two-tier deployments)"),
        _stat("Central last heard from the district",
              f"max(nocd_district_last_seen_seconds{{{sel}}})", "s",
              _steps("green", (60, "orange"), (180, "red"))),
        _stat("District silent", f"max(nocd_district_silent{{{sel}}})", "none", COUNT_BAD)
        .mappings(_values(("0", "heard", "green"), ("1", "silent", "red"))),
        _series(
            "Outbox backlog of the district's nocd",
            "short",
            # The outbox gauges carry no district label: join them to the process that polls
            # this district's devices.
            _query("nocd_outbox_backlog_items * on (instance) group_left (district) "
                   f"group by (instance, district) (nocd_device_state{{{sel}}})",
                   "items waiting ({{instance}})"),
        ).span(8),
        _series(
            "Oldest unsent item",
            "s",
            _query("nocd_outbox_oldest_age_seconds * on (instance) group_left (district) "
                   f"group by (instance, district) (nocd_device_state{{{sel}}})",
                   "{{instance}}"),
        ).span(8).thresholds(_steps("green", (300, "orange"), (900, "red"))),
    )


def device() -> Dashboard:
    """One device: reachability and availability; ports and uplinks as far as exported."""
    sel = 'district="$district", device="$device"'
    port_rules = 'rule=~"uplink_port_down|uplink_utilisation|port_error_ratio"'
    device_var = (
        QueryVariable("device")
        .label("Device")
        .query('label_values(nocd_device_state{district="$district"}, device)')
        .datasource(DS)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    return _numbered(
        _dashboard(
            "nocd-device",
            "nocd / Device and ports",
            "One device's reachability and availability, its uplinks' throughput and "
            "utilisation, the port alerts (utilisation, errors) of its district. Customer "
            "ports and lines stay in nocd's storage (bounded Prometheus labels).",
        )
        .with_variable(_datasource())
        .with_variable(_district(multi=False))
        .with_variable(device_var),
        Row("Reachability"),
        _stat("State now", f"max by (state) (nocd_device_state{{{sel}}}) == 1", "none",
              _steps("text"), legend="{{state}}")
        .text_mode(common.BigValueTextMode.NAME)
        .override_by_name("up", [model.DynamicConfigValue(id_val="color", value={
            "mode": "fixed", "fixedColor": "green"})])
        .override_by_name("down", [model.DynamicConfigValue(id_val="color", value={
            "mode": "fixed", "fixedColor": "red"})])
        .override_by_name("unknown", [model.DynamicConfigValue(id_val="color", value={
            "mode": "fixed", "fixedColor": "orange"})]),
        _stat("Availability over the time range",
              f"avg_over_time(nocd_device_up{{{sel}}}[$__range])", "percentunit",
              RATIO_HIGH_GOOD).decimals(3)
        .description("Share of scrapes with the device up; unknown periods are not counted."),
        _stat("Port alerts firing in the district",
              f"sum(nocd_alerts_firing{{district=\"$district\", {port_rules}}})", "none",
              COUNT_WARN),
        state_timeline.Panel()
        .title("Reachability")
        .with_target(_query(f"max by (device) (nocd_device_up{{{sel}}})", "{{device}}").ref_id("A"))
        .datasource(DS)
        .mappings(UP_MAPPING)
        .unit("none")
        .thresholds(_steps("red", (1, "green")))
        .height(5)
        .span(12),
        Row("Uplinks of $device"),
        _series(
            "Uplink throughput",
            "bps",
            _query(f"max by (link, direction) (nocd_uplink_bps{{{sel}}})",
                   "{{link}} {{direction}}"),
        ).description("Average of the newest closed 5-minute bucket; in = towards the device."),
        _series(
            "Uplink utilisation (5-minute average and peak poll)",
            "percentunit",
            _query(f"max by (link, direction) (nocd_uplink_utilisation_ratio{{{sel}}})",
                   "{{link}} {{direction}} avg"),
            _query(f"max by (link, direction) (nocd_uplink_utilisation_max_ratio{{{sel}}})",
                   "{{link}} {{direction}} peak"),
        )
        .thresholds(_steps("green", (0.8, "orange"), (0.95, "red")))
        .thresholds_style(common_builders.GraphThresholdsStyleConfig().mode(
            common.GraphThresholdsStyleMode.DASHED))
        .max(1)
        .description("uplink_utilisation warns above 80 % and is critical above 95 % "
                     "(15 minutes each, docs/alerting.md)."),
        _bars("Busiest uplinks in $district (peak poll, newest 5 minutes)",
              'topk(10, max by (device, link) '
              '(nocd_uplink_utilisation_max_ratio{district="$district"}))',
              "{{device}} {{link}}", "percentunit")
        .thresholds(_steps("green", (0.8, "orange"), (0.95, "red"))).max(1).span(12),
        Row("Ports"),
        _note(
            "Per-port throughput, utilisation and errors",
            "Uplinks are exported above; customer ports and lines are not (Prometheus holds "
            "only bounded labels). Ask nocd's API (any token role):\n\n"
            "* throughput: `GET /api/v1/kpis?device=$device&metric=in_bps&resolution=5m` "
            "(also `out_bps`)\n"
            "* utilisation: `GET /api/v1/kpis?device=$device&metric=port_utilisation_ratio"
            "&resolution=1h` (`max` and `p95` per bucket)\n"
            "* errors: `GET /api/v1/kpis?device=$device&metric=port_in_error_ratio"
            "&resolution=1h`\n\n"
            "The nightly SLA report lists the worst ports.",
        ),
        _series(
            "Port alerts firing in $district",
            "none",
            _query(f'sum by (rule, severity) (nocd_alerts_firing{{district="$district", '
                   f"{port_rules}}})", "{{rule}} {{severity}}"),
        ),
        Row("Polling (the nocd processes)"),
        _series(
            "SNMP poll duration p95 by schedule",
            "s",
            _query("histogram_quantile(0.95, sum by (le, schedule) "
                   "(rate(nocd_snmp_poll_duration_seconds_bucket[$__rate_interval])))",
                   "{{schedule}}"),
        ),
        _series(
            "SNMP polls by result",
            "reqps",
            _query("sum by (result) (rate(nocd_snmp_requests_total[$__rate_interval]))",
                   "{{result}}"),
        ),
    )


def dsl() -> Dashboard:
    """DSL line quality from the exported aggregates; per-line values through the API."""
    sel = 'district=~"$district"'
    dsl_rules = 'rule=~"snr_margin_low|line_unstable|dslam_retrain_storm|dslam_wide_area_event"'
    return _numbered(
        _dashboard(
            "nocd-dsl",
            "nocd / DSL line quality",
            "Stable-line and rate-attainment shares per district and SLA class, and the DSL "
            "alerts (SNR margin, unstable lines, retrain storms, wide-area events).",
        )
        .with_variable(_datasource())
        .with_variable(_district(multi=True)),
        Row("Line stability"),
        _stat("Unstable lines", f'sum(nocd_dsl_lines{{{sel}, stability="unstable"}})', "none",
              _steps("green", (1, "orange"), (10, "red")))
        .description("Retrains too often (mean time between retrains below 24 h, or more than "
                     "3 in a 15-minute bin); docs/kpi.md.").span(6),
        _stat("Errored lines", f'sum(nocd_dsl_lines{{{sel}, stability="errored"}})', "none",
              _steps("green", (1, "orange"), (50, "red")))
        .description("Errored seconds too often (mean time between errors below 1 h).").span(6),
        _stat("Marginal lines", f'sum(nocd_dsl_lines{{{sel}, stability="marginal"}})', "none",
              _steps("green", (1, "orange"), (50, "red")))
        .description("SNR margin below 3 dB in 2 or more bins.").span(6),
        gauge.Panel()
        .title("Stable lines")
        .with_target(_query(f'sum(nocd_dsl_lines{{{sel}, stability="stable"}}) / '
                            f'sum(nocd_dsl_lines{{{sel}, stability!="unknown"}})').ref_id("A"))
        .datasource(DS)
        .unit("percentunit")
        .min(0)
        .max(1)
        .decimals(1)
        .thresholds(SHARE_HIGH_GOOD)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .description("Share of lines with a stability class that are stable (internal target "
                     "95 %, [sla] stable-lines-internal).")
        .height(4)
        .span(6),
        _bars("Lines by stability class",
              f"sum by (stability) (nocd_dsl_lines{{{sel}}})", "{{stability}}", "none")
        .thresholds(_steps("blue"))
        .description("From the newest per-line KPIs (unknown: no class yet, e.g. never in "
                     "showtime). Which lines: GET /api/v1/kpis/lines?stability=unstable.")
        .span(12),
        _series(
            "Lines by stability class over time",
            "none",
            _query(f'sum by (stability) (nocd_dsl_lines{{{sel}, stability!="stable"}})',
                   "{{stability}}"),
        ).description("Stable lines left out so the few unstable ones stay visible."),
        _series(
            "Stable-line ratio",
            "percentunit",
            _query(f'max by (district, sla_class) (nocd_kqi_value{{{sel}, '
                   f'kqi="stable_line_ratio"}})', "{{district}} {{sla_class}}"),
        ).thresholds(SHARE_HIGH_GOOD).max(1),
        _bars("Lines not stable (errored, marginal or unstable)",
              f'1 - max by (district) (nocd_kqi_value{{{sel}, kqi="stable_line_ratio", '
              f'sla_class="*"}})', "{{district}}", "percentunit")
        .thresholds(_steps("green", (0.05, "orange"), (0.1, "red"))).max(1).span(12),
        Row("Rates"),
        _series(
            "Rate attainment (lines at their plan rate)",
            "percentunit",
            _query(f'max by (district, sla_class) (nocd_kqi_value{{{sel}, '
                   f'kqi="rate_attainment_ratio"}})', "{{district}} {{sla_class}}"),
        ).thresholds(SHARE_HIGH_GOOD).max(1),
        _note(
            "SNR margin, attenuation, retrains per line",
            "Per-line KPIs are not Prometheus series (no per-line labels). Ask nocd's API:\n\n"
            "* stability class, MTBR/MTBE, rate attainment, headroom per line: "
            "`GET /api/v1/kpis/lines?district=…&stability=unstable`\n"
            "* SNR margin / attenuation history: `GET /api/v1/kpis?device=…"
            "&metric=dsl_snr_margin_down_db&resolution=1h` "
            "(`dsl_attenuation_down_db`, `dsl_full_inits` for retrains)\n\n"
            "Stability classes are stable / errored / marginal / unstable (docs/kpi.md).",
            height=8,
        ),
        Row("DSL alerts"),
        _series(
            "DSL alerts firing by rule",
            "none",
            _query(f"sum by (rule) (nocd_alerts_firing{{{sel}, {dsl_rules}}})", "{{rule}}"),
        ).span(24),
    )


def sla() -> Dashboard:
    """SLI, error budget and burn rate per SLA target."""
    sel = 'district=~"$district|\\\\*", target=~"$target"'
    target_var = (
        QueryVariable("target")
        .label("SLA target")
        .query("label_values(nocd_sla_sli_ratio, target)")
        .datasource(DS)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    return _numbered(
        _dashboard(
            "nocd-sla",
            "nocd / SLA",
            "SLI, error budget left and burn rate of every SLA target in the current reporting "
            "period, per district and for the network (district *).",
        )
        .with_variable(_datasource())
        .with_variable(_district(multi=True))
        .with_variable(target_var),
        Row("Verdicts"),
        _table(
            "SLA targets now",
            _query(f"max by (district, target, scope) (nocd_sla_sli_ratio{{{sel}}})",
                   instant=True).ref_id("SLI"),
            _query(f"max by (district, target, scope) "
                   f"(nocd_sla_error_budget_remaining_ratio{{{sel}}})",
                   instant=True).ref_id("BUDGET"),
            _query(f"max by (district, target, scope) ({SLA_CODE.format(sel=sel)})",
                   instant=True).ref_id("STATUS"),
        )
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(model.DataTransformerConfig(
            id_val="organize",
            options={"excludeByName": {"Time": True},
                     "renameByName": {"Value #SLI": "SLI", "Value #BUDGET": "error budget left",
                                      "Value #STATUS": "status"}},
        ))
        .override_by_name("SLI", [model.DynamicConfigValue(id_val="unit", value="percentunit"),
                                  model.DynamicConfigValue(id_val="decimals", value=3)])
        .override_by_name("error budget left",
                          [model.DynamicConfigValue(id_val="unit", value="percentunit")])
        .override_by_name("status", [
            model.DynamicConfigValue(id_val="mappings", value=SLA_MAPPING),
            model.DynamicConfigValue(id_val="custom.cellOptions",
                                     value={"type": "color-background"}),
        ])
        .span(24),
        gauge.Panel()
        .title("Burn rate now (1 h window)")
        .with_target(_query(f"max by (target) ({BURN_RATE.format(sel=sel, window='1h')})",
                            "{{target}}").ref_id("A"))
        .datasource(DS)
        .unit("none")
        .min(0)
        .max(20)
        .decimals(1)
        .thresholds(_steps("green", (1, "orange"), (14.4, "red")))
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .description("Worst district per target. 1 spends the month's error budget exactly by "
                     "the period's end; 14.4 spends 2 % of it in an hour (page).")
        .height(6)
        .span(24),
        Row("Over time"),
        _series(
            "SLI",
            "percentunit",
            _query(f"max by (district, target) (nocd_sla_sli_ratio{{{sel}}})",
                   "{{district}} {{target}}"),
        ).decimals(3),
        _series(
            "Error budget left",
            "percentunit",
            _query(f"max by (district, target) (nocd_sla_error_budget_remaining_ratio{{{sel}}})",
                   "{{district}} {{target}}"),
        )
        .thresholds(_steps("red", (0, "orange"), (0.25, "green")))
        .thresholds_style(common_builders.GraphThresholdsStyleConfig().mode(
            common.GraphThresholdsStyleMode.DASHED))
        .description("Negative once the SLA is breached; at risk below 25 % (nocd's default)."),
        _series(
            "Burn rate (1 h and 6 h windows)",
            "none",
            _query(f"max by (district, target) ({BURN_RATE.format(sel=sel, window='1h')})",
                   "1h {{district}} {{target}}"),
            _query(f"max by (district, target) ({BURN_RATE.format(sel=sel, window='6h')})",
                   "6h {{district}} {{target}}"),
        )
        .thresholds(_steps("green", (1, "orange"), (14.4, "red")))
        .thresholds_style(common_builders.GraphThresholdsStyleConfig().mode(
            common.GraphThresholdsStyleMode.DASHED))
        .description(
            "Error budget spent per unit of time, scaled so that 1 spends the whole budget by "
            "the end of a 30-day period (the default monthly [sla] period); 14.4 over 1 h spends "
            "2 % of the month's budget in that hour. Derived from the change of "
            "nocd_sla_error_budget_remaining_ratio, so it needs two KQI runs in the window."
        )
        .span(24),
    )


def traffic() -> Dashboard:
    """Uplink load forecasts with their 90 % band, capacity exhaustion dates, uplink alerts."""
    sel = 'district=~"$district"'
    link_sel = f'{sel}, device="$device", link="$link"'
    device_var = (
        QueryVariable("device")
        .label("Device")
        .query('label_values(nocd_forecast_bps{district=~"$district"}, device)')
        .datasource(DS)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    link_var = (
        QueryVariable("link")
        .label("Uplink")
        .query('label_values(nocd_forecast_bps{district=~"$district", device="$device"}, link)')
        .datasource(DS)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
    )
    days = f"nocd_capacity_exhaustion_days{{{sel}}}"
    fixed = {"mode": "fixed", "fixedColor": "blue"}
    return _numbered(
        _dashboard(
            "nocd-traffic",
            "nocd / Traffic and capacity",
            "Uplink peak-load forecasts (24 h and 7 d) with their 90 % prediction band, the "
            "links forecast to exhaust within 90 days, and uplink alerts. The traffic model "
            "runs where the KQIs do (central, or all-in-one), so these series come from there.",
        )
        .with_variable(_datasource())
        .with_variable(_district(multi=True))
        .with_variable(device_var)
        .with_variable(link_var),
        Row("Capacity outlook"),
        _stat("Uplinks exhausting within 90 days", f"count({days} <= 90) or vector(0)", "none",
              COUNT_WARN).description("Busy-hour p95 trend crosses the capacity threshold "
                                      "([traffic] capacity_threshold, 80 %) within 90 days."),
        _stat("Soonest exhaustion", f"min({days})", "d",
              _steps("red", (30, "orange"), (90, "green"))),
        _stat("Since the last traffic-model refit",
              "time() - max(nocd_traffic_refit_timestamp_seconds)", "s",
              _steps("green", (26 * 3600, "orange"), (48 * 3600, "red")))
        .description("The model is refitted daily; forecasts and exhaustion dates are as old "
                     "as this."),
        _table(
            "Uplinks forecast to exhaust (exhaustion date)",
            _query(f"max by (district, device, link) ({days})", instant=True).ref_id("DAYS"),
            _query(f"max by (district, device, link) ((time() + {days} * 86400) * 1000)",
                   instant=True).ref_id("DATE"),
        )
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(model.DataTransformerConfig(
            id_val="organize",
            options={"excludeByName": {"Time": True},
                     "renameByName": {"Value #DAYS": "days left",
                                      "Value #DATE": "exhaustion date"}},
        ))
        .with_transformation(model.DataTransformerConfig(
            id_val="sortBy", options={"sort": [{"field": "days left"}]}))
        .override_by_name("days left", [
            model.DynamicConfigValue(id_val="unit", value="d"),
            model.DynamicConfigValue(id_val="decimals", value=0),
            model.DynamicConfigValue(id_val="thresholds", value={
                "mode": "absolute",
                "steps": [{"value": None, "color": "red"}, {"value": 30, "color": "orange"},
                          {"value": 90, "color": "green"}]}),
            model.DynamicConfigValue(id_val="custom.cellOptions",
                                     value={"type": "color-background"}),
        ])
        .override_by_name("exhaustion date",
                          [model.DynamicConfigValue(id_val="unit", value="dateTimeAsIso")])
        .description("Exhaustion date = now + the forecast days; the date range and the "
                     "reason when no date is issued: GET /api/v1/capacity.")
        .span(24),
        Row("Uplink $link of $device"),
        _series(
            "Peak load forecast with 90 % band: $device $link",
            "bps",
            _query(f'max(nocd_forecast_bps{{{link_sel}, horizon="24h"}})', "forecast 24 h")
            .ref_id("F24"),
            _query(f'max(nocd_forecast_bound_bps{{{link_sel}, horizon="24h", bound="lower"}})',
                   "lower 24 h").ref_id("LOW"),
            _query(f'max(nocd_forecast_bound_bps{{{link_sel}, horizon="24h", bound="upper"}})',
                   "upper 24 h").ref_id("UP"),
            _query(f'max(nocd_forecast_bps{{{link_sel}, horizon="7d"}})', "forecast 7 d")
            .ref_id("F7"),
        )
        .override_by_name("upper 24 h", [
            model.DynamicConfigValue(id_val="custom.fillBelowTo", value="lower 24 h"),
            model.DynamicConfigValue(id_val="custom.fillOpacity", value=20),
            model.DynamicConfigValue(id_val="custom.lineWidth", value=0),
            model.DynamicConfigValue(id_val="color", value=fixed),
        ])
        .override_by_name("lower 24 h", [
            model.DynamicConfigValue(id_val="custom.lineWidth", value=0),
            model.DynamicConfigValue(id_val="color", value=fixed),
        ])
        .description("Peak of the point forecast within the next 24 h / 7 d, and the peaks of "
                     "the 90 % prediction bounds (shaded), as of each daily refit. The whole "
                     "forecast curve: GET /api/v1/forecasts?link=$device/$link.")
        .repeat("link")
        .repeat_direction("h")
        .span(24),
        Row("Uplink alerts"),
        _series(
            "Uplink alerts firing",
            "none",
            _query(f'sum by (district, rule, severity) (nocd_alerts_firing{{{sel}, '
                   f'rule=~"uplink_utilisation|uplink_port_down"}})',
                   "{{district}} {{rule}} {{severity}}"),
        ).span(24),
    )


def tickets() -> Dashboard:
    """The fault-ticket queue, on-time ratios, repair times, breaches and webhooks."""
    sel = 'district=~"$district"'
    return _numbered(
        _dashboard(
            "nocd-tickets",
            "nocd / Tickets",
            "Ticket queue by state and priority, on-site and callback promises, repair time, "
            "timer breaches and outbound webhooks.",
        )
        .with_variable(_datasource())
        .with_variable(_district(multi=True)),
        Row("Queue"),
        _stat("Open tickets", f"sum(nocd_tickets{{{sel}, {OPEN}}})", "none",
              _steps("green", (10, "orange"), (50, "red"))),
        _stat("Open P1 tickets", f'sum(nocd_tickets{{{sel}, {OPEN}, priority="P1"}}) or vector(0)',
              "none", COUNT_BAD),
        _stat("On site within the promise",
              f"min(nocd_ticket_on_time_arrival_ratio{{{sel}}})", "percentunit", SHARE_HIGH_GOOD)
        .description("Worst district: arrivals within 30 min of dispatch (or the appointment), "
                     "over [tickets] metrics_window_days."),
        _stat("Callbacks done", f"min(nocd_ticket_callback_done_ratio{{{sel}}})", "percentunit",
              _steps("red", (0.98, "orange"), (1, "green")))
        .description("Worst district; the promise is 100 % (回访) before a ticket closes."),
        _stat("Timer breaches in the range",
              "sum(increase(nocd_ticket_breaches_total[$__range]))", "none", COUNT_WARN),
        _stat("Webhook deliveries pending", 'sum(nocd_webhook_outbox_items{state="pending"})',
              "none", _steps("green", (100, "orange"), (1000, "red"))),
        _table(
            "Tickets by state and priority",
            _query(f"sum by (state, priority) (nocd_tickets{{{sel}}})", instant=True),
        ).with_transformation(_matrix("state", "priority")),
        _series(
            "Open tickets by priority",
            "none",
            _query(f"sum by (priority) (nocd_tickets{{{sel}, {OPEN}}})", "{{priority}}"),
        ),
        Row("Promises"),
        _series(
            "On-site arrival within the promise",
            "percentunit",
            _query(f"max by (district) (nocd_ticket_on_time_arrival_ratio{{{sel}}})",
                   "{{district}}"),
        ).thresholds(SHARE_HIGH_GOOD).max(1),
        _series(
            "Callback done",
            "percentunit",
            _query(f"max by (district) (nocd_ticket_callback_done_ratio{{{sel}}})",
                   "{{district}}"),
        ).max(1),
        _series(
            "Repair time (open → resolved), all districts",
            "s",
            _query("histogram_quantile(0.5, sum by (le) "
                   "(increase(nocd_ticket_repair_seconds_bucket[$__range])))", "median"),
            _query("histogram_quantile(0.8, sum by (le) "
                   "(increase(nocd_ticket_repair_seconds_bucket[$__range])))", "p80"),
            _query("histogram_quantile(0.95, sum by (le) "
                   "(increase(nocd_ticket_repair_seconds_bucket[$__range])))", "p95"),
        ).description("From nocd_ticket_repair_seconds (no district label); per-district "
                      "repair-time KQIs are in the SLA report."),
        _bars("Timer breaches by timer",
              "sum by (timer) (increase(nocd_ticket_breaches_total[$__range]))", "{{timer}}",
              "none").thresholds(COUNT_WARN).span(12),
        Row("Webhooks"),
        _series(
            "Webhook outbox",
            "none",
            _query("sum by (state) (nocd_webhook_outbox_items)", "{{state}}"),
        ),
        _series(
            "Webhook attempts by result",
            "reqps",
            _query("sum by (result) (rate(nocd_webhook_deliveries_total[$__rate_interval]))",
                   "{{result}}"),
        ),
    )


DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "nocd-overview": overview,
    "nocd-district": district,
    "nocd-device": device,
    "nocd-dsl": dsl,
    "nocd-sla": sla,
    "nocd-traffic": traffic,
    "nocd-tickets": tickets,
}


def render(build: Callable[[], Dashboard]) -> str:
    """One dashboard as the JSON text committed under dashboards/."""
    encoded = JSONEncoder(sort_keys=True, indent=2).encode(build().build())
    # Through json once more, so that the file is plain JSON however the encoder spaces it.
    return json.dumps(json.loads(encoded), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a JSON file is stale")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = HERE / f"{name}.json"
        content = render(build)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                stale.append(path.name)
        else:
            path.write_text(content, encoding="utf-8")
    if stale:
        sys.stderr.write(f"stale: {', '.join(stale)}; run: uv run python dashboards/build.py\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
