"""collectors.fast_client against real agents, next to the pysnmp engine on the same agent.

Net-SNMP snmpd and snmpsim (the shared real recordings) come from tests/fixtures/snmp_agents.
Request matching and error mapping are checked against a scripted agent: a real UDP socket on
loopback driven by the test, which answers with bytes built by pysnmp's own encoder.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto.api import v2c

from collectors.engine import SnmpClient, SnmpTarget
from collectors.errors import DeviceUnreachable, SnmpProtocolError
from collectors.fast_client import FastSnmpClient
from tests.fixtures.snmp_agents import SnmpdAgent, SnmpsimAgent, free_udp_port, net_snmp_walk

pytestmark = [pytest.mark.integration, pytest.mark.snmp]

SYS = "1.3.6.1.2.1.1"
SYS_DESCR, SYS_OBJECT_ID, SYS_NAME = (f"{SYS}.{n}.0" for n in (1, 2, 5))
IF_DESCR, IF_TYPE, IF_MTU = "1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.3", "1.3.6.1.2.1.2.2.1.4"
IF_SPEED, IF_OPER = "1.3.6.1.2.1.2.2.1.5", "1.3.6.1.2.1.2.2.1.8"
IF_NAME, IF_HC_IN, IF_HC_OUT = (f"1.3.6.1.2.1.31.1.1.1.{n}" for n in (1, 6, 10))
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"
SYS_OR_ID, SYS_OR_DESCR = f"{SYS}.9.1.2", f"{SYS}.9.1.3"
# Static on a live snmpd (no counters), so two walks a moment apart must agree exactly.
STATIC_COLUMNS = [IF_DESCR, IF_TYPE, IF_MTU, IF_SPEED, IF_NAME, SYS_OR_ID, SYS_OR_DESCR]
RECORDING_COLUMNS = [IF_DESCR, IF_TYPE, IF_OPER, IF_NAME, IF_HC_IN, IF_HC_OUT, IF_ALIAS]


@pytest.fixture
async def fast() -> AsyncIterator[FastSnmpClient]:
    async with await FastSnmpClient.create(bind_host="127.0.0.1") as client:
        yield client


@pytest.fixture
async def engine() -> AsyncIterator[SnmpClient]:
    async with await SnmpClient.create() as client:
        yield client


def _parse_net_snmp(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        oid, _, value = line.partition(" ")
        out[oid.lstrip(".")] = value.strip().strip('"')
    return out


# ------------------------------------------------------------------------------ Net-SNMP snmpd


@pytest.mark.parametrize("version", ["1", "2c"])
@pytest.mark.parametrize("repetitions", [1, 3, 25])
async def test_walk_equals_engine_walk_on_snmpd(
    fast, engine, snmpd_agent: SnmpdAgent, version, repetitions
):
    target = snmpd_agent.v2c(version=version)
    ours = await fast.walk(target, STATIC_COLUMNS, max_repetitions=repetitions)
    theirs = await engine.walk(target, STATIC_COLUMNS, max_repetitions=repetitions)
    assert ours == theirs
    assert all(ours[col] for col in STATIC_COLUMNS)


async def test_walk_equals_snmpbulkwalk_output(fast, snmpd_agent: SnmpdAgent):
    table = await fast.walk(snmpd_agent.v2c(), [IF_DESCR, IF_TYPE, IF_MTU, SYS_OR_ID])
    for col in (IF_DESCR, IF_TYPE, IF_MTU, SYS_OR_ID):
        expected = _parse_net_snmp(
            net_snmp_walk(snmpd_agent.port, snmpd_agent.net_snmp_args(), col, "-Cr25")
        )
        got = {
            f"{col}.{idx}": value.decode() if isinstance(value, bytes) else str(value)
            for idx, value in table[col].items()
        }
        assert got == {oid: text.lstrip(".") for oid, text in expected.items()}, col


async def test_whole_mib2_walk_ends_cleanly_and_matches_engine_oids(
    fast, engine, snmpd_agent: SnmpdAgent
):
    """Walking a subtree to its end (endOfMibView / leaving the prefix) on both clients."""
    target = snmpd_agent.v2c()
    ours = await fast.walk(target, [SYS])
    theirs = await engine.walk(target, [SYS])
    assert set(ours[SYS]) == set(theirs[SYS])
    uptime = "3.0"  # the only value that moves between the two walks
    assert {k: v for k, v in ours[SYS].items() if k != uptime} == {
        k: v for k, v in theirs[SYS].items() if k != uptime
    }


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_get_with_many_varbinds_equals_engine_get(
    fast, engine, snmpd_agent: SnmpdAgent, version
):
    present = [SYS_DESCR, SYS_OBJECT_ID, SYS_NAME, f"{SYS}.6.0", f"{SYS}.4.0"]
    absent = [f"{SYS}.{n}.0" for n in range(100, 135)]
    oids = ["." + present[0], *present[1:], *absent]
    target = snmpd_agent.v2c(version=version)
    ours = await fast.get(target, oids)
    assert ours == await engine.get(target, oids)
    assert ours[SYS_NAME] == snmpd_agent.sys_name.encode()
    assert all(ours[o] is None for o in absent)
    assert list(ours) == [o.lstrip(".") for o in oids]


async def test_fast_path_refuses_v3_targets(fast, snmpd_agent: SnmpdAgent):
    with pytest.raises(ValueError, match="v1/v2c"):
        await fast.get(snmpd_agent.v3(), [SYS_NAME])


async def test_dead_port_is_unreachable_after_its_tries(fast):
    target = SnmpTarget(host="127.0.0.1", port=free_udp_port(), timeout_s=0.3, retries=1)
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable, match="timeout") as info:
        await fast.walk(target, [IF_DESCR])
    elapsed = time.monotonic() - started
    assert info.value.host == "127.0.0.1"
    assert 0.55 < elapsed < 3.0
    assert fast.stats.timeouts == 2


async def test_wrong_community_is_unreachable(fast, snmpd_agent: SnmpdAgent):
    target = SnmpTarget(
        host="127.0.0.1", port=snmpd_agent.port, community="wrong", timeout_s=0.3, retries=0
    )
    with pytest.raises(DeviceUnreachable):
        await fast.get(target, [SYS_NAME])


async def test_many_devices_concurrently_share_one_socket_without_losses(
    snmpd_agent: SnmpdAgent,
):
    """64 concurrent walks through 4 in-flight slots: every walk complete, nothing stray."""
    async with await FastSnmpClient.create(max_in_flight=4) as client:
        target = snmpd_agent.v2c()
        tables = await asyncio.gather(
            *(client.walk(target, STATIC_COLUMNS, max_repetitions=2) for _ in range(64))
        )
        assert all(t == tables[0] for t in tables)
        assert len(client.local_addresses) == 1
        assert client.stats.timeouts == 0
        assert client.stats.stray_datagrams == 0
        assert client.rcvbuf_effective_bytes >= 1024 * 1024


# ------------------------------------------------------------------------------ snmpsim


async def test_every_recording_walks_the_same_as_the_engine(
    fast, engine, snmpsim_agent: SnmpsimAgent
):
    """IF-MIB columns of every real recording: fast path and pysnmp return equal Tables."""
    checked = 0
    for community in snmpsim_agent.communities:
        if community.endswith("-live"):
            continue  # counters move between the two walks
        target = snmpsim_agent.target(community)
        ours = await fast.walk(target, RECORDING_COLUMNS)
        theirs = await engine.walk(target, RECORDING_COLUMNS)
        assert ours == theirs, community
        checked += 1
    assert checked >= 10


async def test_recording_walk_equals_snmpbulkwalk(fast, snmpsim_agent: SnmpsimAgent):
    table = await fast.walk(snmpsim_agent.target("zxdsl"), [IF_HC_IN, IF_DESCR], 10)
    expected = _parse_net_snmp(net_snmp_walk(snmpsim_agent.port, ["-v2c", "-c", "zxdsl"], IF_HC_IN))
    assert {f"{IF_HC_IN}.{i}": str(v) for i, v in table[IF_HC_IN].items()} == expected
    assert len(table[IF_DESCR]) == 258


async def test_out_of_order_recording_ends_that_column_with_a_warning(
    fast, engine, snmpsim_agent: SnmpsimAgent, caplog: pytest.LogCaptureFixture
):
    """zte-zxr10-5250 dot1qTpFdbPort is mis-sorted as recorded: that column stops, warns."""
    fdb_port = "1.3.6.1.2.1.17.7.1.2.2.1.2"
    target = snmpsim_agent.target("zte-zxr10-5250")
    caplog.set_level(logging.WARNING, logger="collectors.fast_client")
    ours = await fast.walk(target, [fdb_port, IF_DESCR])
    assert any(
        "OID not increasing" in r.getMessage() and r.name == "collectors.fast_client"
        for r in caplog.records
    )
    assert len(ours[IF_DESCR]) == 52
    assert 0 < len(ours[fdb_port]) < 236
    assert ours == await engine.walk(target, [fdb_port, IF_DESCR])


# ------------------------------------------------------------------------------ scripted agent


@dataclass
class ScriptedAgent:
    """A real loopback UDP socket the test answers from, with pysnmp-encoded responses."""

    sock: socket.socket
    other: socket.socket  # a second socket: same host, different source port

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def target(self, *, timeout_s: float = 2.0, retries: int = 0) -> SnmpTarget:
        return SnmpTarget(
            host="127.0.0.1", port=self.port, community="c", timeout_s=timeout_s, retries=retries
        )

    async def receive(self) -> tuple[object, tuple[str, int]]:
        data, addr = await asyncio.get_running_loop().sock_recvfrom(self.sock, 65535)
        msg, _ = decoder.decode(data, asn1Spec=v2c.Message())
        return v2c.apiMessage.get_pdu(msg), addr


def response(
    request_pdu: object,
    varbinds: list[tuple[str, object]],
    *,
    request_id: int | None = None,
    status: int = 0,
    index: int = 0,
    community: bytes = b"c",
) -> bytes:
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    rid = v2c.apiPDU.get_request_id(request_pdu) if request_id is None else request_id
    v2c.apiPDU.set_request_id(pdu, rid)
    v2c.apiPDU.set_error_status(pdu, status)
    v2c.apiPDU.set_error_index(pdu, index)
    v2c.apiPDU.set_varbinds(pdu, varbinds)
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, community)
    v2c.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


@pytest.fixture
def scripted() -> AsyncIterator[ScriptedAgent]:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other,
    ):
        for s in (sock, other):
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        yield ScriptedAgent(sock, other)


async def test_stray_datagrams_are_ignored_and_the_real_answer_is_taken(fast, scripted):
    """Wrong id, wrong source port, wrong community and garbage arrive first; all dropped."""
    call = asyncio.create_task(fast.get(scripted.target(), [SYS_NAME]))
    request, client_addr = await scripted.receive()
    rid = int(v2c.apiPDU.get_request_id(request))
    good = [(SYS_NAME, v2c.OctetString(b"right"))]
    bad = [(SYS_NAME, v2c.OctetString(b"WRONG"))]
    scripted.sock.sendto(response(request, bad, request_id=rid ^ 1), client_addr)
    scripted.other.sendto(response(request, bad), client_addr)  # right id, wrong port
    scripted.sock.sendto(response(request, bad, community=b"x"), client_addr)
    scripted.sock.sendto(b"\x30\x03\x02\x01", client_addr)  # truncated
    scripted.sock.sendto(response(request, good), client_addr)
    assert await call == {SYS_NAME: b"right"}
    assert fast.stats.stray_datagrams == 3
    assert fast.stats.malformed_datagrams == 1


async def test_answer_from_the_wrong_address_only_is_a_timeout(fast, scripted):
    call = asyncio.create_task(fast.get(scripted.target(timeout_s=0.5), [SYS_NAME]))
    request, client_addr = await scripted.receive()
    scripted.other.sendto(response(request, [(SYS_NAME, v2c.OctetString(b"x"))]), client_addr)
    with pytest.raises(DeviceUnreachable):
        await call
    assert fast.stats.stray_datagrams == 1


async def test_retry_is_answered_late_for_the_first_try(fast, scripted):
    """The first try goes unanswered; the retry carries the same request and is answered."""
    call = asyncio.create_task(fast.get(scripted.target(timeout_s=0.3, retries=2), [SYS_NAME]))
    first, _ = await scripted.receive()
    second, client_addr = await scripted.receive()  # arrives once the first try times out
    assert v2c.apiPDU.get_request_id(first) == v2c.apiPDU.get_request_id(second)
    scripted.sock.sendto(response(second, [(SYS_NAME, v2c.OctetString(b"ok"))]), client_addr)
    assert await call == {SYS_NAME: b"ok"}
    assert fast.stats.timeouts == 1


async def test_error_status_maps_to_snmp_protocol_error_naming_the_oid(fast, scripted):
    call = asyncio.create_task(fast.get(scripted.target(), [SYS_DESCR, SYS_NAME]))
    request, client_addr = await scripted.receive()
    varbinds = [(SYS_DESCR, v2c.Null("")), (SYS_NAME, v2c.Null(""))]
    scripted.sock.sendto(response(request, varbinds, status=5, index=2), client_addr)
    with pytest.raises(SnmpProtocolError) as info:
        await call
    assert (info.value.status, info.value.index, info.value.oid) == ("genErr", 2, SYS_NAME)


async def test_too_big_get_is_split_in_halves(fast, scripted):
    call = asyncio.create_task(fast.get(scripted.target(), [SYS_DESCR, SYS_NAME]))
    request, client_addr = await scripted.receive()
    scripted.sock.sendto(response(request, [], status=1, index=0), client_addr)
    for oid, text in ((SYS_DESCR, b"descr"), (SYS_NAME, b"name")):
        half, client_addr = await scripted.receive()
        assert [str(o) for o, _ in v2c.apiPDU.get_varbinds(half)] == [oid]
        scripted.sock.sendto(response(half, [(oid, v2c.OctetString(text))]), client_addr)
    assert await call == {SYS_DESCR: b"descr", SYS_NAME: b"name"}


async def test_walk_ends_a_column_at_a_non_increasing_oid_and_keeps_the_others(
    fast, scripted, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="collectors.fast_client")
    call = asyncio.create_task(fast.walk(scripted.target(), [IF_DESCR, IF_MTU]))
    request, client_addr = await scripted.receive()
    assert v2c.apiBulkPDU.get_max_repetitions(request) == 25
    rows = [
        (f"{IF_DESCR}.2", v2c.OctetString(b"eth0")),
        (f"{IF_MTU}.1", v2c.Integer32(1500)),
        (f"{IF_DESCR}.1", v2c.OctetString(b"back")),  # goes backwards: ends ifDescr
        (f"{IF_MTU}.2", v2c.Integer32(9000)),
        (f"{IF_DESCR}.3", v2c.OctetString(b"ignored")),
        ("1.3.6.1.2.1.2.2.1.5.1", v2c.Gauge32(1)),  # past ifMtu: ends it
    ]
    scripted.sock.sendto(response(request, rows), client_addr)
    assert await call == {IF_DESCR: {"2": b"eth0"}, IF_MTU: {"1": 1500, "2": 9000}}
    assert any("OID not increasing" in r.getMessage() for r in caplog.records)
