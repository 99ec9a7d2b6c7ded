"""The v1/v2c fast path: an asyncio UDP SNMP client on one shared socket with its own BER codec.

Usage::

    async with await FastSnmpClient.create(max_in_flight=16) as client:
        target = SnmpTarget(host="192.0.2.7", community="public")    # collectors.engine's
        row = await client.get(target, ["1.3.6.1.2.1.1.3.0"])
        table = await client.walk(target, ["1.3.6.1.2.1.31.1.1.1.6", "1.3.6.1.2.1.31.1.1.1.10"])

It returns exactly what ``collectors.engine.SnmpClient`` returns (the same ``Row``/``Table``
shapes, the same walk end rules, the same ``DeviceUnreachable``/``SnmpProtocolError``), so
the poller can use either; SNMPv3, discovery and everything else stay on pysnmp. Why it
exists: pyasn1 decoding is most of tuned pysnmp's CPU (~92 µs per varbind against a few µs
here), see docs/performance.md.

Datagrams are matched to requests by request-id *and* source address/port *and*
version/community; anything else (late duplicates, strays, garbage) is counted and dropped.
At most ``max_in_flight`` requests are outstanding at once: with 50 in flight the team saw
the default UDP receive buffer overflow and 3–6 % of varbinds vanish silently, so the socket's
SO_RCVBUF is raised as well.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self

from collectors.ber import (
    TAG_END_OF_MIB_VIEW,
    TAG_NO_SUCH_INSTANCE,
    TAG_NO_SUCH_OBJECT,
    VERSION_V1,
    VERSION_V2C,
    BerError,
    Response,
    decode_response,
    encode_get,
    encode_get_bulk,
    encode_get_next,
)
from collectors.errors import DeviceUnreachable, SnmpProtocolError
from collectors.values import Row, Table

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_MAX_REPETITIONS",
    "DEFAULT_RCVBUF_BYTES",
    "ERROR_STATUS_NAMES",
    "FastClientStats",
    "FastSnmpClient",
    "FastTarget",
]

_logger = logging.getLogger(__name__)

DEFAULT_MAX_IN_FLIGHT = 16  # 8–16 were as fast as 50 on loopback, without the losses
DEFAULT_MAX_REPETITIONS = 25  # Net-SNMP caps a response at 100 varbinds; more gains nothing
DEFAULT_RCVBUF_BYTES = 4 * 1024 * 1024  # 16 × ~1.5 kB responses fit many times over

# RFC 3416 §3 error-status values, named as pysnmp prints them (the engine's status strings).
ERROR_STATUS_NAMES = (
    "noError",
    "tooBig",
    "noSuchName",
    "badValue",
    "readOnly",
    "genErr",
    "noAccess",
    "wrongType",
    "wrongLength",
    "wrongEncoding",
    "wrongValue",
    "noCreation",
    "inconsistentValue",
    "resourceUnavailable",
    "commitFailed",
    "undoFailed",
    "authorizationError",
    "notWritable",
    "inconsistentName",
)
_TOO_BIG = 1
_NO_SUCH_NAME = 2
_WALK_END_TAGS = (TAG_END_OF_MIB_VIEW, TAG_NO_SUCH_OBJECT, TAG_NO_SUCH_INSTANCE)
_MAX_REQUEST_ID = 0x7FFFFFFF


class FastTarget(Protocol):
    """What the fast path reads from a target; ``collectors.engine.SnmpTarget`` fits it."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def version(self) -> str: ...  # "1" or "2c"
    @property
    def community(self) -> str: ...
    @property
    def timeout_s(self) -> float: ...  # per try
    @property
    def retries(self) -> int: ...  # extra tries after the first


@dataclass(slots=True)
class FastClientStats:
    """Counters since the client was created (exported by the poller, read by the bench)."""

    requests: int = 0  # PDUs sent, retries included
    responses: int = 0  # datagrams matched to a waiting request
    timeouts: int = 0  # tries that got no matching answer in time
    stray_datagrams: int = 0  # well-formed, but no request waits for them from that address
    malformed_datagrams: int = 0  # BerError while decoding


@dataclass(slots=True)
class _Pending:
    addr: tuple[str, int]
    version: int
    community: bytes
    waiter: asyncio.Future[Response | None]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: FastSnmpClient) -> None:
        self._client = client

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._client._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # Unconnected UDP sockets see few ICMP errors; a lost request ends as a timeout.
        _logger.debug("fast SNMP socket error: %s", exc)


def _set_timed_out(waiter: asyncio.Future[Response | None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _norm_oid(oid: str) -> str:
    return oid.strip().lstrip(".")


_SUFFIX_KEYS: dict[str, tuple[int, ...]] = {}  # index suffix → its sub-identifiers
_SUFFIX_KEYS_MAX = 20_000


def _suffix_key(suffix: str) -> tuple[int, ...]:
    # Index suffixes repeat every cycle and across devices; bounded like ber's OID cache.
    key = _SUFFIX_KEYS.get(suffix)
    if key is None:
        if len(_SUFFIX_KEYS) >= _SUFFIX_KEYS_MAX:
            _SUFFIX_KEYS.clear()
        key = _SUFFIX_KEYS[suffix] = tuple(map(int, suffix.split(".")))
    return key


class FastSnmpClient:
    """Asyncio v1/v2c GET and multi-column GETBULK walks over shared UDP sockets."""

    def __init__(self, *, max_in_flight: int, rcvbuf_bytes: int, bind_host: str) -> None:
        """Use ``await FastSnmpClient.create()``; sockets open on first use."""
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self._rcvbuf_bytes = rcvbuf_bytes
        self._bind_host = bind_host
        self._transports: dict[int, asyncio.DatagramTransport] = {}  # address family → socket
        self._pending: dict[int, _Pending] = {}
        self._addresses: dict[tuple[str, int], tuple[int, tuple[str, int]]] = {}
        self._next_id = random.randrange(1, _MAX_REQUEST_ID)  # request ids need no secrecy
        self._closed = False
        self.stats = FastClientStats()
        self.rcvbuf_effective_bytes = 0

    @classmethod
    async def create(
        cls,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        rcvbuf_bytes: int = DEFAULT_RCVBUF_BYTES,
        bind_host: str = "",
    ) -> Self:
        """A client bounded to ``max_in_flight`` outstanding requests; binds an IPv4 socket now.

        ``bind_host`` is the local address ("" = any); IPv6 gets its own socket on first use.
        """
        client = cls(max_in_flight=max_in_flight, rcvbuf_bytes=rcvbuf_bytes, bind_host=bind_host)
        await client._transport(socket.AF_INET)
        return client

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the sockets; waiting requests end as DeviceUnreachable. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()
        for entry in self._pending.values():
            _set_timed_out(entry.waiter)

    @property
    def local_addresses(self) -> list[tuple[Any, ...]]:
        """The (host, port, …) each open socket is bound to (tests send strays to them)."""
        return [t.get_extra_info("sockname") for t in self._transports.values()]

    # ----------------------------------------------------------------- public operations

    async def get(self, target: FastTarget, oids: Sequence[str]) -> Row:
        """GET many OIDs in one PDU → {oid: value}; a missing object is ``None``.

        As the engine: tooBig splits the request in halves; v1 noSuchName drops that varbind.
        """
        keys = [_norm_oid(o) for o in oids]
        result: Row = dict.fromkeys(keys)
        if keys:
            await self._get_into(target, list(dict.fromkeys(keys)), result)
        return result

    async def walk(
        self,
        target: FastTarget,
        columns: Sequence[str],
        max_repetitions: int = DEFAULT_MAX_REPETITIONS,
    ) -> Table:
        """Walk several table columns at once → {column: {index suffix: value}}.

        GETBULK (GETNEXT for v1) carrying every still-open column. A column ends at the first
        OID outside it, at noSuchObject/noSuchInstance/endOfMibView, or — with a WARNING — at
        a non-increasing OID; it never loops. The same rules as ``SnmpClient.walk``.
        """
        order = list(dict.fromkeys(_norm_oid(c) for c in columns))
        for col in order:
            encode_get(VERSION_V2C, b"", 0, [col])  # validate early: numeric OIDs only
        table: Table = {col: {} for col in order}
        # column → (its OID + ".", the walk position as an OID, position's index as ints)
        cursor: dict[str, tuple[str, str, tuple[int, ...]]] = {
            col: (col + ".", col, ()) for col in order
        }
        active = list(order)
        repetitions = max(1, max_repetitions)
        v1 = target.version == "1"
        host = target.host
        while active:
            request = [cursor[col][1] for col in active]
            rsp = await self._request(target, "next" if v1 else "bulk", request, repetitions)
            if rsp.error_status:
                if rsp.error_status == _NO_SUCH_NAME and 1 <= rsp.error_index <= len(active):
                    del active[rsp.error_index - 1]  # SNMPv1 end of MIB view for that column
                    continue
                if rsp.error_status == _TOO_BIG and repetitions > 1:
                    repetitions = max(1, repetitions // 2)
                    continue
                raise self._protocol_error(host, rsp, request)
            width = len(active)
            ended: set[str] = set()
            progressed = False
            for i, (oid, value, tag) in enumerate(rsp.varbinds):
                col = active[i % width]
                if col in ended:
                    continue
                prefix, last_oid, last_key = cursor[col]
                if tag in _WALK_END_TAGS or not oid.startswith(prefix):
                    ended.add(col)
                    continue
                suffix = oid[len(prefix) :]
                key = _suffix_key(suffix)
                if key <= last_key:
                    _logger.warning(
                        "%s: OID not increasing in column %s (%s after %s); ending that column",
                        host,
                        col,
                        oid,
                        last_oid,
                    )
                    ended.add(col)
                    continue
                table[col][suffix] = value
                cursor[col] = (prefix, oid, key)
                progressed = True
            if not progressed and not ended:
                # A response without one usable varbind: stop rather than ask again forever.
                _logger.warning(
                    "%s: empty walk response for %s; ending those columns", host, active
                )
                break
            if ended:
                active = [col for col in active if col not in ended]
        return table

    # ----------------------------------------------------------------- internals

    async def _get_into(self, target: FastTarget, keys: list[str], result: Row) -> None:
        pending = list(keys)
        while pending:
            rsp = await self._request(target, "get", pending, 0)
            if not rsp.error_status:
                for key, (_oid, value, _tag) in zip(pending, rsp.varbinds, strict=False):
                    result[key] = value
                return
            if rsp.error_status == _NO_SUCH_NAME and 1 <= rsp.error_index <= len(pending):
                _logger.debug(
                    "%s: %s missing (v1 noSuchName)", target.host, pending[rsp.error_index - 1]
                )
                del pending[rsp.error_index - 1]
                continue
            if rsp.error_status == _TOO_BIG and len(pending) > 1:
                half = len(pending) // 2
                await self._get_into(target, pending[:half], result)
                await self._get_into(target, pending[half:], result)
                return
            raise self._protocol_error(target.host, rsp, pending)

    @staticmethod
    def _protocol_error(host: str, rsp: Response, oids: list[str]) -> SnmpProtocolError:
        status = rsp.error_status
        name = ERROR_STATUS_NAMES[status] if 0 <= status < len(ERROR_STATUS_NAMES) else str(status)
        index = rsp.error_index
        oid = oids[index - 1] if 1 <= index <= len(oids) else None
        return SnmpProtocolError(host, name, index, oid)

    async def _request(
        self, target: FastTarget, kind: str, oids: list[str], max_repetitions: int
    ) -> Response:
        """Send one PDU (with retries) and return its matched Response; timeouts → unreachable."""
        if self._closed:
            raise RuntimeError("FastSnmpClient is closed")
        if target.version == "1":
            version = VERSION_V1
        elif target.version == "2c":
            version = VERSION_V2C
        else:
            raise ValueError(f"the fast path speaks v1/v2c only, not {target.version!r}")
        family, addr = await self._resolve(target)
        transport = await self._transport(family)
        community = target.community.encode()
        loop = asyncio.get_running_loop()
        async with self._semaphore:
            request_id = self._allocate_id()
            if kind == "bulk":
                payload = encode_get_bulk(
                    community, request_id, oids, max_repetitions=max_repetitions
                )
            elif kind == "next":
                payload = encode_get_next(version, community, request_id, oids)
            else:
                payload = encode_get(version, community, request_id, oids)
            entry = _Pending(addr, version, community, loop.create_future())
            self._pending[request_id] = entry
            try:
                for _attempt in range(target.retries + 1):
                    if self._closed:
                        break
                    waiter: asyncio.Future[Response | None] = loop.create_future()
                    entry.waiter = waiter
                    transport.sendto(payload, addr)
                    self.stats.requests += 1
                    timer = loop.call_later(target.timeout_s, _set_timed_out, waiter)
                    try:
                        rsp = await waiter
                    finally:
                        timer.cancel()
                    if rsp is not None:
                        return rsp
                    self.stats.timeouts += 1
            finally:
                del self._pending[request_id]
        raise DeviceUnreachable(
            target.host,
            f"timeout: no SNMP response from {target.host}:{target.port} after "
            f"{target.retries + 1} × {target.timeout_s:g} s "
            "(agent down, port filtered, or wrong community)",
        )

    def _allocate_id(self) -> int:
        request_id = self._next_id
        while request_id in self._pending:
            request_id = request_id % _MAX_REQUEST_ID + 1
        self._next_id = request_id % _MAX_REQUEST_ID + 1
        return request_id

    def _on_datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            rsp = decode_response(data)
        except BerError as exc:
            self.stats.malformed_datagrams += 1
            _logger.debug("malformed SNMP datagram from %s: %s", addr[:2], exc)
            return
        entry = self._pending.get(rsp.request_id)
        if (
            entry is None
            or entry.waiter.done()
            or entry.addr[1] != addr[1]
            or entry.addr[0] != addr[0]
            or entry.version != rsp.version
            or entry.community != rsp.community
        ):
            self.stats.stray_datagrams += 1
            _logger.debug("stray SNMP datagram id %d from %s", rsp.request_id, addr[:2])
            return
        self.stats.responses += 1
        entry.waiter.set_result(rsp)

    async def _resolve(self, target: FastTarget) -> tuple[int, tuple[str, int]]:
        key = (target.host, target.port)
        cached = self._addresses.get(key)
        if cached is not None:
            return cached
        try:
            ip = ipaddress.ip_address(target.host)
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    target.host, target.port, type=socket.SOCK_DGRAM
                )
            except OSError as exc:
                raise DeviceUnreachable(target.host, f"cannot resolve address: {exc}") from exc
            if not infos:
                raise DeviceUnreachable(target.host, "cannot resolve address") from None
            ip = ipaddress.ip_address(infos[0][4][0])
        # Compare like the kernel reports sources: compressed text form, v4-mapped unwrapped.
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        resolved = (family, (ip.compressed, target.port))
        self._addresses[key] = resolved
        return resolved

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        transport = self._transports.get(family)
        if transport is not None:
            return transport
        if self._closed:
            raise RuntimeError("FastSnmpClient is closed")
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.rcvbuf_effective_bytes = _raise_rcvbuf(sock, self._rcvbuf_bytes)
            bind_host = self._bind_host if family == socket.AF_INET else ""
            sock.bind((bind_host, 0))
            sock.setblocking(False)
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Protocol(self), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        self._transports[family] = transport
        return transport


def _raise_rcvbuf(sock: socket.socket, wanted: int) -> int:
    """Raise SO_RCVBUF; as root past net.core.rmem_max (SO_RCVBUFFORCE). Returns the result."""
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    try:
        if force is None:
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, force, wanted)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)
    effective = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    # Linux reports twice the requested size (bookkeeping overhead included).
    if effective < wanted:
        _logger.warning(
            "UDP receive buffer is %d bytes, asked for %d: raise net.core.rmem_max",
            effective,
            wanted,
        )
    return int(effective)
