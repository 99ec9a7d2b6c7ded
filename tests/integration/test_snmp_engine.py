"""collectors.engine against real agents: Net-SNMP snmpd (v1, v2c, v3) and snmpsim recordings."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from collectors.discovery import MatchedBy, discover
from collectors.engine import SnmpClient, SnmpTarget
from collectors.errors import DeviceUnreachable, UnsupportedDevice
from collectors.profiles import MibTable
from tests.fixtures.snmp_agents import (
    SYSTEM_ONLY_COMMUNITY,
    SnmpdAgent,
    SnmpsimAgent,
    free_udp_port,
    net_snmp_walk,
)

pytestmark = [pytest.mark.integration, pytest.mark.snmp]

SYS = "1.3.6.1.2.1.1"
SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME = (f"{SYS}.{n}.0" for n in (1, 2, 3, 5))
IF_DESCR, IF_TYPE, IF_MTU = "1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.3", "1.3.6.1.2.1.2.2.1.4"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"


@pytest.fixture
async def client():
    async with await SnmpClient.create() as c:
        yield c


def _parse_net_snmp(lines: list[str]) -> dict[str, str]:
    """``.OID value`` lines → {oid without leading dot: value text without quotes}."""
    out: dict[str, str] = {}
    for line in lines:
        oid, _, value = line.partition(" ")
        out[oid.lstrip(".")] = value.strip().strip('"')
    return out


async def test_v2c_get_returns_system_group_as_plain_values(client, snmpd_agent: SnmpdAgent):
    row = await client.get(snmpd_agent.v2c(), [SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME])
    assert row[SYS_NAME] == snmpd_agent.sys_name.encode()
    assert isinstance(row[SYS_DESCR], bytes) and row[SYS_DESCR]
    assert row[SYS_OBJECT_ID] == "1.3.6.1.4.1.8072.3.2.10"  # Net-SNMP on Linux
    assert isinstance(row[SYS_UPTIME], int) and row[SYS_UPTIME] >= 0


async def test_get_with_many_varbinds_in_one_request_keeps_order_and_marks_missing(
    client, snmpd_agent: SnmpdAgent
):
    """40 varbinds in one GET: existing ones typed, absent ones None, keys as requested."""
    present = [SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME, f"{SYS}.6.0", f"{SYS}.4.0"]
    absent = [f"{SYS}.{n}.0" for n in range(100, 134)]
    oids = present + absent
    row = await client.get(snmpd_agent.v2c(), ["." + oids[0], *oids[1:]])
    assert list(row) == oids
    assert all(row[o] is not None for o in present)
    assert all(row[o] is None for o in absent)


async def test_v1_get_treats_no_such_name_as_missing_varbind(client, snmpd_agent: SnmpdAgent):
    row = await client.get(snmpd_agent.v2c(version="1"), [SYS_NAME, f"{SYS}.99.0", SYS_UPTIME])
    assert row[SYS_NAME] == snmpd_agent.sys_name.encode()
    assert row[f"{SYS}.99.0"] is None
    assert isinstance(row[SYS_UPTIME], int)


@pytest.mark.parametrize(
    "user",
    ["nocd-sha-aes", "nocd-md5-des", "nocd-sha256-aes256", "nocd-sha-aes192", "nocd-sha512-auth"],
)
async def test_v3_users_read_sysname(client, snmpd_agent: SnmpdAgent, user: str):
    row = await client.get(snmpd_agent.v3(user), [SYS_NAME])
    assert row[SYS_NAME] == snmpd_agent.sys_name.encode()


async def test_v3_wrong_auth_key_is_unreachable_with_clear_reason_within_timeout(
    client, snmpd_agent: SnmpdAgent
):
    target = snmpd_agent.v3(auth_key="definitely-wrong-key", timeout_s=2.0, retries=1)
    await client.get(snmpd_agent.v2c(), [SYS_NAME])  # pysnmp's one-off setup, not timed
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable) as info:
        await client.get(target, [SYS_NAME])
    # The agent's usmStatsWrongDigests report arrives at once: no waiting for the timeout.
    assert time.monotonic() - started < target.timeout_s
    assert "wrong auth key" in info.value.reason
    assert "nocd-sha-aes" in info.value.reason
    assert info.value.host == "127.0.0.1"
    assert info.value.__cause__ is not None  # the pysnmp indication is kept
    assert "definitely-wrong-key" not in str(info.value)


async def test_v3_right_key_works_again_after_a_wrong_one_on_the_same_engine(
    client, snmpd_agent: SnmpdAgent
):
    with pytest.raises(DeviceUnreachable):
        await client.get(snmpd_agent.v3(auth_key="another-wrong-key", timeout_s=1), [SYS_NAME])
    row = await client.get(snmpd_agent.v3(), [SYS_NAME])
    assert row[SYS_NAME] == snmpd_agent.sys_name.encode()


async def test_v3_wrong_privacy_key_times_out_and_says_so(client, snmpd_agent: SnmpdAgent):
    target = snmpd_agent.v3(priv_key="wrong-privacy-key", timeout_s=0.5, retries=0)
    with pytest.raises(DeviceUnreachable, match="privacy key"):
        await client.get(target, [SYS_NAME])


async def test_v3_unknown_user_is_unreachable_naming_the_user(client, snmpd_agent: SnmpdAgent):
    target = snmpd_agent.v3(user="nobody-here", timeout_s=1)
    with pytest.raises(DeviceUnreachable, match=r"unknown to the agent.*nobody-here"):
        await client.get(target, [SYS_NAME])


async def test_dead_port_is_unreachable_quickly(client):
    """Nothing listens: DeviceUnreachable after timeout × tries, not after some long default."""
    target = SnmpTarget(host="127.0.0.1", port=free_udp_port(), timeout_s=0.3, retries=1)
    with pytest.raises(DeviceUnreachable):  # first request also pays pysnmp's one-off setup
        await client.get(target, [SYS_NAME])
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable, match="timeout") as info:
        await client.get(target, [SYS_NAME])
    assert time.monotonic() - started < 0.6 + 1.0
    assert f"127.0.0.1:{target.port}" in info.value.reason
    assert "2 × 0.3 s" in info.value.reason


async def test_unresolvable_host_is_unreachable(client):
    with pytest.raises(DeviceUnreachable, match="cannot resolve"):
        await client.get(SnmpTarget(host="host.invalid", timeout_s=0.3, retries=0), [SYS_NAME])


def test_target_repr_hides_secrets_and_rejects_bad_v3_settings():
    target = SnmpTarget(
        host="h",
        version="3",
        user="u",
        auth_protocol="sha",
        auth_key="s3cret-auth",
        priv_protocol="aes",
        priv_key="s3cret-priv",
        community="s3cret-comm",
    )
    assert "s3cret" not in repr(target)
    assert target.security_level == "authPriv"
    with pytest.raises(ValueError, match="at least 8"):
        SnmpTarget(host="h", version="3", user="u", auth_protocol="sha", auth_key="short")
    with pytest.raises(ValueError, match="needs an auth protocol"):
        SnmpTarget(host="h", version="3", user="u", priv_protocol="aes", priv_key="longenough")


@pytest.mark.parametrize("version", ["1", "2c", "3"])
async def test_multi_column_walk_equals_snmpbulkwalk(client, snmpd_agent: SnmpdAgent, version):
    """ifDescr, ifType, ifMtu walked together (max_repetitions=2 forces several PDUs)."""
    target = snmpd_agent.v3() if version == "3" else snmpd_agent.v2c(version=version)
    columns = [IF_DESCR, IF_TYPE, IF_MTU]
    table = await client.walk(target, columns, max_repetitions=2)
    for col in columns:
        expected = _parse_net_snmp(
            net_snmp_walk(snmpd_agent.port, snmpd_agent.net_snmp_args(), col, "-Cr25")
        )
        got = {f"{col}.{idx}": value for idx, value in table[col].items()}
        assert set(got) == set(expected), col
        assert expected, f"snmpd answered no {col} rows"
        for oid, value in got.items():
            text = value.decode() if isinstance(value, bytes) else str(value)
            assert text == expected[oid], oid


async def test_walk_pages_through_a_large_table_and_takes_index_from_suffix(
    client, snmpsim_agent: SnmpsimAgent
):
    """zxdsl (LibreNMS) has no ifIndex column: 258 rows, indexes from the OID suffix."""
    target = snmpsim_agent.target("zxdsl")
    table = await client.walk(target, ["1.3.6.1.2.1.2.2.1.1", IF_DESCR, IF_HC_IN_OCTETS], 10)
    assert table["1.3.6.1.2.1.2.2.1.1"] == {}
    assert len(table[IF_DESCR]) == 258
    assert set(table[IF_DESCR]) == set(table[IF_HC_IN_OCTETS])
    expected = _parse_net_snmp(
        net_snmp_walk(snmpsim_agent.port, ["-v2c", "-c", "zxdsl"], IF_HC_IN_OCTETS)
    )
    assert {f"{IF_HC_IN_OCTETS}.{i}": str(v) for i, v in table[IF_HC_IN_OCTETS].items()} == expected


async def test_walk_of_out_of_order_column_ends_with_warning_not_hang(
    client, snmpsim_agent: SnmpsimAgent, caplog: pytest.LogCaptureFixture
):
    """zte-zxr10-5250 dot1qTpFdbTable is mis-sorted as recorded: the column stops, warns."""
    fdb_port = "1.3.6.1.2.1.17.7.1.2.2.1.2"
    target = snmpsim_agent.target("zte-zxr10-5250")
    caplog.set_level(logging.WARNING, logger="collectors.engine")
    async with asyncio.timeout(120):  # generous on a loaded machine; a loop would never end
        table = await client.walk(target, [fdb_port, IF_DESCR])
    assert any(
        "OID not increasing" in r.getMessage() and fdb_port in r.getMessage()
        for r in caplog.records
    )
    assert len(table[IF_DESCR]) == 52  # the other column completes untouched
    assert 0 < len(table[fdb_port]) < 236  # 236 records in the file; the walk stops early


async def test_mistyped_value_becomes_missing_not_a_crash(client, snmpsim_agent: SnmpsimAgent):
    """nokia-isam records its one ifHCInOctets as an OCTET STRING: bytes, never a number."""
    table = await client.walk(snmpsim_agent.target("nokia-isam"), [IF_HC_IN_OCTETS])
    values = table[IF_HC_IN_OCTETS]
    assert values, "nokia-isam has an ifHCInOctets row"
    assert all(isinstance(v, bytes) for v in values.values())


async def test_discovery_of_an_unknown_agent_probes_its_tables(client, snmpd_agent: SnmpdAgent):
    """Net-SNMP's sysObjectID matches no vendor profile: tables decide (generic switch)."""
    found = await discover(client, snmpd_agent.v2c())
    assert found.system.sys_name == snmpd_agent.sys_name
    assert {MibTable.IF, MibTable.HOST_RESOURCES} <= found.answering
    assert MibTable.ADSL not in found.answering
    assert found.matched_by is MatchedBy.FALLBACK
    assert found.profile.name == "generic-switch"


async def test_discovery_raises_unsupported_when_nothing_usable_answers(
    client, snmpd_agent: SnmpdAgent
):
    target = SnmpTarget(
        host=snmpd_agent.host, port=snmpd_agent.port, community=SYSTEM_ONLY_COMMUNITY
    )
    with pytest.raises(UnsupportedDevice) as info:
        await discover(client, target)
    assert info.value.sys_object_id == "1.3.6.1.4.1.8072.3.2.10"


async def test_discovery_by_sys_object_id_and_present_columns(client, snmpsim_agent):
    found = await discover(client, snmpsim_agent.target("teldat_tv-base-vdsl2-adsl"))
    assert found.matched_by is MatchedBy.SYS_OBJECT_ID
    assert found.profile.name == "teldat"
    assert MibTable.ADSL in found.answering
