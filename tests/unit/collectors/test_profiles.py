"""Profile matching for every recording's sysObjectID, probing, and profile consistency."""

from __future__ import annotations

import pytest

from collectors.mibs import snmpv2_mib
from collectors.mibs.vendor_resources import parse_vendor_resources
from collectors.profiles import (
    PROBE_OIDS,
    PROFILES,
    TABLE_COLUMNS,
    DeviceKind,
    MibTable,
    columns_for,
    match_profile,
    profile_by_name,
)
from tests.conftest import require_shared_data
from tests.unit.collectors.snmprec import load_row, load_table

# recording, its sysObjectID (from the file), expected profile
RECORDED = [
    ("zxdsl.snmprec", "1.3.6.1.4.1.3902.1004.9806.22.1.1.1", "zte-zxdsl-9806"),
    ("ies5000_5005.snmprec", "1.3.6.1.4.1.890.1.5.13.7", "zyxel-ies5000"),
    ("ies5000_5106.snmprec", "1.3.6.1.4.1.890.1.5.13.10", "zyxel-ies5000"),
    ("nokia-isam.snmprec", "1.3.6.1.4.1.637.61.1", "nokia-isam"),
    ("smartax.snmprec", "1.3.6.1.4.1.2011.2.123", "huawei-smartax-olt"),
    ("smartax-mdu.snmprec", "1.3.6.1.4.1.2011.2.185", "huawei-smartax-mdu"),
    ("axos_e7-2.snmprec", "1.3.6.1.4.1.6321.1.2.4.1.1", "calix-axos"),
    ("teldat_tv-base-vdsl2-adsl.snmprec", "1.3.6.1.4.1.2007.1.1.191", "teldat"),
    ("draytek_vdsl.snmprec", "1.3.6.1.4.1.7367", "draytek-vigor"),
    ("huawei-s5720.snmprec.bz2", "1.3.6.1.4.1.2011.2.23.276", "huawei-vrp-switch"),
    ("h3c-e528-2.snmprec.bz2", "1.3.6.1.4.1.25506.1.578", "h3c-comware-switch"),
    ("zte-zxr10-5250.snmprec.bz2", "1.3.6.1.4.1.3902.3.100.614", "zte-zxr10-access"),
    ("cisco-c3560.snmprec.bz2", "1.3.6.1.4.1.9.1.617", "cisco-catalyst"),
    ("cisco-c3750.snmprec.bz2", "1.3.6.1.4.1.9.1.516", "cisco-catalyst"),
    ("h3c-comware-7-1-075.snmprec.bz2", "1.3.6.1.4.1.25506.1.921", "h3c-comware-router"),
    ("zte-zrx10.snmprec.bz2", "1.3.6.1.4.1.3902.3.600.3.1.601", "zte-zxr10-core"),
    ("juniper-mx960-13-3r9-13.snmprec.bz2", "1.3.6.1.4.1.2636.1.1.1.2.21", "juniper-junos"),
    ("iosxr_asr9001.snmprec", "1.3.6.1.4.1.9.1.1639", "cisco-ios-xr"),
    ("vrp_ne8000-m8.snmprec", "1.3.6.1.4.1.2011.2.360.1.9", "huawei-vrp-router"),
]
IDS = [r[0] for r in RECORDED]


@pytest.mark.parametrize(("name", "sys_object_id", "expected"), RECORDED, ids=IDS)
def test_match_profile_by_sys_object_id(name, sys_object_id, expected):
    assert match_profile(sys_object_id).name == expected, name


@pytest.mark.parametrize(("name", "sys_object_id", "expected"), RECORDED, ids=IDS)
def test_recording_sys_object_id_is_the_one_in_the_table(name, sys_object_id, expected):
    path = require_shared_data("snmprec", name)
    info = snmpv2_mib.parse_system(load_row(path, snmpv2_mib.SCALARS))
    assert info.sys_object_id == sys_object_id
    assert name in profile_by_name(expected).recordings


MATCHING = [
    ("unknown vendor, nothing answers", "1.3.6.1.4.1.99999.1", set(), "generic-switch"),
    ("no sysObjectID at all", None, set(), "generic-switch"),
    ("leading dot accepted", ".1.3.6.1.4.1.2636.1.1.1.2.21", set(), "juniper-junos"),
    (
        "lab ADSL DSLAM by probe",
        "1.3.6.1.4.1.32473.1.3",
        {MibTable.IF, MibTable.ADSL},
        "generic-adsl-dslam",
    ),
    (
        "lab VDSL2 DSLAM answering both xDSL MIBs",
        "1.3.6.1.4.1.32473.1.4",
        {"if", "adsl", "vdsl2"},
        "generic-vdsl2-dslam",
    ),
    ("whole arcs only: 9.1.61 is not 9.1.617", "1.3.6.1.4.1.9.1.61", set(), "cisco"),
    ("vendor family fallback", "1.3.6.1.4.1.25506.1.1", set(), "h3c-comware"),
    ("sysObjectID wins over probing", "1.3.6.1.4.1.9.1.617", {"adsl"}, "cisco-catalyst"),
    ("prefix must not match a longer arc", "1.3.6.1.4.1.73670", set(), "generic-switch"),
]


@pytest.mark.parametrize(
    ("description", "oid", "answering", "expected"), MATCHING, ids=[m[0] for m in MATCHING]
)
def test_match_profile_fallbacks(description, oid, answering, expected):
    assert match_profile(oid, frozenset(answering)).name == expected, description


def test_profiles_are_consistent():
    names = [p.name for p in PROFILES]
    assert len(names) == len(set(names))
    prefixes = [prefix for p in PROFILES for prefix in p.sys_object_ids]
    assert len(prefixes) == len(set(prefixes)), "one sysObjectID prefix, one profile"
    for profile in PROFILES:
        assert MibTable.IF in profile.tables, profile.name
        assert all(not p.startswith(".") for p in profile.sys_object_ids)
        for columns in columns_for(profile).values():
            assert columns and all(not c.startswith(".") for c in columns)
    assert set(PROBE_OIDS) <= set(TABLE_COLUMNS)
    assert {p.kind for p in PROFILES} == set(DeviceKind)


def test_profile_by_name_unknown_raises():
    with pytest.raises(KeyError):
        profile_by_name("no-such-profile")


VENDOR_RESOURCES = [
    ("huawei-s5720.snmprec.bz2", "huawei-vrp-switch"),
    ("vrp_ne8000-m8.snmprec", "huawei-vrp-router"),
    ("smartax.snmprec", "huawei-smartax-olt"),
    ("cisco-c3560.snmprec.bz2", "cisco-catalyst"),
    ("h3c-e528-2.snmprec.bz2", "h3c-comware-switch"),
    ("juniper-mx960-13-3r9-13.snmprec.bz2", "juniper-junos"),
]


@pytest.mark.parametrize(
    ("name", "profile_name"), VENDOR_RESOURCES, ids=[v[0] for v in VENDOR_RESOURCES]
)
def test_vendor_resource_columns_answer_in_the_recording(name, profile_name):
    path = require_shared_data("snmprec", name)
    spec = profile_by_name(profile_name).resources
    assert spec is not None
    res = parse_vendor_resources(load_table(path, spec.columns()), spec)
    assert res.cpu_load_percent is not None
    assert 0 <= res.cpu_load_percent <= 100


def test_read_metrics_scales_and_skips_placeholders():
    from collectors.profiles import MetricSpec, read_metrics

    specs = (
        MetricSpec(key="temp_celsius", column="1.2.3", scale=0.5, ignore_values=frozenset({0})),
    )
    assert read_metrics(specs, {"1.2.3": {"1": 80, "2": 0, "3": b"x"}}) == {
        "temp_celsius": {"1": 40.0}
    }
