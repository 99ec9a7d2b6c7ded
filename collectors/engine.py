"""The SNMP engine wrapper, the one module importing pysnmp: GET and GETBULK walks → plain values.

Usage::

    async with await SnmpClient.create() as client:
        target = SnmpTarget(host="192.0.2.7", community="public")
        row = await client.get(target, ["1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0"])
        table = await client.walk(target, ["1.3.6.1.2.1.31.1.1.1.1", "1.3.6.1.2.1.31.1.1.1.6"])

One ``SnmpClient`` (hence one ``SnmpEngine``) per process: the pysnmp examples gather many
targets on one engine, and an engine per host is slow (etingof/pysnmp#402). nocd only reads:
there is no SET anywhere. pysnmp/pyasn1 values are converted here, once, into the plain types of
``collectors.values``; a value of an unexpected type becomes ``None`` ("missing").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self, get_args

from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
    usm3DESEDEPrivProtocol,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
)
from pysnmp.proto import errind, rfc1902, rfc1905

from collectors.errors import DeviceUnreachable, SnmpProtocolError
from collectors.values import Row, SnmpValue, Table

__all__ = [
    "AUTH_PROTOCOLS",
    "PRIV_PROTOCOLS",
    "AuthProtocol",
    "PrivProtocol",
    "SnmpClient",
    "SnmpTarget",
    "SnmpVersion",
]

_logger = logging.getLogger(__name__)

SnmpVersion = Literal["1", "2c", "3"]
AuthProtocol = Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"]
# aes192/aes256 use Reeder key extension (Cisco, Net-SNMP "AES-192-C"); the "-blumenthal"
# variants follow draft-blumenthal-aes-usm-04 (Net-SNMP "AES-192"/"AES-256"). With SHA-256 or
# longer auth digests the two give the same key, because no extension is needed.
PrivProtocol = Literal[
    "des", "3des", "aes", "aes128", "aes192", "aes256", "aes192-blumenthal", "aes256-blumenthal"
]
AUTH_PROTOCOLS: tuple[str, ...] = get_args(AuthProtocol)
PRIV_PROTOCOLS: tuple[str, ...] = get_args(PrivProtocol)

_AUTH: dict[str, Any] = {
    "md5": usmHMACMD5AuthProtocol,
    "sha": usmHMACSHAAuthProtocol,
    "sha224": usmHMAC128SHA224AuthProtocol,
    "sha256": usmHMAC192SHA256AuthProtocol,
    "sha384": usmHMAC256SHA384AuthProtocol,
    "sha512": usmHMAC384SHA512AuthProtocol,
}
_PRIV: dict[str, Any] = {
    "des": usmDESPrivProtocol,
    "3des": usm3DESEDEPrivProtocol,
    "aes": usmAesCfb128Protocol,
    "aes128": usmAesCfb128Protocol,
    "aes192": usmAesCfb192Protocol,
    "aes256": usmAesCfb256Protocol,
    "aes192-blumenthal": usmAesBlumenthalCfb192Protocol,
    "aes256-blumenthal": usmAesBlumenthalCfb256Protocol,
}
# pysnmp-based agents (snmpsim) give up on a GETBULK with more than 64 repeaters (they
# compute max-repetitions as 64 // repeaters = 0 and never answer); stay well below.
_MAX_COLUMNS_PER_PDU = 32
_USM_MIN_KEY_LEN = 8  # RFC 3414 §11.2: pass phrases shorter than 8 octets are refused
# Slack on top of pysnmp's own timeout × tries before we declare the request hung.
_HANG_GUARD_S = 5.0

# errorIndication classes → what an operator should check. Anything else keeps pysnmp's text.
_INDICATION_REASONS: tuple[tuple[type[errind.ErrorIndication], str], ...] = (
    (
        errind.WrongDigest,
        "SNMPv3 authentication failed (wrong digest): wrong auth key or auth protocol",
    ),
    (errind.UnknownUserName, "SNMPv3 user is unknown to the agent"),
    (
        errind.UnsupportedSecurityLevel,
        "SNMPv3 security level not supported for this user by the agent",
    ),
    (errind.DecryptionError, "SNMPv3 decryption failed: wrong privacy key or privacy protocol"),
    (errind.NotInTimeWindow, "SNMPv3 message not in time window (engine boots/time)"),
    (errind.UnknownEngineID, "SNMPv3 engine ID discovery failed"),
    (errind.EncryptionError, "SNMPv3 encryption failed"),
    (errind.AuthenticationFailure, "SNMPv3 authentication failure reported by the agent"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SnmpTarget:
    """Where and how to reach one agent; secrets are kept out of ``repr``.

    Forms::

        SnmpTarget(host="10.0.0.1")                                    # v2c, community "public"
        SnmpTarget(host="10.0.0.1", version="1", community="private")
        SnmpTarget(host="10.0.0.1", version="3", user="nocd",
                   auth_protocol="sha", auth_key="…", priv_protocol="aes", priv_key="…")
    """

    host: str
    port: int = 161
    version: SnmpVersion = "2c"
    community: str = field(default="public", repr=False)
    user: str = ""
    auth_protocol: AuthProtocol | None = None
    auth_key: str = field(default="", repr=False)
    priv_protocol: PrivProtocol | None = None
    priv_key: str = field(default="", repr=False)
    timeout_s: float = 2.0  # per try
    retries: int = 1  # extra tries after the first

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.version not in get_args(SnmpVersion):
            problems.append(f"version must be one of 1, 2c, 3, not {self.version!r}")
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port} is out of range")
        if self.timeout_s <= 0 or self.retries < 0:
            problems.append("timeout_s must be > 0 and retries >= 0")
        if self.version == "3":
            if not self.user:
                problems.append("SNMPv3 needs a user")
            if self.auth_protocol is not None and self.auth_protocol not in _AUTH:
                problems.append(f"auth_protocol must be one of {', '.join(AUTH_PROTOCOLS)}")
            if self.priv_protocol is not None and self.priv_protocol not in _PRIV:
                problems.append(f"priv_protocol must be one of {', '.join(PRIV_PROTOCOLS)}")
            if self.priv_protocol is not None and self.auth_protocol is None:
                problems.append("a privacy protocol needs an auth protocol (authPriv)")
            if self.auth_protocol is not None and len(self.auth_key) < _USM_MIN_KEY_LEN:
                problems.append(f"auth_key must be at least {_USM_MIN_KEY_LEN} characters")
            if self.priv_protocol is not None and len(self.priv_key) < _USM_MIN_KEY_LEN:
                problems.append(f"priv_key must be at least {_USM_MIN_KEY_LEN} characters")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def security_level(self) -> str:
        """``noAuthNoPriv``, ``authNoPriv`` or ``authPriv`` (v3); community-based otherwise."""
        if self.version != "3":
            return "community"
        if self.auth_protocol is None:
            return "noAuthNoPriv"
        return "authNoPriv" if self.priv_protocol is None else "authPriv"


@dataclass(frozen=True, slots=True)
class _Response:
    status: str | None  # errorStatus name, e.g. "noSuchName"; None when 0
    index: int  # errorIndex, 1-based; 0 when none
    varbinds: list[tuple[tuple[int, ...], Any]]


def _oid_str(oid: str) -> str:
    return oid.strip().lstrip(".")


def _oid_tuple(oid: str) -> tuple[int, ...]:
    try:
        parts = tuple(int(p) for p in _oid_str(oid).split("."))
    except ValueError:
        raise ValueError(f"not a numeric OID: {oid!r}") from None
    if len(parts) < 2:
        raise ValueError(f"not a numeric OID: {oid!r}")
    return parts


def _is_exception_value(value: Any) -> bool:
    return isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView)


def to_python(value: Any) -> SnmpValue:
    """One pyasn1 value → int | bytes | str | None, per ``collectors.values``; surprises → None."""
    if isinstance(value, univ.Null):  # noSuchObject & co. are Null, and Null is an OCTET STRING
        return None
    try:
        if isinstance(value, rfc1902.IpAddress):  # an OCTET STRING subclass: test it first
            return ".".join(str(b) for b in value.asOctets())
        if isinstance(value, univ.Integer):  # Integer32, Counter32/64, Gauge32, TimeTicks …
            return int(value)
        if isinstance(value, univ.OctetString):  # OCTET STRING, Opaque, BITS
            return bytes(value.asOctets())
        if isinstance(value, univ.ObjectIdentifier):
            return ".".join(str(n) for n in value.asTuple())
    except (PyAsn1Error, ValueError, TypeError) as exc:
        _logger.debug("unconvertible SNMP value %r: %s", value, exc)
        return None
    # Null, noSuchObject, noSuchInstance, endOfMibView and anything unknown are "missing".
    return None


class SnmpClient:
    """Owns the process's one ``SnmpEngine``; reads scalars (GET) and tables (GETBULK walk)."""

    def __init__(self, engine: Any) -> None:
        """Use ``await SnmpClient.create()``; this constructor only adopts an engine."""
        self._engine = engine
        self._closed = False
        # SnmpTarget → (auth data, transport target): DNS is resolved once per target.
        self._endpoints: dict[SnmpTarget, tuple[Any, Any]] = {}

    @classmethod
    async def create(cls) -> Self:
        """Create the client and its engine inside the running event loop."""
        engine = SnmpEngine()
        _drop_malformed_datagrams(engine)
        return cls(engine)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the engine's dispatcher and release its sockets; idempotent."""
        if not self._closed:
            self._closed = True
            self._endpoints.clear()
            self._engine.close_dispatcher()

    async def get(self, target: SnmpTarget, oids: Sequence[str]) -> Row:
        """GET many OIDs in one PDU → {oid: value}; a missing object is ``None``.

        tooBig splits the request in halves; SNMPv1's noSuchName drops that one varbind and
        retries the rest, so v1 behaves like v2c's noSuchObject.
        """
        keys = [_oid_str(o) for o in oids]
        for key in keys:
            _oid_tuple(key)  # validate early: numeric OIDs only
        result: Row = dict.fromkeys(keys)
        if keys:
            await self._get_into(target, list(dict.fromkeys(keys)), result)
        return result

    async def _get_into(self, target: SnmpTarget, keys: list[str], result: Row) -> None:
        pending = list(keys)
        while pending:
            rsp = await self._request(target, "get", pending)
            if rsp.status is None:
                for key, (_oid, value) in zip(pending, rsp.varbinds, strict=False):
                    result[key] = to_python(value)
                return
            if rsp.status == "noSuchName" and 1 <= rsp.index <= len(pending):
                _logger.debug("%s: %s missing (v1 noSuchName)", target.host, pending[rsp.index - 1])
                del pending[rsp.index - 1]
                continue
            if rsp.status == "tooBig" and len(pending) > 1:
                half = len(pending) // 2
                await self._get_into(target, pending[:half], result)
                await self._get_into(target, pending[half:], result)
                return
            raise self._protocol_error(target, rsp, pending)

    async def present(self, target: SnmpTarget, columns: Sequence[str]) -> frozenset[str]:
        """The ``columns`` that hold at least one instance: one GETNEXT carrying all of them."""
        pending = list(dict.fromkeys(_oid_str(c) for c in columns))
        found: set[str] = set()
        while pending:
            rsp = await self._request(target, "next", pending)
            if rsp.status == "noSuchName" and 1 <= rsp.index <= len(pending):
                del pending[rsp.index - 1]  # SNMPv1: nothing after this one
                continue
            if rsp.status is not None:
                raise self._protocol_error(target, rsp, pending)
            for col, (oid, value) in zip(pending, rsp.varbinds, strict=False):
                prefix = _oid_tuple(col)
                inside = oid[: len(prefix)] == prefix and len(oid) > len(prefix)
                if inside and not _is_exception_value(value):
                    found.add(col)
            break
        return frozenset(found)

    async def walk(
        self, target: SnmpTarget, columns: Sequence[str], max_repetitions: int = 25
    ) -> Table:
        """Walk several table columns at once → {column: {index suffix: value}}.

        GETBULK (GETNEXT for v1) with up to 32 still-open columns per PDU. A column ends at the
        first OID outside it, at endOfMibView, or — with a WARNING — at a non-increasing OID,
        as some agents return (ZTE); it never loops. The index is the OID suffix.
        """
        order = list(dict.fromkeys(_oid_str(c) for c in columns))
        prefixes = {col: _oid_tuple(col) for col in order}
        table: Table = {col: {} for col in order}
        cursor = dict(prefixes)
        active = list(order)
        repetitions = max(1, max_repetitions)
        while active:
            kind = "next" if target.version == "1" else "bulk"
            batch = active[:_MAX_COLUMNS_PER_PDU]
            request = [".".join(map(str, cursor[col])) for col in batch]
            rsp = await self._request(target, kind, request, repetitions)
            if rsp.status is not None:
                if rsp.status == "noSuchName" and 1 <= rsp.index <= len(batch):
                    # SNMPv1 end of MIB view: only that varbind is finished.
                    active.remove(batch[rsp.index - 1])
                    continue
                if rsp.status == "tooBig" and repetitions > 1:
                    repetitions = max(1, repetitions // 2)
                    continue
                raise self._protocol_error(target, rsp, request)
            ended: set[str] = set()
            progressed: set[str] = set()
            for i, (oid, value) in enumerate(rsp.varbinds):
                col = batch[i % len(batch)]
                if col in ended:
                    continue
                prefix = prefixes[col]
                if (
                    _is_exception_value(value)
                    or len(oid) <= len(prefix)
                    or oid[: len(prefix)] != prefix
                ):
                    ended.add(col)
                elif oid <= cursor[col]:
                    _logger.warning(
                        "%s: OID not increasing in column %s (%s after %s); ending that column",
                        target.host,
                        col,
                        ".".join(map(str, oid)),
                        ".".join(map(str, cursor[col])),
                    )
                    ended.add(col)
                else:
                    table[col][".".join(map(str, oid[len(prefix) :]))] = to_python(value)
                    cursor[col] = oid
                    progressed.add(col)
            if not progressed and not ended:
                # A response without a single usable varbind: stop rather than ask again forever.
                _logger.warning(
                    "%s: empty walk response for %s; ending those columns", target.host, batch
                )
                ended.update(batch)
            active = [col for col in active if col not in ended]
        return table

    async def _endpoint(self, target: SnmpTarget) -> tuple[Any, Any]:
        cached = self._endpoints.get(target)
        if cached is not None:
            return cached
        auth: Any
        if target.version == "3":
            auth = UsmUserData(
                target.user,
                authKey=target.auth_key if target.auth_protocol else None,
                privKey=target.priv_key if target.priv_protocol else None,
                authProtocol=_AUTH[target.auth_protocol] if target.auth_protocol else None,
                privProtocol=_PRIV[target.priv_protocol] if target.priv_protocol else None,
            )
        else:
            auth = CommunityData(target.community, mpModel=0 if target.version == "1" else 1)
        transport_cls = Udp6TransportTarget if ":" in target.host else UdpTransportTarget
        try:
            transport = await transport_cls.create(
                (target.host, target.port), timeout=target.timeout_s, retries=target.retries
            )
        except PySnmpError as exc:
            raise DeviceUnreachable(target.host, f"cannot resolve address: {exc}") from exc
        self._endpoints[target] = (auth, transport)
        return auth, transport

    async def _request(
        self, target: SnmpTarget, kind: str, oids: list[str], max_repetitions: int = 0
    ) -> _Response:
        """Send one PDU; map errorIndication and pysnmp exceptions to DeviceUnreachable, once."""
        if self._closed:
            raise RuntimeError("SnmpClient is closed")
        auth, transport = await self._endpoint(target)
        varbinds = [ObjectType(ObjectIdentity(oid)) for oid in oids]
        deadline_s = target.timeout_s * (target.retries + 1) + _HANG_GUARD_S
        _logger.debug("%s: %s %d varbinds", target.host, kind, len(oids))
        try:
            async with asyncio.timeout(deadline_s):
                if kind == "get":
                    reply = await get_cmd(
                        self._engine, auth, transport, ContextData(), *varbinds, lookupMib=False
                    )
                elif kind == "next":
                    reply = await next_cmd(
                        self._engine,
                        auth,
                        transport,
                        ContextData(),
                        *varbinds,
                        lookupMib=False,
                        ignoreNonIncreasingOid=True,  # walk() checks order per column
                    )
                else:
                    reply = await bulk_cmd(
                        self._engine,
                        auth,
                        transport,
                        ContextData(),
                        0,
                        max_repetitions,
                        *varbinds,
                        lookupMib=False,
                        ignoreNonIncreasingOid=True,
                    )
        except TimeoutError as exc:
            raise DeviceUnreachable(
                target.host, f"no answer within {deadline_s:.1f} s (request hung)"
            ) from exc
        except (PySnmpError, PyAsn1Error, OSError) as exc:
            raise DeviceUnreachable(target.host, f"SNMP request failed: {exc}") from exc
        error_indication, error_status, error_index, response = reply
        if error_indication:
            raise DeviceUnreachable(
                target.host, self._reason(target, error_indication)
            ) from _as_exception(error_indication)
        status = None
        if error_status and int(error_status) != 0:
            status = (
                error_status.prettyPrint()
                if hasattr(error_status, "prettyPrint")
                else str(error_status)
            )
        pairs: list[tuple[tuple[int, ...], Any]] = []
        for vb in response:
            oid, value = vb[0], vb[1]
            if isinstance(oid, ObjectIdentity):
                oid = oid.get_oid()
            pairs.append((tuple(oid), value))
        return _Response(status=status, index=int(error_index or 0), varbinds=pairs)

    @staticmethod
    def _reason(target: SnmpTarget, indication: Any) -> str:
        if isinstance(indication, errind.RequestTimedOut):
            tries = target.retries + 1
            hint = (
                "agent down, port filtered, or wrong privacy key"
                if target.version == "3"
                else "agent down, port filtered, or wrong community"
            )
            return (
                f"timeout: no SNMP response from {target.host}:{target.port} "
                f"after {tries} × {target.timeout_s:g} s ({hint})"
            )
        for cls, text in _INDICATION_REASONS:
            if isinstance(indication, cls):
                who = f" (user {target.user!r}, {target.security_level})" if target.user else ""
                return f"{text}{who}"
        return str(indication)

    @staticmethod
    def _protocol_error(target: SnmpTarget, rsp: _Response, oids: list[str]) -> SnmpProtocolError:
        oid = oids[rsp.index - 1] if 1 <= rsp.index <= len(oids) else None
        return SnmpProtocolError(target.host, rsp.status or "unknown", rsp.index, oid)


def _drop_malformed_datagrams(engine: Any) -> None:
    """Make the engine drop a datagram it cannot decode instead of raising into the loop.

    pysnmp 7.1 / pyasn1 0.6 raise ``TypeError`` (and others) on some malformed datagrams from
    inside the transport callback (tests/integration/test_snmp_hostile_agent.py); asyncio then
    logs a traceback at ERROR for every such datagram, so a broken or hostile agent could
    flood the log. The datagram is lost either way; the request it was meant for times out.
    """
    dispatcher = engine.message_dispatcher
    receive = dispatcher.receive_message

    def receive_or_drop(snmp_engine: Any, domain: Any, address: Any, message: bytes) -> Any:
        try:
            return receive(snmp_engine, domain, address, message)
        except Exception as exc:  # noqa: BLE001 - stability point: one datagram from the network
            # The type only: decoder messages can quote the datagram, community included.
            _logger.debug(
                "dropped an undecodable SNMP datagram from %s (%s)", address, type(exc).__name__
            )
            return b""

    dispatcher.receive_message = receive_or_drop


def _as_exception(indication: Any) -> BaseException | None:
    # pysnmp's ErrorIndication subclasses Exception; keep it as the __cause__ for debugging.
    return indication if isinstance(indication, BaseException) else None
