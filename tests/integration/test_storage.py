"""Inventory repository on SQLite and PostgreSQL: records, filters, pages, upserts, prune."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError

from nocd.storage import inventory_repo as repo
from nocd.storage.inventory_repo import (
    AuthProtocol,
    CustomerRecord,
    DeviceKind,
    DeviceRecord,
    DistrictRecord,
    LineRecord,
    PrivProtocol,
    SlaClass,
    SnmpParams,
    SnmpVersion,
    UpsertCounts,
)

pytestmark = pytest.mark.integration

V2 = SnmpParams(version=SnmpVersion.V2C, community=SecretStr("public"))
V3 = SnmpParams(
    version=SnmpVersion.V3,
    user="noc",
    auth_protocol=AuthProtocol.SHA256,
    auth_key=SecretStr("auth-secret-1"),
    priv_protocol=PrivProtocol.AES,
    priv_key=SecretStr("priv-secret-1"),
)


def device(name: str, district: str = "xihu", **kw) -> DeviceRecord:
    kw.setdefault("kind", DeviceKind.DSLAM)
    kw.setdefault("address", "10.0.0.1")
    kw.setdefault("snmp", V2)
    return DeviceRecord(name=name, district=district, **kw)


@pytest.fixture
def network(session):
    """Two districts, an aggregation switch with two DSLAMs, customers and lines."""
    repo.upsert_districts(
        session,
        [DistrictRecord(id="xihu", name="Xihu"), DistrictRecord(id="binj", name="Binjiang")],
    )
    repo.upsert_devices(
        session,
        [
            device("xihu-dslam-01", parent="xihu-agg-01", snmp=V3),
            device("xihu-dslam-02", parent="xihu-agg-01"),
            device("xihu-agg-01", kind=DeviceKind.AGGREGATION),
            device("binj_dslam%01", district="binj"),
        ],
    )
    repo.upsert_customers(
        session,
        [
            CustomerRecord(id="C1", name="Alice"),
            CustomerRecord(id="C2", name="Bob & Co", sla_class=SlaClass.BUSINESS, contact="+86"),
        ],
    )
    repo.upsert_lines(
        session,
        [
            LineRecord(
                device="xihu-dslam-01",
                ifindex=i,
                customer="C1" if i % 2 else "C2",
                plan_down_kbps=8192,
                plan_up_kbps=1024,
            )
            for i in range(1, 6)
        ],
    )
    session.flush()
    return session


def test_device_record_should_round_trip_snmp_v3_and_keep_secrets_out_of_repr(network):
    stored = repo.get_device(network, "xihu-dslam-01")
    assert stored is not None
    assert stored.id is not None
    assert stored.parent == "xihu-agg-01"
    assert stored.snmp == V3
    assert stored.snmp.auth_key.get_secret_value() == "auth-secret-1"
    text = repr(stored)
    assert "auth-secret-1" not in text and "priv-secret-1" not in text
    assert "public" not in repr(repo.get_device(network, "xihu-dslam-02"))


def test_get_by_key_should_return_none_for_unknown_keys(network):
    assert repo.get_district(network, "nowhere") is None
    assert repo.get_device(network, "nowhere") is None
    assert repo.get_customer(network, "C999") is None
    assert repo.get_line(network, "xihu-dslam-01", 999) is None
    assert repo.get_line(network, "xihu-dslam-01", 3) == LineRecord(
        device="xihu-dslam-01", ifindex=3, customer="C1", plan_down_kbps=8192, plan_up_kbps=1024
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["binj_dslam%01", "xihu-agg-01", "xihu-dslam-01", "xihu-dslam-02"]),
        ({"district": "xihu"}, ["xihu-agg-01", "xihu-dslam-01", "xihu-dslam-02"]),
        ({"kind": DeviceKind.AGGREGATION}, ["xihu-agg-01"]),
        ({"kind": "dslam", "district": "binj"}, ["binj_dslam%01"]),
        ({"name_prefix": "xihu-d"}, ["xihu-dslam-01", "xihu-dslam-02"]),
        # LIKE wildcards in a prefix are literal: "binj_dslam%" must not match "binjXdslam…".
        ({"name_prefix": "binj_dslam%"}, ["binj_dslam%01"]),
        ({"name_prefix": "xihu_"}, []),
        ({"parent": "xihu-agg-01"}, ["xihu-dslam-01", "xihu-dslam-02"]),
    ],
)
def test_list_devices_should_apply_every_filter(network, filters, expected):
    page = repo.list_devices(network, **filters)
    assert [d.name for d in page.items] == expected
    assert page.total == len(expected)


def test_pages_should_report_the_total_of_all_matches(network):
    first = repo.list_lines(network, device="xihu-dslam-01", limit=2)
    second = repo.list_lines(network, device="xihu-dslam-01", limit=2, offset=2)
    last = repo.list_lines(network, device="xihu-dslam-01", limit=2, offset=4)
    assert [ln.ifindex for ln in first.items + second.items + last.items] == [1, 2, 3, 4, 5]
    assert (first.total, second.total, last.total) == (5, 5, 5)
    assert repo.list_lines(network, customer="C2").total == 2
    assert repo.list_lines(network, district="binj").total == 0
    assert repo.list_districts(network, limit=1).items == (
        DistrictRecord(id="binj", name="Binjiang"),
    )
    with pytest.raises(ValueError, match="limit"):
        repo.list_devices(network, limit=-1)


def test_list_customers_should_filter_by_sla_class_and_name(network):
    assert [c.id for c in repo.list_customers(network, sla_class="business").items] == ["C2"]
    assert [c.id for c in repo.list_customers(network, name_prefix="Bob &").items] == ["C2"]
    assert repo.get_customer(network, "C2") == CustomerRecord(
        id="C2", name="Bob & Co", sla_class=SlaClass.BUSINESS, contact="+86"
    )


def test_upsert_should_count_created_updated_unchanged(network):
    counts = repo.upsert_devices(
        network,
        [
            device("xihu-dslam-01", parent="xihu-agg-01", snmp=V3),  # as stored
            device("xihu-dslam-02", parent=None),  # moved to the root
            device(
                "xihu-dslam-03", parent="xihu-dslam-02"
            ),  # new, parent updated in the same batch
        ],
    )
    assert counts == UpsertCounts(created=1, updated=1, unchanged=1)
    assert repo.get_device(network, "xihu-dslam-02").parent is None
    assert repo.get_device(network, "xihu-dslam-03").parent == "xihu-dslam-02"


def test_upsert_should_refuse_unknown_references(network):
    with pytest.raises(repo.UnknownReferenceError, match="parent 'ghost'"):
        repo.upsert_devices(network, [device("x", parent="ghost")])
    with pytest.raises(repo.UnknownReferenceError, match="ghost"):
        repo.upsert_lines(
            network,
            [
                LineRecord(
                    device="ghost", ifindex=1, customer=None, plan_down_kbps=1, plan_up_kbps=1
                )
            ],
        )


def test_unknown_district_should_violate_the_foreign_key(network):
    """SQLite enforces it only because make_engine turns foreign_keys on."""
    with pytest.raises(IntegrityError), network.begin_nested():
        repo.upsert_devices(network, [device("x", district="nowhere")])


def test_prune_devices_should_cascade_to_lines_and_orphan_children(network):
    assert repo.prune_devices(network, {"xihu-dslam-01", "xihu-dslam-02", "binj_dslam%01"}) == 1
    network.flush()
    assert repo.get_device(network, "xihu-dslam-01").parent is None
    assert repo.list_lines(network).total == 5
    assert repo.prune_devices(network, {"xihu-dslam-02", "binj_dslam%01"}) == 1
    assert repo.list_lines(network).total == 0


def test_prune_lines_and_customers(network):
    assert repo.prune_lines(network, {("xihu-dslam-01", 1), ("xihu-dslam-01", 2)}) == 3
    assert repo.lines_by_customer(network, {"C1", "C2"}) == {"C1": 1, "C2": 1}
    assert repo.prune_customers(network, {"C1"}) == 1
    assert repo.get_line(network, "xihu-dslam-01", 2).customer is None  # ON DELETE SET NULL


def test_usage_helpers(network):
    assert repo.devices_by_district(network, {"binj", "nowhere"}) == {"binj": ["binj_dslam%01"]}
    assert repo.lines_by_device(network, {"xihu-dslam-01", "xihu-dslam-02"}) == {"xihu-dslam-01": 5}
    assert repo.device_parents(network)["xihu-dslam-02"] == "xihu-agg-01"


def test_count_devices_should_include_districts_without_devices(network):
    repo.upsert_districts(network, [DistrictRecord(id="empty", name="Empty")])
    assert repo.count_devices(network) == {
        "xihu": {"dslam": 2, "aggregation": 1},
        "binj": {"dslam": 1},
        "empty": {},
    }


def test_export_all_should_be_sorted_by_key(network):
    snapshot = repo.export_all(network)
    assert [d.id for d in snapshot.districts] == ["binj", "xihu"]
    assert [d.name for d in snapshot.devices] == sorted(d.name for d in snapshot.devices)
    assert [(ln.device, ln.ifindex) for ln in snapshot.lines][:2] == [
        ("xihu-dslam-01", 1),
        ("xihu-dslam-01", 2),
    ]


def test_many_rows_should_upsert_in_chunks(session):
    """More keys than one IN (...) list holds (500), on both backends."""
    repo.upsert_districts(session, [DistrictRecord(id="xihu", name="X")])
    repo.upsert_devices(session, [device("d")])
    repo.upsert_customers(session, [CustomerRecord(id=f"C{i}", name="n") for i in range(1, 1201)])
    lines = [
        LineRecord(device="d", ifindex=i, customer=f"C{i}", plan_down_kbps=1, plan_up_kbps=1)
        for i in range(1, 1201)
    ]
    assert repo.upsert_lines(session, lines) == UpsertCounts(created=1200)
    assert repo.upsert_lines(session, lines) == UpsertCounts(unchanged=1200)
    assert repo.prune_lines(session, set()) == 1200


def test_delete_by_key(network):
    assert repo.delete_line(network, "xihu-dslam-01", 5) is True
    assert repo.delete_line(network, "xihu-dslam-01", 5) is False
    assert repo.delete_customer(network, "C2") is True
    assert repo.get_line(network, "xihu-dslam-01", 2).customer is None
    assert repo.delete_device(network, "xihu-agg-01") is True
    assert repo.get_device(network, "xihu-dslam-01").parent is None
    assert repo.delete_device(network, "binj_dslam%01") is True
    assert repo.delete_district(network, "binj") is True
    assert repo.delete_district(network, "binj") is False
    assert repo.list_lines(network).total == 4
