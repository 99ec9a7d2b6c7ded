"""IF-MIB parser on real recordings and on hand-built tables."""

from __future__ import annotations

import pytest

from collectors.mibs import if_mib, snmpv2_mib
from collectors.samples import IfStatus
from tests.conftest import require_shared_data
from tests.unit.collectors.snmprec import load_row, load_table

# file, interfaces, interfaces with Counter64 ifHCIn/OutOctets — from shared SOURCES.md.
RECORDINGS = [
    ("zxdsl.snmprec", 258, 258),
    ("ies5000_5005.snmprec", 32, 32),
    ("ies5000_5106.snmprec", 56, 56),
    ("nokia-isam.snmprec", 231, 0),
    ("smartax.snmprec", 42, 42),
    ("smartax-mdu.snmprec", 30, 30),
    ("axos_e7-2.snmprec", 249, 16),
    ("teldat_tv-base-vdsl2-adsl.snmprec", 17, 0),
    ("draytek_vdsl.snmprec", 11, 0),
    ("huawei-s5720.snmprec.bz2", 39, 39),
    ("h3c-e528-2.snmprec.bz2", 31, 31),
    ("zte-zxr10-5250.snmprec.bz2", 52, 52),
    ("cisco-c3560.snmprec.bz2", 57, 56),
    ("cisco-c3750.snmprec.bz2", 19, 15),
    ("h3c-comware-7-1-075.snmprec.bz2", 91, 91),
    ("zte-zrx10.snmprec.bz2", 221, 216),
    ("juniper-mx960-13-3r9-13.snmprec.bz2", 61, 61),
    ("iosxr_asr9001.snmprec", 67, 57),
    ("vrp_ne8000-m8.snmprec", 19, 19),
]


@pytest.mark.parametrize(("name", "ifaces", "hc"), RECORDINGS, ids=[r[0] for r in RECORDINGS])
def test_parse_interfaces_counts_every_recorded_interface(name, ifaces, hc):
    path = require_shared_data("snmprec", name)
    rows = if_mib.parse_interfaces(load_table(path, if_mib.COLUMNS))
    assert len(rows) == ifaces
    assert sum(r.octets_64bit for r in rows) == hc
    assert [r.ifindex for r in rows] == sorted({r.ifindex for r in rows})


def test_parse_interfaces_zxdsl_vdsl_port_spot_check():
    """ZTE ZXDSL 9806: trimmed LibreNMS file (no ifIndex, no ifSpeed, no 32-bit octets)."""
    path = require_shared_data("snmprec", "zxdsl.snmprec")
    rows = {r.ifindex: r for r in if_mib.parse_interfaces(load_table(path, if_mib.COLUMNS))}
    vdsl = [r for r in rows.values() if r.if_type == 97]
    assert len(vdsl) == 256
    port = rows[65]
    assert port.octets_64bit
    assert port.in_octets == 47231229354
    assert port.name is not None


def test_parse_interfaces_nokia_octet_string_counter_falls_back_to_32_bit():
    """Nokia ISAM records its only ifHCInOctets as OCTET STRING: no crash, no 64-bit flag."""
    path = require_shared_data("snmprec", "nokia-isam.snmprec")
    rows = {r.ifindex: r for r in if_mib.parse_interfaces(load_table(path, if_mib.COLUMNS))}
    odd = rows[1079377920]
    assert odd.octets_64bit is False
    assert odd.in_octets is None or isinstance(odd.in_octets, int)


def test_parse_interfaces_draytek_precise_if_speed_without_if_x_table():
    path = require_shared_data("snmprec", "draytek_vdsl.snmprec")
    rows = {r.ifindex: r for r in if_mib.parse_interfaces(load_table(path, if_mib.COLUMNS))}
    assert rows[4].speed_bps == 110_162_000
    assert rows[4].if_type == 251
    assert rows[4].name == "VDSL 08-0B-00-0F-00-07"


@pytest.mark.parametrize(
    ("name", "sys_object_id"),
    [
        ("zxdsl.snmprec", "1.3.6.1.4.1.3902.1004.9806.22.1.1.1"),
        ("cisco-c3560.snmprec.bz2", "1.3.6.1.4.1.9.1.617"),
        ("h3c-e528-2.snmprec.bz2", "1.3.6.1.4.1.25506.1.578"),
    ],
)
def test_parse_system_reads_recorded_system_group(name, sys_object_id):
    path = require_shared_data("snmprec", name)
    info = snmpv2_mib.parse_system(load_row(path, snmpv2_mib.SCALARS))
    assert info.sys_object_id == sys_object_id
    assert info.sys_descr


IFX = if_mib
SPEED_CASES = [
    ("ifHighSpeed preferred above 4.29 Gbit/s", 2**32 - 1, 10_000, 10_000_000_000),
    ("ifSpeed kept when it is the more precise", 110_162_000, 110, 110_162_000),
    ("sub-Mbit/s line: ifHighSpeed 0", 460_800, 0, 460_800),
    ("only ifHighSpeed", None, 1000, 1_000_000_000),
    ("only ifSpeed", 100_000_000, None, 100_000_000),
    ("both zero is unknown", 0, 0, None),
    ("disagreeing ifSpeed loses to ifHighSpeed", 10_000_000, 1000, 1_000_000_000),
    ("OCTET STRING speed is missing", b"\x00", None, None),
]


@pytest.mark.parametrize(
    ("description", "if_speed", "high", "expected"), SPEED_CASES, ids=[c[0] for c in SPEED_CASES]
)
def test_parse_interfaces_speed(description, if_speed, high, expected):
    table = {IFX.IF_DESCR: {"1": b"eth0"}}
    if if_speed is not None:
        table[IFX.IF_SPEED] = {"1": if_speed}
    if high is not None:
        table[IFX.IF_HIGH_SPEED] = {"1": high}
    (row,) = IFX.parse_interfaces(table)
    assert row.speed_bps == expected, description


def test_parse_interfaces_hand_built_prefers_64_bit_and_maps_status():
    table = {
        IFX.IF_DESCR: {"3": b"GigabitEthernet0/3\x00\x00"},
        IFX.IF_OPER_STATUS: {"3": 7},
        IFX.IF_ADMIN_STATUS: {"3": 1},
        IFX.IF_IN_OCTETS: {"3": 5},
        IFX.IF_OUT_OCTETS: {"3": 6},
        IFX.IF_HC_IN_OCTETS: {"3": 2**40},
        IFX.IF_HC_OUT_OCTETS: {"3": 2**41},
        IFX.IF_IN_ERRORS: {"3": "1.3.6"},  # wrong type → missing
        IFX.IF_COUNTER_DISCONTINUITY_TIME: {"3": 1234},
        IFX.IF_ALIAS: {"3": b""},
    }
    (row,) = IFX.parse_interfaces(table)
    assert row.name == "GigabitEthernet0/3"
    assert row.oper_status is IfStatus.LOWER_LAYER_DOWN
    assert row.admin_status is IfStatus.UP
    assert (row.in_octets, row.out_octets, row.octets_64bit) == (2**40, 2**41, True)
    assert row.in_errors is None
    assert row.alias is None
    assert row.counter_discontinuity_ticks == 1234


def test_parse_interfaces_half_64_bit_falls_back_to_32_bit_for_both_directions():
    table = {
        IFX.IF_IN_OCTETS: {"1": 10},
        IFX.IF_OUT_OCTETS: {"1": 20},
        IFX.IF_HC_IN_OCTETS: {"1": 1000},
        IFX.IF_HC_OUT_OCTETS: {"1": b"\x00" * 8},
    }
    (row,) = IFX.parse_interfaces(table)
    assert (row.in_octets, row.out_octets, row.octets_64bit) == (10, 20, False)


def test_parse_interfaces_ignores_non_ifindex_suffixes():
    table = {IFX.IF_DESCR: {"1": b"a", "1.2": b"stray", "x": b"bad"}}
    assert [r.ifindex for r in IFX.parse_interfaces(table)] == [1]


def test_parse_if_stack_keeps_active_pairs_without_zero():
    table = {IFX.IF_STACK_STATUS: {"12.11": 1, "13.11": 1, "0.12": 1, "11.0": 1, "14.2": 2}}
    assert IFX.parse_if_stack(table) == {12: (11,), 13: (11,)}
