"""HOST-RESOURCES-MIB and vendor CPU/memory tables."""

from __future__ import annotations

from collectors.mibs import host_resources_mib as hr
from collectors.mibs.vendor_resources import ResourceColumns, parse_vendor_resources
from tests.conftest import require_shared_data
from tests.unit.collectors.snmprec import load_table


def test_host_resources_hand_built_ram_and_cpu():
    table = {
        hr.HR_PROCESSOR_LOAD: {"768": 10, "769": 30, "770": b"x"},
        hr.HR_STORAGE_TYPE: {"1": hr.HR_STORAGE_RAM, "2": "1.3.6.1.2.1.25.2.1.4"},
        hr.HR_STORAGE_ALLOCATION_UNITS: {"1": 1024, "2": 4096},
        hr.HR_STORAGE_SIZE: {"1": 1000, "2": 10},
        hr.HR_STORAGE_USED: {"1": 250, "2": 5},
    }
    res = hr.parse_host_resources(table)
    assert res.cpu_load_percent == 20.0
    assert (res.memory_used_bytes, res.memory_total_bytes) == (256_000, 1_024_000)
    assert res.memory_used_percent == 25.0


def test_host_resources_empty_is_missing():
    res = hr.parse_host_resources({})
    assert res.cpu_load_percent is None and res.memory_used_bytes is None


def test_host_resources_draytek_odd_index_zero():
    path = require_shared_data("snmprec", "draytek_vdsl.snmprec")
    res = hr.parse_host_resources(load_table(path, hr.COLUMNS))
    assert res.cpu_load_percent == 3.0


def test_vendor_resources_ignore_placeholder_rows():
    spec = ResourceColumns(cpu_percent="1.1", memory_percent="1.2", ignore_values=frozenset({-1}))
    res = parse_vendor_resources({"1.1": {"0.0": 11, "0.8": -1, "0.9": 13}, "1.2": {"0": 40}}, spec)
    assert res.cpu_load_percent == 12.0
    assert res.memory_used_percent == 40.0


def test_vendor_resources_used_free_bytes():
    spec = ResourceColumns(memory_used="2.5", memory_free="2.6")
    res = parse_vendor_resources({"2.5": {"1": 300}, "2.6": {"1": 700}}, spec)
    assert (res.memory_used_bytes, res.memory_total_bytes, res.memory_used_percent) == (
        300,
        1000,
        30.0,
    )
