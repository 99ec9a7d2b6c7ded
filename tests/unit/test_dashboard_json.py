"""The committed Grafana dashboards: built by dashboards/build.py, and valid for Grafana.

What is checked without Grafana: the JSON equals the build script's output (no drift), the
SDK's own model reads it back, ids and uids are unique, every query goes through the
``${datasource}`` variable, every variable used is defined (or a Grafana built-in), every
data panel has a unit, thresholds ascend, and every metric name is one nocd declares.
Whether each query returns data from a real nocd is tests/integration/test_dashboards.py.
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from types import ModuleType

import pytest

from tests.conftest import REPO
from tests.fixtures.dashboards import (
    BUILTINS,
    DASHBOARDS,
    Dashboard,
    label_values_query,
    load_dashboards,
    panels,
    targets,
    variables_used,
)

pytest.importorskip("grafana_foundation_sdk", reason="dev dependency grafana-foundation-sdk")

ALL = load_dashboards()
IDS = [d.uid for d in ALL]
MIN_SCHEMA_VERSION = 39  # Grafana 10.4; the SDK writes 41 (Grafana 11.6)
DATA_PANELS = {"stat", "timeseries", "table", "bargauge", "state-timeline", "gauge"}
# Identifiers before a "{" or "[" in PromQL are metric names (functions take "(").
METRIC = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]")
NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboards_build", DASHBOARDS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _declared_metrics() -> set[str]:
    """Every sample name nocd can expose, from the names declared in its source."""
    names: set[str] = set()
    for path in [*(REPO / "nocd").rglob("*.py"), *(REPO / "alerting").rglob("*.py")]:
        names.update(re.findall(r'"(nocd_[a-z0-9_]+)"', path.read_text(encoding="utf-8")))
    suffixes = ("", "_total", "_info", "_bucket", "_count", "_sum")
    return {name + suffix for name in names for suffix in suffixes}


def test_the_committed_json_is_what_the_build_script_writes() -> None:
    build = _build_module()
    assert {f"{name}.json" for name in build.DASHBOARDS} == {d.path.name for d in ALL}
    for name, make in build.DASHBOARDS.items():
        committed = (DASHBOARDS / f"{name}.json").read_text(encoding="utf-8")
        assert committed == build.render(make), (
            f"dashboards/{name}.json is stale: run `uv run python dashboards/build.py`"
        )


@pytest.mark.parametrize("dash", ALL, ids=IDS)
def test_the_sdk_model_reads_the_dashboard_back(dash: Dashboard) -> None:
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

    register_default_plugins()
    model = DashboardModel.from_json(dash.json)
    assert model.uid == dash.uid
    assert len(model.panels or []) == len(dash.json["panels"])


def test_uids_and_titles_are_unique_across_dashboards() -> None:
    assert len(set(IDS)) == len(IDS)
    titles = [d.json["title"] for d in ALL]
    assert len(set(titles)) == len(titles)
    assert all(uid.startswith("nocd-") for uid in IDS)


@pytest.mark.parametrize("dash", ALL, ids=IDS)
def test_schema_version_tags_and_unique_panel_ids(dash: Dashboard) -> None:
    assert isinstance(dash.json.get("schemaVersion"), int)
    assert dash.json["schemaVersion"] >= MIN_SCHEMA_VERSION
    assert "nocd" in dash.json["tags"]
    ids = Counter(panel.get("id") for panel in panels(dash))
    assert None not in ids, "every panel has an id"
    assert [i for i, n in ids.items() if n > 1] == []


@pytest.mark.parametrize("dash", ALL, ids=IDS)
def test_every_query_uses_the_datasource_variable(dash: Dashboard) -> None:
    variables = dash.variables()
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    wanted = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels(dash):
        if panel["type"] in DATA_PANELS:
            assert panel.get("datasource") == wanted, panel["title"]
            assert panel.get("targets"), f"{panel['title']}: no query"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == wanted, variable["name"]
    for panel, target in targets(dash):
        assert target.get("datasource") == wanted, panel["title"]
        assert target.get("expr", "").strip(), panel["title"]
    for panel in panels(dash):
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert all(refs) and len(set(refs)) == len(refs), (panel["title"], refs)


@pytest.mark.parametrize("dash", ALL, ids=IDS)
def test_every_variable_used_is_defined_and_resolvable(dash: Dashboard) -> None:
    variables = dash.variables()
    defined = set(variables) | BUILTINS
    texts = [t["expr"] for _, t in targets(dash)]
    texts += [p.get("title", "") for p in panels(dash)]
    texts += [str(v.get("query", "")) for v in variables.values()]
    used = set().union(*(variables_used(text) for text in texts))
    assert used - defined == set()
    order = list(variables)
    for name, variable in variables.items():
        if variable["type"] != "query":
            continue
        selector, _label = label_values_query(variable["query"])
        # A variable may only depend on variables defined before it (Grafana resolves in order).
        for dependency in variables_used(selector or ""):
            assert order.index(dependency) < order.index(name), (name, dependency)


@pytest.mark.parametrize("dash", ALL, ids=IDS)
def test_data_panels_have_units_and_ascending_thresholds(dash: Dashboard) -> None:
    for panel in panels(dash):
        if panel["type"] not in DATA_PANELS:
            continue
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        assert defaults.get("unit"), f"{panel['title']}: no unit"
        steps = defaults.get("thresholds", {}).get("steps")
        if panel["type"] in {"stat", "bargauge"}:
            assert steps, f"{panel['title']}: no thresholds"
        if steps:
            assert steps[0]["value"] is None, f"{panel['title']}: first step is the base"
            values = [s["value"] for s in steps[1:]]
            assert values == sorted(values), f"{panel['title']}: thresholds {values}"


@pytest.mark.parametrize("dash", ALL, ids=IDS)
def test_queries_name_only_metrics_nocd_declares(dash: Dashboard) -> None:
    declared = _declared_metrics()
    for panel, target in targets(dash):
        expr = re.sub(r'"[^"]*"', '""', target["expr"])  # label values are not names
        names = set(re.findall(r"\bnocd_\w+", expr))
        assert names, f"{panel['title']}: no nocd metric in {target['expr']}"
        others = {m for m in METRIC.findall(expr) if m not in NOT_METRICS} - names
        assert others == set(), f"{panel['title']}: not nocd metrics: {others}"
        assert names <= declared, f"{panel['title']}: not exported by nocd: {names - declared}"


def test_provisioning_files_point_grafana_at_prometheus_and_the_dashboard_folder() -> None:
    import yaml

    provisioning = DASHBOARDS / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "nocd.yaml").read_text())
    assert datasources["apiVersion"] == 1
    assert [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    providers = yaml.safe_load((provisioning / "dashboards" / "nocd.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
