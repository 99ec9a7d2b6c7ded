"""Inventory parsing and validation without a database: exact FILE:LINE: field: problem."""

from __future__ import annotations

import textwrap

import pytest

from nocd.inventory import (
    KnownInventory,
    parse_csv,
    parse_inventory,
    parse_payload,
    parse_yaml,
    validate,
)

GOOD_YAML = """\
districts: [{id: xihu, name: Xihu}]
devices:
  - {name: xihu-agg-01, district: xihu, kind: aggregation, address: 127.0.1.1, port: 161,
     snmp: {version: 2c, community: public}}
  - {name: xihu-dslam-01, district: xihu, kind: dslam, address: 127.0.1.2, port: 161,
     parent: xihu-agg-01,
     snmp: {version: 3, user: noc, auth_protocol: sha, auth_key: authpass1,
            priv_protocol: aes, priv_key: privpass1}}
customers: [{id: C1001, name: Customer 1001, sla_class: residential}]
lines: [{device: xihu-dslam-01, ifindex: 1001, customer: C1001, plan_down_kbps: 8192,
         plan_up_kbps: 1024}]
"""

DEVICE_HEADER = "name,district,kind,address,port,snmp_version,community,parent"
DEVICE_OK = "d1,xihu,dslam,10.0.0.1,161,2c,public,"


def problems_of(text: str, source: str, known: KnownInventory | None = None) -> list[str]:
    return [str(p) for p in validate([parse_inventory(text, source)], known)]


def test_good_yaml_should_parse_without_problems():
    doc = parse_yaml(GOOD_YAML, "inv.yaml")
    assert validate([doc]) == []
    assert doc.sections() == ("districts", "devices", "customers", "lines")
    dslam = doc.devices[1].item
    assert dslam.parent == "xihu-agg-01"
    assert dslam.snmp.version == "3"
    assert dslam.snmp.priv_protocol == "aes"
    assert doc.lines[0].item.plan_down_kbps == 8192
    assert doc.devices[1].where.line == 5, "a row's line is where its mapping starts"


def test_yaml_scalars_should_stay_text_where_a_field_is_text():
    """YAML 1.1 would read 00123 as octal 83 and `no` as False; inventory keys stay as written."""
    doc = parse_yaml("customers:\n  - {id: 00123, name: no, sla_class: business}\n", "c.yaml")
    assert validate([doc]) == []
    assert doc.customers[0].item.id == "00123"
    assert doc.customers[0].item.name == "no"


def _device_yaml(**overrides: str) -> str:
    fields = {
        "name": "d1",
        "district": "xihu",
        "kind": "dslam",
        "address": "10.0.0.1",
        "port": "161",
        "snmp": "{version: 2c, community: public}",
    }
    fields.update(overrides)
    body = "\n".join(f"    {k}: {v}" for k, v in fields.items() if v != "<absent>")
    return f"districts: [{{id: xihu, name: Xihu}}]\ndevices:\n  - \n{body}\n"


# (description, overrides for the device row, expected problem). The row mapping starts on
# line 4 (after "- " on line 3): name 4, district 5, kind 6, address 7, port 8, snmp 9.
BAD_DEVICE_ROWS = [
    (
        "unknown kind",
        {"kind": "olt"},
        "d.yaml:6: kind: unknown kind 'olt': "
        "must be one of dslam, access_switch, aggregation, bras",
    ),
    (
        "bad IP address",
        {"address": "10.0.0.300"},
        "d.yaml:7: address: '10.0.0.300' is not an IP address",
    ),
    (
        "host name is not an address",
        {"address": "dslam.example"},
        "d.yaml:7: address: 'dslam.example' is not an IP address",
    ),
    ("port out of range", {"port": "70000"}, "d.yaml:8: port: must be between 1 and 65535"),
    ("port not a number", {"port": "snmp"}, "d.yaml:8: port: must be a whole number"),
    ("unknown district", {"district": "nowhere"}, "d.yaml:5: district: unknown district 'nowhere'"),
    ("missing address", {"address": "<absent>"}, "d.yaml:4: address: required"),
    ("unknown field", {"colour": "red"}, "d.yaml:10: colour: unknown field"),
    (
        "SNMP version 2",
        {"snmp": "{version: 2, community: c}"},
        "d.yaml:9: snmp.version: unknown SNMP version '2': must be one of 1, 2c, 3 (SNMPv2 is 2c)",
    ),
    (
        "v2c without community",
        {"snmp": "{version: 2c}"},
        "d.yaml:9: snmp.community: required for SNMPv2c",
    ),
    (
        "v1 with a v3 field",
        {"snmp": "{version: 1, community: c, user: noc}"},
        "d.yaml:9: snmp.user: only used with SNMP version 3",
    ),
    ("v3 without user", {"snmp": "{version: 3}"}, "d.yaml:9: snmp.user: required for SNMPv3"),
    (
        "v3 with community",
        {"snmp": "{version: 3, user: u, community: public}"},
        "d.yaml:9: snmp.community: not used with SNMPv3 (set user, auth_*, priv_*)",
    ),
    (
        "unknown auth protocol",
        {"snmp": "{version: 3, user: u, auth_protocol: sha1, auth_key: k}"},
        "d.yaml:9: snmp.auth_protocol: unknown auth protocol 'sha1': "
        "must be one of md5, sha, sha224, sha256, sha384, sha512",
    ),
    (
        "unknown priv protocol",
        {
            "snmp": "{version: 3, user: u, auth_protocol: sha, auth_key: authpass1, "
            "priv_protocol: 3des, priv_key: privpass1}"
        },
        "d.yaml:9: snmp.priv_protocol: unknown priv protocol '3des': "
        "must be one of des, aes, aes128, aes192, aes256",
    ),
    (
        "auth protocol without key",
        {"snmp": "{version: 3, user: u, auth_protocol: sha256}"},
        "d.yaml:9: snmp.auth_key: required when auth_protocol is set",
    ),
    (
        "auth key without protocol",
        {"snmp": "{version: 3, user: u, auth_key: authpass1}"},
        "d.yaml:9: snmp.auth_protocol: required when auth_key is set",
    ),
    (
        "short auth key",
        {"snmp": "{version: 3, user: u, auth_protocol: md5, auth_key: short}"},
        "d.yaml:9: snmp.auth_key: must be at least 8 characters",
    ),
    (
        "privacy without authentication",
        {"snmp": "{version: 3, user: u, priv_protocol: aes256, priv_key: privpass1}"},
        "d.yaml:9: snmp.priv_protocol: privacy needs authentication: set auth_protocol",
    ),
    ("own parent", {"parent": "d1"}, "d.yaml:10: parent: a device cannot be its own parent"),
    ("unknown parent", {"parent": "agg-9"}, "d.yaml:10: parent: unknown parent device 'agg-9'"),
    ("name with a space", {"name": "'d 1'"}, "d.yaml:4: name: 'd 1' must not contain spaces"),
]


@pytest.mark.parametrize(
    ("description", "overrides", "expected"),
    BAD_DEVICE_ROWS,
    ids=[row[0] for row in BAD_DEVICE_ROWS],
)
def test_bad_device_row_should_be_reported_at_its_line(description, overrides, expected):
    assert problems_of(_device_yaml(**overrides), "d.yaml") == [expected], description


@pytest.mark.parametrize(
    "snmp",
    [
        "{version: 3, user: u}",  # noAuthNoPriv
        "{version: 3, user: u, auth_protocol: SHA512, auth_key: authpass1}",
        *(
            f"{{version: 3, user: u, auth_protocol: {a}, auth_key: authpass1, "
            f"priv_protocol: {p}, priv_key: privpass1}}"
            for a in ("md5", "sha", "sha224", "sha256", "sha384", "sha512")
            for p in ("des", "aes", "aes128", "aes192", "aes256")
        ),
        "{version: 1, community: c}",
    ],
)
def test_every_usm_protocol_combination_should_be_accepted(snmp):
    assert problems_of(_device_yaml(snmp=snmp), "d.yaml") == []


def test_references_may_point_at_stored_entities():
    text = "lines: [{device: d1, ifindex: 1, customer: C1, plan_down_kbps: 1, plan_up_kbps: 1}]\n"
    assert problems_of(text, "l.yaml") == [
        "l.yaml:1: device: unknown device 'd1'",
        "l.yaml:1: customer: unknown customer 'C1'",
    ]
    known = KnownInventory(devices={"d1": None}, customers=frozenset({"C1"}))
    assert problems_of(text, "l.yaml", known) == []


def test_prune_should_not_count_stored_keys_of_a_section_the_file_replaces():
    text = "districts: [{id: a, name: A}]\ndevices:\n" + textwrap.indent(
        "- {name: d1, district: b, kind: bras, address: 10.9.9.9,\n"
        "   snmp: {version: 1, community: c}}\n",
        "  ",
    )
    known = KnownInventory(districts=frozenset({"b"}))
    doc = parse_yaml(text, "p.yaml")
    assert validate([doc], known) == []
    assert [str(p) for p in validate([doc], known, prune=True)] == [
        "p.yaml:3: district: unknown district 'b' and is not listed, so --prune would delete it"
    ]


def test_duplicates_should_name_the_first_occurrence():
    text = textwrap.dedent("""\
        districts:
          - {id: xihu, name: Xihu}
          - {id: xihu, name: Xihu again}
        customers: [{id: C1, name: One}, {id: C1, name: Two}]
        """)
    assert problems_of(text, "dup.yaml") == [
        "dup.yaml:3: id: duplicate district 'xihu' (first at dup.yaml:2)",
        "dup.yaml:4: id: duplicate customer 'C1' (first at dup.yaml:4)",
    ]


def test_parent_cycle_should_be_reported_once_with_its_ring():
    text = textwrap.dedent("""\
        districts: [{id: x, name: X}]
        devices:
          - {name: a, district: x, kind: bras, address: 10.0.0.1, parent: c,
             snmp: {version: 1, community: c}}
          - {name: b, district: x, kind: bras, address: 10.0.0.2, parent: a,
             snmp: {version: 1, community: c}}
          - {name: c, district: x, kind: bras, address: 10.0.0.3, parent: b,
             snmp: {version: 1, community: c}}
          - {name: d, district: x, kind: dslam, address: 10.0.0.4, parent: c,
             snmp: {version: 1, community: c}}
        """)
    assert problems_of(text, "cyc.yaml") == ["cyc.yaml:3: parent: parent cycle: a → c → b → a"]


def test_cycle_through_a_stored_device_should_be_found():
    text = textwrap.dedent("""\
        devices:
          - {name: agg, district: x, kind: aggregation, address: 10.0.0.1, parent: dslam,
             snmp: {version: 1, community: c}}
        """)
    known = KnownInventory(districts=frozenset({"x"}), devices={"dslam": "agg", "agg": None})
    assert problems_of(text, "c.yaml", known) == [
        "c.yaml:2: parent: parent cycle: agg → dslam → agg"
    ]


def test_yaml_syntax_error_should_name_its_line():
    # The wording comes from libyaml or PyYAML, whichever is installed; the place is ours.
    (problem,) = problems_of("devices: [\n", "s.yaml")
    assert problem.startswith("s.yaml:2: yaml: ")
    assert "node content" in problem


def test_yaml_structure_problems():
    cases = [
        ("", "s.yaml:1: (file): empty; expected districts, devices, customers, lines"),
        ("- a\n", "s.yaml:1: (file): must be a mapping with districts, devices, customers, lines"),
        (
            "routers: []\n",
            "s.yaml:1: routers: unknown section; expected districts, devices, customers, lines",
        ),
        ("devices: {a: 1}\n", "s.yaml:1: devices: must be a list"),
        ("customers:\n  - just-a-string\n", "s.yaml:2: (row): must be a mapping of field: value"),
        ("customers:\n  - id: C1\n    name: One\n    id: C2\n", "s.yaml:4: id: duplicate key"),
    ]
    for text, expected in cases:
        assert problems_of(text, "s.yaml") == [expected], text


def test_empty_section_should_be_present_but_empty():
    doc = parse_yaml("devices:\n", "e.yaml")
    assert doc.sections() == ("devices",)
    assert doc.devices == ()


# --- CSV ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "section"),
    [
        ("id,name", "districts"),
        ("name,id", "districts"),
        ("id,name,sla_class", "customers"),
        ("id,name,sla_class,contact", "customers"),
        (DEVICE_HEADER, "devices"),
        (
            DEVICE_HEADER + ",user,auth_protocol,auth_key,priv_protocol,priv_key,vendor,model",
            "devices",
        ),
        ("device,ifindex,customer,plan_down_kbps,plan_up_kbps", "lines"),
        ("\ufeffDevice, ifIndex ,Customer,plan_down_kbps,plan_up_kbps", "lines"),
    ],
)
def test_csv_should_be_recognised_by_its_header(header, section):
    doc = parse_csv(header + "\n", "x.csv")
    assert doc.problems == ()
    assert doc.sections() == (section,)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "foo,bar",
            "h.csv:1: header: not a known inventory header (expected districts: id,name; "
            "devices: name,district,kind,address,port,snmp_version,community,parent; "
            "customers: id,name,sla_class; lines: device,ifindex,customer,plan_down_kbps,"
            "plan_up_kbps)",
        ),
        (
            "device,ifindex,customer",
            "h.csv:1: header: looks like a lines file but lacks column(s) "
            "plan_down_kbps, plan_up_kbps",
        ),
        (
            "id,name,sla_class,colour",
            "h.csv:1: header: unknown column(s) colour for a customers file",
        ),
        ("id,name,name", "h.csv:1: header: duplicate column(s) name"),
        ("", "h.csv:1: header: empty file"),
    ],
)
def test_unrecognised_csv_header_should_say_why(header, expected):
    assert problems_of(header + "\n", "h.csv") == [expected]


def test_csv_rows_should_be_reported_at_their_own_line_with_column_names():
    text = "\n".join(
        [
            DEVICE_HEADER,
            DEVICE_OK,
            "",  # blank lines are skipped but still counted
            "d2,xihu,router,10.0.0.2,161,2c,public,",
            'd3,xihu,dslam,10.0.0.3,161,"2',
            'c",public,',  # a quoted cell spanning two lines: the row starts on line 5
            "d4,xihu,dslam,10.0.0.4,,2c,,d1",
            "d5,xihu,dslam,10.0.0.5,161",
            "d1,xihu,dslam,10.0.0.6,161,2c,public,",
        ]
    )
    known = KnownInventory(districts=frozenset({"xihu"}))
    assert problems_of(text + "\n", "devices.csv", known) == [
        "devices.csv:4: kind: unknown kind 'router': must be one of dslam, access_switch, "
        "aggregation, bras",
        "devices.csv:5: snmp_version: unknown SNMP version '2\\nc': must be one of 1, 2c, 3 "
        "(SNMPv2 is 2c)",
        "devices.csv:7: community: required for SNMPv2c",
        "devices.csv:8: (row): expected 8 columns, found 5",
        "devices.csv:9: name: duplicate device 'd1' (first at devices.csv:2)",
    ]


def test_csv_empty_port_should_default_to_161_and_empty_parent_to_none():
    doc = parse_csv(f"{DEVICE_HEADER}\nd1,xihu,dslam,10.0.0.1,,2c,public,\n", "d.csv")
    assert doc.problems == ()
    device = doc.devices[0].item
    assert (device.port, device.parent) == (161, None)


def test_csv_v3_columns_should_map_onto_snmp_fields():
    header = DEVICE_HEADER + ",user,auth_protocol,auth_key,priv_protocol,priv_key"
    row = "d1,xihu,dslam,10.0.0.1,161,3,,,noc,sha,authpass1,aes,short"
    assert problems_of(
        f"{header}\n{row}\n", "d.csv", KnownInventory(districts=frozenset({"xihu"}))
    ) == ["d.csv:2: priv_key: must be at least 8 characters"]


def test_format_should_follow_the_extension_then_the_content():
    assert parse_inventory("id,name\nx,X\n", "districts.txt").sections() == ("districts",)
    assert parse_inventory("districts: []\n", "inventory").sections() == ("districts",)
    assert parse_inventory('{"districts": []}', "inv.json").sections() == ("districts",)


# --- payloads (the REST API) -----------------------------------------------------------------


def test_payload_problems_should_name_the_row_index():
    payload = {
        "districts": [{"id": "x", "name": "X"}],
        "devices": [
            {
                "name": "d1",
                "district": "x",
                "kind": "dslam",
                "address": "10.0.0.1",
                "snmp": {"version": "2c", "community": "c"},
            },
            {
                "name": "d2",
                "district": "x",
                "kind": "dslam",
                "address": "10.0.0.999",
                "port": 161,
                "snmp": {"version": 3, "user": "u"},
            },
        ],
        "gadgets": [],
    }
    assert [str(p) for p in validate([parse_payload(payload, "request")])] == [
        "request: devices[1].address: '10.0.0.999' is not an IP address",
        "request: gadgets: unknown section; expected districts, devices, customers, lines",
    ]


def test_secrets_should_never_appear_in_reprs_or_problems():
    doc = parse_yaml(GOOD_YAML, "inv.yaml")
    dslam = doc.devices[1].item
    assert "privpass1" not in repr(dslam)
    assert "authpass1" not in repr(dslam.snmp.params())
    assert "public" not in repr(doc.devices[0].item)
    bad = _device_yaml(snmp="{version: 3, user: u, auth_protocol: md5, auth_key: tiny}")
    assert "tiny" not in "\n".join(problems_of(bad, "d.yaml"))


def test_problems_from_several_files_should_resolve_references_across_them():
    devices = parse_csv(f"{DEVICE_HEADER}\n{DEVICE_OK}\n", "devices.csv")
    lines = parse_csv(
        "device,ifindex,customer,plan_down_kbps,plan_up_kbps\nd1,1,C1,8192,1024\nd9,1,C1,1,1\n",
        "lines.csv",
    )
    known = KnownInventory(districts=frozenset({"xihu"}), customers=frozenset({"C1"}))
    assert [str(p) for p in validate([devices, lines], known)] == [
        "lines.csv:3: device: unknown device 'd9'"
    ]
