"""The lab generator: sorted .snmprec files, plausible DSL values, a coherent inventory."""

from __future__ import annotations

import math
import random
import runpy
from collections import Counter
from pathlib import Path

import pytest
import yaml

from collectors.lab import (
    SYNTHETIC_NOTE,
    Fault,
    Lab,
    LabPlan,
    LabSpec,
    LabState,
    dsl_line_params,
)
from collectors.lab_variation import MODULE_NAME, MODULE_PATH
from collectors.mibs import adsl_line_mib as adsl
from collectors.mibs import if_mib

SPEC = LabSpec(districts=2, aggregation=1, dslams=2, lines=10, switches=1, access_ports=24,
               seed=5)
VDSL2_BAND_SNR = "1.3.6.1.2.1.10.251.1.1.2.1.4"
XDSL2_CH_RATE = "1.3.6.1.2.1.10.251.1.2.2.1.2"


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> LabPlan:
    return Lab.generate(SPEC, tmp_path_factory.mktemp("lab"))


def _records(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        oid, tag, value = line.split("|", 2)
        rows.append((oid, tag, value))
    return rows


def _column(rows: list[tuple[str, str, str]], column: str) -> dict[str, str]:
    prefix = column + "."
    return {oid[len(prefix) :]: value for oid, _t, value in rows if oid.startswith(prefix)}


def test_every_snmprec_file_is_sorted_parseable_and_marked_synthetic(plan: LabPlan) -> None:
    files = sorted((plan.lab_dir / "data").glob("*.snmprec"))
    assert [f.stem for f in files] == sorted(d.name for d in plan.devices)
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# SYNTHETIC"), f"{path.name}: header says synthetic"
        rows = _records(path)
        keys = [tuple(int(p) for p in oid.split(".")) for oid, _t, _v in rows]
        assert keys == sorted(keys), f"{path.name}: records in OID order"
        assert len(set(keys)) == len(keys), f"{path.name}: no duplicate OID"
        for oid, tag, value in rows:
            base, module = tag.split(":")
            assert module == MODULE_NAME, f"{path.name} {oid}: every record goes through the lab"
            assert base in {"2", "4", "4x", "6", "65", "66", "67", "70"}, f"{oid}: tag {tag}"
            assert value, f"{oid}: value spec present"


def test_row_counts_follow_the_spec(plan: LabPlan) -> None:
    by_kind = Counter(d.kind for d in plan.devices)
    assert by_kind == {"aggregation": 2, "access_switch": 2, "dslam": 4}
    assert len(plan.lines) == 4 * SPEC.lines
    for dev in plan.devices:
        rows = _records(plan.lab_dir / "data" / f"{dev.name}.snmprec")
        names = _column(rows, if_mib.IF_NAME)
        hc_in = _column(rows, if_mib.IF_HC_IN_OCTETS)
        assert set(names) == set(hc_in), f"{dev.name}: every interface has ifHCInOctets"
        if dev.kind == "access_switch":
            assert len(names) == SPEC.access_ports + 2
        elif dev.kind == "aggregation":
            assert len(names) == 2 + SPEC.switches + SPEC.dslams
        elif dev.technology == "adsl2plus":
            assert len(names) == 1 + 2 * SPEC.lines, "uplink, lines and their channels"
            assert len(_column(rows, adsl.ATUR_CURR_SNR_MGN)) == SPEC.lines
            assert len(_column(rows, adsl.ATUC_CHAN_CURR_TX_RATE)) == SPEC.lines
        else:
            assert len(names) == 1 + SPEC.lines
            assert len(_column(rows, VDSL2_BAND_SNR)) == 8 * SPEC.lines, "8 bands per line"
            assert len(_column(rows, XDSL2_CH_RATE)) == 2 * SPEC.lines, "xtuc and xtur"
    assert {d.technology for d in plan.devices if d.kind == "dslam"} == {"adsl2plus", "vdsl2"}


def test_generation_is_deterministic_for_a_seed(plan: LabPlan, tmp_path: Path) -> None:
    again = Lab.generate(SPEC, tmp_path)
    for dev in plan.devices:
        name = f"{dev.name}.snmprec"
        first = (plan.lab_dir / "data" / name).read_bytes()
        assert first == (tmp_path / "data" / name).read_bytes()
    assert again.lines == plan.lines


@pytest.mark.parametrize(
    ("technology", "loop_m", "plan", "attn_down_db", "attainable_down_kbps"),
    [
        ("adsl2plus", 300, (8192, 1024), (3.0, 6.5), (21000, 26500)),
        ("adsl2plus", 2000, (8192, 1024), (27.0, 29.5), (12500, 15000)),
        ("adsl2plus", 4500, (4096, 512), (62.0, 64.0), (2200, 2700)),
        ("vdsl2", 150, (102400, 20480), (4.0, 6.0), (110000, 130000)),
        ("vdsl2", 1000, (51200, 10240), (30.0, 31.5), (34000, 40000)),
    ],
    ids=["adsl-short", "adsl-2km", "adsl-long", "vdsl-short", "vdsl-1km"],
)
def test_dsl_values_are_plausible_for_the_loop_length(
    technology: str,
    loop_m: int,
    plan: tuple[int, int],
    attn_down_db: tuple[float, float],
    attainable_down_kbps: tuple[int, int],
) -> None:
    """Attenuation ≈ 13.8 dB/km (ADSL, 300 kHz) or 30 dB/km (VDSL2 aggregate); rate from reach."""
    for seed in range(20):
        p = dsl_line_params(technology, loop_m, plan[0], plan[1], random.Random(seed))
        assert attn_down_db[0] <= p["attn_down_tenth_db"] / 10 <= attn_down_db[1]
        assert p["attn_up_tenth_db"] < p["attn_down_tenth_db"], "upstream bands lose less"
        assert attainable_down_kbps[0] <= p["attainable_down_kbps"] <= attainable_down_kbps[1]
        assert p["actual_down_kbps"] <= min(plan[0], p["attainable_down_kbps"])
        assert p["actual_up_kbps"] <= min(plan[1], p["attainable_up_kbps"])
        for key in ("snr_down_tenth_db", "snr_up_tenth_db"):
            assert 0 <= p[key] <= 310, f"{key} within the 0..31 dB DSLAMs report"
        if p["actual_down_kbps"] < plan[0]:
            assert p["snr_down_tenth_db"] <= 70, "a line short of its plan runs at target margin"


def test_generated_lines_lose_rate_and_gain_attenuation_with_length(plan: LabPlan) -> None:
    for tech in ("adsl2plus", "vdsl2"):
        lines = sorted((ln for ln in plan.lines if ln.technology == tech), key=lambda x: x.loop_m)
        short, long_ = lines[: len(lines) // 3], lines[-(len(lines) // 3) :]
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        assert mean([x.attn_down_tenth_db for x in short]) < mean(
            [x.attn_down_tenth_db for x in long_]
        )
        assert mean([x.attainable_down_kbps for x in short]) > mean(
            [x.attainable_down_kbps for x in long_]
        )


def test_inventory_lists_every_device_once_with_valid_parents(plan: LabPlan) -> None:
    text = plan.inventory_path.read_text(encoding="utf-8")
    assert text.startswith("# SYNTHETIC")
    doc = yaml.safe_load(text)
    assert set(doc) == {"districts", "devices", "customers", "lines"}
    names = [d["name"] for d in doc["devices"]]
    assert len(names) == len(set(names)) == len(plan.devices)
    kinds = {d["name"]: d["kind"] for d in doc["devices"]}
    districts = {d["id"] for d in doc["districts"]}
    addresses = [(d["address"], d["port"]) for d in doc["devices"]]
    assert len(set(addresses)) == len(addresses), "one endpoint per device"
    for dev in doc["devices"]:
        assert dev["district"] in districts
        assert dev["address"].startswith("127.")
        assert dev["snmp"] == {"version": "2c", "community": dev["name"]}
        if dev["kind"] == "aggregation":
            assert "parent" not in dev
        else:
            assert kinds[dev["parent"]] == "aggregation", f"{dev['name']} hangs off an agg switch"
    customers = {c["id"]: c["sla_class"] for c in doc["customers"]}
    assert len(customers) == len(doc["customers"]) == len(doc["lines"])
    assert set(customers.values()) <= {"residential", "business", "enterprise"}
    for line in doc["lines"]:
        assert kinds[line["device"]] == "dslam"
        assert line["customer"] in customers
        assert line["plan_down_kbps"] > line["plan_up_kbps"] > 0
    keys = [(ln["device"], ln["ifindex"]) for ln in doc["lines"]]
    assert len(set(keys)) == len(keys)


def test_state_file_switches_faults_atomically(tmp_path: Path) -> None:
    state = LabState(tmp_path / "state" / "faults.json")
    state.reset(epoch=1000.0, booted_at={"dev": 10.0})
    state.set_fault("dev", Fault.SNR_COLLAPSE, lines=[1003, 1001], margin_db=0.5)
    state.set_fault("dev", Fault.SLOW, delay_s=3)
    faults = state.read()["devices"]["dev"]["faults"]
    assert faults == {"snr_collapse": {"lines": [1001, 1003], "margin_db": 0.5},
                      "slow": {"delay_s": 3}}
    state.clear_fault("dev", Fault.SLOW)
    assert list(state.read()["devices"]["dev"]["faults"]) == ["snr_collapse"]
    state.clear_all()
    assert state.read()["devices"]["dev"] == {"booted_at": 10.0, "faults": {}}
    assert not list((tmp_path / "state").glob("*.tmp")), "no temporary file left behind"


def test_diurnal_shape_has_mean_one_and_peaks_in_the_evening() -> None:
    module = runpy.run_path(str(MODULE_PATH))
    shape, integral = module["shape"], module["shape_integral"]
    samples = [shape(h * 60.0) for h in range(24 * 60)]
    assert math.isclose(sum(samples) / len(samples), 1.0, abs_tol=1e-9)
    peak_hour = max(range(24), key=lambda h: shape(h * 3600.0))
    trough_hour = min(range(24), key=lambda h: shape(h * 3600.0))
    assert 19 <= peak_hour <= 22 and 3 <= trough_hour <= 13
    day = integral(86400.0, 0.0) - integral(0.0, 0.0)
    assert math.isclose(day, 86400.0, rel_tol=1e-9), "one day carries one mean day of traffic"


def test_synthetic_note_names_the_templates() -> None:
    assert "Teldat" in SYNTHETIC_NOTE and "DrayTek" in SYNTHETIC_NOTE


def test_inventory_parses_with_nocds_own_inventory_reader(plan: LabPlan) -> None:
    """The file ``nocd inventory import`` reads: no row problems, every row kept."""
    from nocd.inventory import read_inventory

    doc = read_inventory(plan.inventory_path)
    assert doc.problems == ()
    assert doc.devices is not None and len(doc.devices) == len(plan.devices)
    assert doc.lines is not None and len(doc.lines) == len(plan.lines)
