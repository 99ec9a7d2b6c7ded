"""A hostile SNMP agent on loopback against both SNMP paths and against the running collector.

``HostileAgent`` is a real UDP endpoint in front of a lab device (real snmpsim). Per request it
answers according to its ``mode``:

- ``garbage``: only malformed datagrams — random bytes, truncations, lying length fields,
  trailing octets, deep nesting, a 64 KiB datagram, the request echoed back, and well-formed
  responses with the wrong request id or community. None of them may be taken as the answer.
- ``garbage_then_forward``: the same garbage first, then the real agent's answer.
- ``wrong_types``: the real agent's answer with every value replaced by one of another type
  (an OCTET STRING where a counter belongs, a Counter64 of 2^64-1 where a string belongs …).
- ``forward``: the real agent's answer unchanged.

The contract: only the documented errors (``DeviceUnreachable``) within a bounded time, no
exception escaping into the event loop, the right answer taken when it comes after garbage, and
for the daemon: a clear verdict (device ``down`` with a timeout reason), no unexpected
exception at the poller's stability point, and the next poll after the agent behaves works.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import rfc1905
from pysnmp.proto.api import v2c

from collectors.engine import SnmpClient, SnmpTarget
from collectors.errors import DeviceUnreachable
from collectors.fast_client import FastSnmpClient
from collectors.lab import LabNetwork
from nocd.collection import Collection
from nocd.config import PollConfig, Settings, StorageSettings
from nocd.inventory import import_documents, parse_inventory
from nocd.metrics import PollMetrics
from nocd.storage import db, poll_repo

pytestmark = [pytest.mark.integration, pytest.mark.snmp, pytest.mark.asyncio(loop_scope="module")]

DEVICE = "d01-agg01-dslam-01"  # the lab's ADSL2+ DSLAM
SYS_NAME, SYS_UPTIME = "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.3.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
TIMEOUT_S = 0.3
DEADLINE_S = 30.0
SEED = 20261127


def _decode(data: bytes) -> Any:
    message, _ = decoder.decode(data, asn1Spec=v2c.Message())
    return message


def _encode_response(
    request_pdu: Any,
    varbinds: list[tuple[Any, Any]],
    *,
    request_id: int | None = None,
    community: bytes,
) -> bytes:
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    rid = v2c.apiPDU.get_request_id(request_pdu) if request_id is None else request_id
    v2c.apiPDU.set_request_id(pdu, rid)
    v2c.apiPDU.set_varbinds(pdu, varbinds)
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    v2c.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


def garbage_for(request: bytes, rng: random.Random) -> list[bytes]:
    """Datagrams that must never be taken as the answer to ``request``."""
    message = _decode(request)
    pdu = v2c.apiMessage.get_pdu(message)
    community = bytes(v2c.apiMessage.get_community(message))
    rid = int(v2c.apiPDU.get_request_id(pdu))
    names = [name for name, _ in v2c.apiPDU.get_varbinds(pdu)]
    good = _encode_response(pdu, [(n, v2c.Integer(1)) for n in names], community=community)
    nested = b""
    for _ in range(2000):
        nested = b"\x30\x84" + len(nested).to_bytes(4, "big") + nested
    out = [
        rng.randbytes(rng.randrange(1, 300)),
        good[: rng.randrange(1, len(good))],  # truncated
        good + rng.randbytes(rng.randrange(1, 8)),  # trailing octets
        good[:1] + b"\x84\xff\xff\xff\xff" + good[2:],  # length claims 4 GiB
        good[:1] + b"\x80" + good[2:],  # indefinite length
        nested,
        rng.randbytes(65000),  # near the UDP limit
        request,  # a request is not a response
        _encode_response(
            pdu,
            [(n, v2c.Integer(1)) for n in names],
            request_id=(rid + 1) % 2**31,
            community=community,
        ),
        _encode_response(pdu, [(n, v2c.Integer(1)) for n in names], community=community + b"x"),
    ]
    rng.shuffle(out)
    return out


_OTHER_TYPES: tuple[Any, ...] = (
    v2c.OctetString(b"\xff\xfe not a number \x00"),
    v2c.Counter64(2**64 - 1),
    v2c.Integer32(-(2**31)),
    v2c.ObjectIdentifier("1.3"),
    v2c.IpAddress("255.255.255.255"),
    v2c.Null(""),
    v2c.Gauge32(2**32 - 1),
    v2c.TimeTicks(0),
    v2c.Opaque(b"\x00"),
    rfc1905.noSuchInstance,
)


def with_wrong_types(response: bytes, serial: int) -> bytes:
    """The same response (request id, OIDs) with every value swapped for another type."""
    message = _decode(response)
    pdu = v2c.apiMessage.get_pdu(message)
    swapped = []
    for index, (name, value) in enumerate(v2c.apiPDU.get_varbinds(pdu)):
        choices = [t for t in _OTHER_TYPES if type(t) is not type(value)]
        swapped.append((name, choices[(serial + index) % len(choices)]))
    return _encode_response(pdu, swapped, community=bytes(v2c.apiMessage.get_community(message)))


class HostileAgent(asyncio.DatagramProtocol):
    """A loopback UDP endpoint in front of one real agent, answering as ``mode`` says."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = "garbage"
        self.requests = 0
        self._rng = random.Random(SEED)
        self._transport: asyncio.DatagramTransport | None = None
        self._relays: dict[tuple[str, int], asyncio.DatagramTransport] = {}

    @property
    def port(self) -> int:
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests += 1
        if self.mode in ("garbage", "garbage_then_forward"):
            assert self._transport is not None
            for datagram in garbage_for(data, self._rng):
                self._transport.sendto(datagram, addr)
        if self.mode != "garbage":
            asyncio.get_running_loop().create_task(self._forward(data, addr))

    async def _forward(self, data: bytes, client: tuple[str, int]) -> None:
        relay = self._relays.get(client)
        if relay is None:
            agent = self

            class _Relay(asyncio.DatagramProtocol):
                def datagram_received(self, answer: bytes, _addr: tuple[str, int]) -> None:
                    if agent.mode == "wrong_types":
                        answer = with_wrong_types(answer, agent.requests)
                    assert agent._transport is not None
                    agent._transport.sendto(answer, client)

            relay, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                _Relay, remote_addr=self.upstream
            )
            self._relays[client] = relay
        relay.sendto(data)

    def close(self) -> None:
        for relay in self._relays.values():
            relay.close()
        if self._transport is not None:
            self._transport.close()


@pytest_asyncio.fixture(loop_scope="module")
async def hostile(lab: LabNetwork) -> AsyncIterator[HostileAgent]:
    device = lab.device(DEVICE)
    _, agent = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: HostileAgent((device.address, device.port)), local_addr=("127.0.0.1", 0)
    )
    try:
        yield agent
    finally:
        agent.close()


@pytest.fixture
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """Anything that escapes into the event loop (a callback raising) is recorded here."""
    loop = asyncio.get_event_loop_policy().get_event_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    loop.set_exception_handler(previous)


def _target(lab: LabNetwork, hostile: HostileAgent) -> SnmpTarget:
    return SnmpTarget(
        host="127.0.0.1",
        port=hostile.port,
        community=lab.device(DEVICE).community,
        timeout_s=TIMEOUT_S,
        retries=1,
    )


async def _bounded(call: Callable[[], Any], bound_s: float) -> Any:
    started = time.monotonic()
    try:
        return await call()
    finally:
        assert time.monotonic() - started < bound_s, "the client hung on hostile input"


@pytest.mark.parametrize("path", ["fast", "engine"])
async def test_only_garbage_ends_as_device_unreachable_in_bounded_time(
    path: str, lab: LabNetwork, hostile: HostileAgent, loop_errors: list[dict[str, Any]]
) -> None:
    hostile.mode = "garbage"
    target = _target(lab, hostile)
    # tries × timeout, plus the engine's hang guard (5 s) and scheduling slack
    bound_s = 2 * TIMEOUT_S + 6.0
    if path == "fast":
        async with await FastSnmpClient.create(bind_host="127.0.0.1") as fast:
            with pytest.raises(DeviceUnreachable):
                await _bounded(lambda: fast.get(target, [SYS_NAME, SYS_UPTIME]), bound_s)
            with pytest.raises(DeviceUnreachable):
                await _bounded(lambda: fast.walk(target, [IF_DESCR]), bound_s)
            assert fast.stats.responses == 0
            assert fast.stats.malformed_datagrams >= 2 * 7  # per try: at least the 7 broken ones
            assert fast.stats.stray_datagrams >= 2  # wrong id / wrong community: well-formed
    else:
        async with await SnmpClient.create() as engine:
            with pytest.raises(DeviceUnreachable):
                await _bounded(lambda: engine.get(target, [SYS_NAME, SYS_UPTIME]), bound_s)
            with pytest.raises(DeviceUnreachable):
                await _bounded(lambda: engine.walk(target, [IF_DESCR]), bound_s)
    assert not loop_errors, loop_errors


@pytest.mark.parametrize("path", ["fast", "engine"])
async def test_the_real_answer_behind_garbage_is_taken(
    path: str, lab: LabNetwork, hostile: HostileAgent, loop_errors: list[dict[str, Any]]
) -> None:
    direct = lab.target(DEVICE, timeout_s=2.0, retries=1)
    target = _target(lab, hostile)
    hostile.mode = "garbage_then_forward"
    client: Any
    async with (
        await FastSnmpClient.create(bind_host="127.0.0.1")
        if path == "fast"
        else await SnmpClient.create()
    ) as client:
        expected_row = await client.get(direct, [SYS_NAME])
        expected_table = await client.walk(direct, [IF_DESCR])
        for _ in range(3):  # several rounds: garbage never poisons later requests
            assert await _bounded(lambda: client.get(target, [SYS_NAME]), 5.0) == expected_row
        assert await _bounded(lambda: client.walk(target, [IF_DESCR]), 10.0) == expected_table
    assert expected_table[IF_DESCR], "the lab device has interfaces"
    assert not loop_errors, loop_errors


class _Running:
    def __init__(self, sessions: Callable[[], Any], registry: CollectorRegistry) -> None:
        self.sessions = sessions
        self.registry = registry

    def status(self) -> poll_repo.DeviceStatusRecord | None:
        with self.sessions() as session:
            return next(iter(poll_repo.device_statuses(session)), None)

    def polls(self) -> float:
        return sum(
            self.registry.get_sample_value("nocd_snmp_requests_total", {"result": r}) or 0
            for r in ("ok", "error", "timeout", "unreachable")
        )

    async def until(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not await asyncio.to_thread(check):
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.status()}"
            await asyncio.sleep(0.2)  # re-check interval of this wait loop, not a sync point


async def test_collector_survives_a_garbage_agent_and_polls_it_once_it_behaves(
    lab: LabNetwork,
    hostile: HostileAgent,
    fresh_db_url: str,
    caplog: pytest.LogCaptureFixture,
    loop_errors: list[dict[str, Any]],
) -> None:
    community = lab.device(DEVICE).community
    inventory = f"""districts:
- id: d01
  name: Lab district 01
devices:
- name: hostile-dslam
  district: d01
  kind: dslam
  address: 127.0.0.1
  port: {hostile.port}
  snmp:
    version: 2c
    community: {community}
"""
    engine = db.make_engine(fresh_db_url)
    sessions = db.session_factory(engine)
    with sessions() as session:
        import_documents(session, [parse_inventory(inventory, "hostile.yaml")])
        session.commit()
    settings = Settings(
        storage=StorageSettings(url=fresh_db_url),
        poll=PollConfig(interfaces_s=1, dsl_lines_s=1, down_after_s=1.0, timeout_s=TIMEOUT_S,
                        retries=0, deadline_s=5.0, backoff_max_s=1.0),
    )  # fmt: skip
    registry = CollectorRegistry()
    collection = Collection(settings=settings, sessions=sessions, metrics=PollMetrics(registry))
    running = _Running(sessions, registry)
    hostile.mode = "garbage"
    caplog.set_level(logging.WARNING)
    task = asyncio.create_task(collection.run())
    try:
        # 1. garbage only: a clear verdict, not a crash
        await running.until(
            lambda: (s := running.status()) is not None and s.state == "down", "a down verdict"
        )
        status = running.status()
        assert status is not None and "timeout" in status.reason, status
        # 2. the agent behaves: the next polls work
        hostile.mode = "forward"
        await running.until(
            lambda: (s := running.status()) is not None and s.state == "up", "recovery"
        )
        # 3. well-formed answers with every value of the wrong type
        hostile.mode = "wrong_types"
        before = running.polls()
        await running.until(lambda: running.polls() >= before + 6, "polls of wrong types")
        # 4. and back: still polled, still up
        hostile.mode = "forward"
        before_ok = registry.get_sample_value("nocd_snmp_requests_total", {"result": "ok"}) or 0
        await running.until(
            lambda: (registry.get_sample_value("nocd_snmp_requests_total", {"result": "ok"})
                     or 0) >= before_ok + 2,
            "good polls after the wrong types",
        )  # fmt: skip
        status = running.status()
        assert status is not None and status.state == "up", status
        assert not task.done(), "the collection loop ended"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        engine.dispose()
    unexpected = [r for r in caplog.records if r.exc_info or "unexpectedly" in r.getMessage()]
    assert not unexpected, [r.getMessage() for r in unexpected]
    assert not loop_errors, loop_errors
