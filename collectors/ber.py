"""A small, strict BER codec for SNMP v1/v2c read requests and their Response PDUs.

Only what the v1/v2c fast path needs: it *encodes* GetRequest, GetNextRequest and
GetBulkRequest messages and *decodes* Response messages into the plain value types of
``collectors.values``. There is deliberately no encoder for any write PDU: nocd only reads.

Every malformed, truncated, oversized or unexpected input raises :class:`BerError` (a
``ValueError``) and nothing else. Each decoding step consumes at least one byte and every
length is checked against the bytes that remain, so decoding a datagram of ``n`` bytes does
``O(n)`` work and always terminates.

Wire layout decoded here (RFC 1157 / RFC 3416, definite lengths only)::

    30 LL                      Message ::= SEQUENCE {
       02 01 vv                  version       INTEGER (0 = v1, 1 = v2c)
       04 LL cc..                community     OCTET STRING
       A2 LL                     Response-PDU  [2] IMPLICIT SEQUENCE {
          02 LL rr..               request-id    INTEGER
          02 LL ss                 error-status  INTEGER
          02 LL ii                 error-index   INTEGER
          30 LL                    variable-bindings SEQUENCE OF
             30 LL 06 LL oo.. TT LL vv..   VarBind ::= SEQUENCE { name OID, value }
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collectors.values import SnmpValue

__all__ = [
    "MAX_MESSAGE_OCTETS",
    "MAX_OID_SUBIDS",
    "TAG_COUNTER32",
    "TAG_COUNTER64",
    "TAG_END_OF_MIB_VIEW",
    "TAG_GAUGE32",
    "TAG_INTEGER",
    "TAG_IPADDRESS",
    "TAG_NO_SUCH_INSTANCE",
    "TAG_NO_SUCH_OBJECT",
    "TAG_NULL",
    "TAG_OCTET_STRING",
    "TAG_OID",
    "TAG_OPAQUE",
    "TAG_TIMETICKS",
    "VERSION_V1",
    "VERSION_V2C",
    "BerError",
    "Response",
    "VarBind",
    "decode_response",
    "encode_get",
    "encode_get_bulk",
    "encode_get_next",
    "encode_oid",
    "oid_key",
]

VERSION_V1 = 0
VERSION_V2C = 1

# Universal and SNMP application tags (one identifier octet each).
TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_NULL = 0x05
TAG_OID = 0x06
TAG_SEQUENCE = 0x30
TAG_IPADDRESS = 0x40
TAG_COUNTER32 = 0x41
TAG_GAUGE32 = 0x42
TAG_TIMETICKS = 0x43
TAG_OPAQUE = 0x44
TAG_COUNTER64 = 0x46
# v2c varbind exceptions, context-specific primitive, always zero length.
TAG_NO_SUCH_OBJECT = 0x80
TAG_NO_SUCH_INSTANCE = 0x81
TAG_END_OF_MIB_VIEW = 0x82

_PDU_GET = 0xA0
_PDU_GET_NEXT = 0xA1
_PDU_RESPONSE = 0xA2
_PDU_GET_BULK = 0xA5

# Largest UDP/IPv4 payload; nothing bigger can arrive in one datagram.
MAX_MESSAGE_OCTETS = 65507
# RFC 2578 §3.5: at most 128 sub-identifiers, each at most 2^32-1.
MAX_OID_SUBIDS = 128
_MAX_SUBID = 0xFFFFFFFF
_INT32_MIN = -0x80000000
_INT32_MAX = 0x7FFFFFFF
_UINT32_MAX = 0xFFFFFFFF
_UINT64_MAX = 0xFFFFFFFFFFFFFFFF
# Longest content of any INTEGER-like value: a Counter64 of 2^64-1 needs a leading 0x00.
_MAX_INTEGER_OCTETS = 9

# A VarBind is (numeric OID without leading dot, value, wire tag). The tag tells a
# noSuchObject/noSuchInstance/endOfMibView ``None`` apart from a NULL ``None``.
VarBind = tuple[str, SnmpValue, int]

_UNSIGNED_TAGS = (TAG_COUNTER64, TAG_COUNTER32, TAG_GAUGE32, TAG_TIMETICKS)
_EMPTY_TAGS = (TAG_NULL, TAG_NO_SUCH_OBJECT, TAG_NO_SUCH_INSTANCE, TAG_END_OF_MIB_VIEW)
# tag → inclusive value range of the INTEGER-encoded types (the hot path decodes them inline).
_INTEGER_RANGES = {
    TAG_INTEGER: (_INT32_MIN, _INT32_MAX),
    TAG_COUNTER32: (0, _UINT32_MAX),
    TAG_GAUGE32: (0, _UINT32_MAX),
    TAG_TIMETICKS: (0, _UINT32_MAX),
    TAG_COUNTER64: (0, _UINT64_MAX),
}
_OID_CACHE: dict[bytes, str] = {}  # BER content octets → dotted OID
_OID_CACHE_MAX = 20_000  # entries; ~3 MB at most
_DIGITS = tuple(str(i) for i in range(128))


class BerError(ValueError):
    """Raised when BER input is malformed, truncated, oversized or not an SNMP v1/v2c Response."""


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded v1/v2c Response message."""

    version: int
    community: bytes
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[VarBind]


# --------------------------------------------------------------------------- encoding


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _encode_length(len(content)) + content


def _encode_integer(value: int) -> bytes:
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise BerError(f"INTEGER {value} outside Integer32")
    size = (value if value >= 0 else ~value).bit_length() // 8 + 1
    return _tlv(TAG_INTEGER, value.to_bytes(size, "big", signed=True))


def encode_oid(oid: str) -> bytes:
    """BER content octets (no tag, no length) of a dotted numeric OID such as ``1.3.6.1.2.1``."""
    text = oid[1:] if oid.startswith(".") else oid
    try:
        subids = [int(part) for part in text.split(".")]
    except ValueError as exc:
        raise BerError(f"not a numeric OID: {oid!r}") from exc
    if (
        len(subids) < 2
        or len(subids) > MAX_OID_SUBIDS
        or subids[0] > 2
        or (subids[0] < 2 and subids[1] > 39)
        or any(s < 0 or s > _MAX_SUBID for s in subids)
        or any(not part.isdigit() for part in text.split("."))
    ):
        raise BerError(f"not a valid OID: {oid!r}")
    out = bytearray()
    for index, subid in enumerate([subids[0] * 40 + subids[1], *subids[2:]]):
        if subid < 0x80:
            out.append(subid)
            continue
        if index == 0 and subid > _MAX_SUBID:
            raise BerError(f"not a valid OID: {oid!r}")
        chunk = [subid & 0x7F]
        subid >>= 7
        while subid:
            chunk.append(0x80 | (subid & 0x7F))
            subid >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def _encode_varbinds(oids: Sequence[str]) -> bytes:
    # Each VarBind is SEQUENCE { OID, NULL }.
    body = b"".join(
        _tlv(TAG_SEQUENCE, _tlv(TAG_OID, encode_oid(oid)) + b"\x05\x00") for oid in oids
    )
    return _tlv(TAG_SEQUENCE, body)


def _encode_message(version: int, community: bytes, pdu: bytes) -> bytes:
    if version not in (VERSION_V1, VERSION_V2C):
        raise BerError(f"unsupported SNMP version {version}")
    message = _tlv(TAG_SEQUENCE, _encode_integer(version) + _tlv(TAG_OCTET_STRING, community) + pdu)
    if len(message) > MAX_MESSAGE_OCTETS:
        raise BerError(f"request of {len(message)} octets does not fit one datagram")
    return message


def _encode_pdu(tag: int, request_id: int, a: int, b: int, oids: Sequence[str]) -> bytes:
    return _tlv(
        tag,
        _encode_integer(request_id)
        + _encode_integer(a)
        + _encode_integer(b)
        + _encode_varbinds(oids),
    )


def encode_get(version: int, community: bytes, request_id: int, oids: Sequence[str]) -> bytes:
    """A complete GetRequest message asking for every OID in ``oids``."""
    return _encode_message(version, community, _encode_pdu(_PDU_GET, request_id, 0, 0, oids))


def encode_get_next(version: int, community: bytes, request_id: int, oids: Sequence[str]) -> bytes:
    """A complete GetNextRequest message for the successors of every OID in ``oids``."""
    return _encode_message(version, community, _encode_pdu(_PDU_GET_NEXT, request_id, 0, 0, oids))


def encode_get_bulk(
    community: bytes,
    request_id: int,
    oids: Sequence[str],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 25,
) -> bytes:
    """A complete v2c GetBulkRequest message (GETBULK does not exist in v1)."""
    if not 0 <= non_repeaters <= len(oids) or not 0 <= max_repetitions <= _INT32_MAX:
        raise BerError("non-repeaters/max-repetitions out of range")
    pdu = _encode_pdu(_PDU_GET_BULK, request_id, non_repeaters, max_repetitions, oids)
    return _encode_message(VERSION_V2C, community, pdu)


# --------------------------------------------------------------------------- decoding


def _header(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    """Check the identifier octet at ``pos`` and return (content start, content end)."""
    if pos + 2 > end:
        raise BerError(f"truncated {what}")
    if data[pos] != tag:
        raise BerError(f"expected tag 0x{tag:02x} for {what}, got 0x{data[pos]:02x}")
    return _length(data, pos + 1, end, what)


def _length(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    first = data[pos]
    pos += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise BerError(f"indefinite length in {what}")
    else:
        count = first & 0x7F
        # Four length octets already exceed any datagram; more is garbage.
        if count > 4 or pos + count > end:
            raise BerError(f"bad long-form length in {what}")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise BerError(f"{what} length {length} overruns its container")
    return pos, pos + length


def _signed(data: bytes, start: int, stop: int, what: str) -> int:
    if stop == start or stop - start > _MAX_INTEGER_OCTETS:
        raise BerError(f"{what} has {stop - start} content octets")
    return int.from_bytes(data[start:stop], "big", signed=True)


def _int32(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    start, stop = _header(data, pos, end, TAG_INTEGER, what)
    value = _signed(data, start, stop, what)
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise BerError(f"{what} {value} outside Integer32")
    return value, stop


def _decode_oid(data: bytes, start: int, stop: int) -> str:
    chunk = data[start:stop]
    text = _OID_CACHE.get(chunk)
    if text is None:
        text = _decode_oid_octets(chunk)
    return text


def _decode_oid_octets(chunk: bytes) -> str:
    if not chunk:
        raise BerError("empty OID")
    if chunk.isascii():
        # Fast path: every sub-identifier fits one octet (the usual case for IF-MIB).
        if len(chunk) >= MAX_OID_SUBIDS:
            raise BerError("OID has too many sub-identifiers")
        first = chunk[0]
        head = (
            "0." + _DIGITS[first]
            if first < 40
            else ("1." + _DIGITS[first - 40] if first < 80 else "2." + _DIGITS[first - 80])
        )
        text = head if len(chunk) == 1 else head + "." + ".".join([_DIGITS[b] for b in chunk[1:]])
    else:
        subids: list[int] = []
        value = 0
        fresh = True
        for octet in chunk:
            if fresh and octet == 0x80:
                raise BerError("OID sub-identifier with a leading 0x80 octet")
            value = (value << 7) | (octet & 0x7F)
            if octet & 0x80:
                fresh = False
                if value > _MAX_SUBID:
                    raise BerError("OID sub-identifier exceeds 2^32-1")
                continue
            subids.append(value)
            value = 0
            fresh = True
        if not fresh:
            raise BerError("OID ends inside a sub-identifier")
        if len(subids) >= MAX_OID_SUBIDS:
            raise BerError("OID has too many sub-identifiers")
        first = subids[0]
        parts = (
            ["0", str(first)]
            if first < 40
            else (["1", str(first - 40)] if first < 80 else ["2", str(first - 80)])
        )
        parts.extend(map(str, subids[1:]))
        text = ".".join(parts)
    # A poller sees the same OIDs every cycle (and across devices of one model); only valid
    # OIDs are cached, and the cache is dropped whole when full, so it stays bounded.
    if len(_OID_CACHE) >= _OID_CACHE_MAX:
        _OID_CACHE.clear()
    _OID_CACHE[chunk] = text
    return text


def _decode_value(tag: int, data: bytes, start: int, stop: int) -> SnmpValue:
    if tag in _UNSIGNED_TAGS:
        value = _signed(data, start, stop, "unsigned value")
        if value < 0 or value > (_UINT64_MAX if tag == TAG_COUNTER64 else _UINT32_MAX):
            raise BerError(f"value {value} outside the range of tag 0x{tag:02x}")
        return value
    if tag == TAG_INTEGER:
        value = _signed(data, start, stop, "INTEGER")
        if not _INT32_MIN <= value <= _INT32_MAX:
            raise BerError(f"INTEGER {value} outside Integer32")
        return value
    if tag in (TAG_OCTET_STRING, TAG_OPAQUE):
        return data[start:stop]
    if tag == TAG_OID:
        return _decode_oid(data, start, stop)
    if tag == TAG_IPADDRESS:
        if stop - start != 4:
            raise BerError("IpAddress is not 4 octets")
        return "%d.%d.%d.%d" % tuple(data[start:stop])  # noqa: UP031 - fastest for 4 ints
    if tag in _EMPTY_TAGS:
        if stop != start:
            raise BerError(f"tag 0x{tag:02x} must have no content")
        return None
    raise BerError(f"unsupported value tag 0x{tag:02x}")


def decode_response(data: bytes) -> Response:
    """Decode one v1/v2c Response message; :class:`BerError` on anything else."""
    if type(data) is not bytes:
        data = bytes(data)  # slices must be hashable for the OID cache
    end = len(data)
    if end > MAX_MESSAGE_OCTETS:
        raise BerError(f"message of {end} octets exceeds {MAX_MESSAGE_OCTETS}")
    try:
        start, stop = _header(data, 0, end, TAG_SEQUENCE, "message")
        if stop != end:
            raise BerError("trailing octets after the message")
        version, pos = _int32(data, start, stop, "version")
        if version != VERSION_V1 and version != VERSION_V2C:
            raise BerError(f"unsupported SNMP version {version}")
        c_start, c_stop = _header(data, pos, stop, TAG_OCTET_STRING, "community")
        community = data[c_start:c_stop]
        p_start, p_stop = _header(data, c_stop, stop, _PDU_RESPONSE, "Response-PDU")
        if p_stop != stop:
            raise BerError("trailing octets after the PDU")
        request_id, pos = _int32(data, p_start, p_stop, "request-id")
        error_status, pos = _int32(data, pos, p_stop, "error-status")
        error_index, pos = _int32(data, pos, p_stop, "error-index")
        pos, list_stop = _header(data, pos, p_stop, TAG_SEQUENCE, "variable-bindings")
        if list_stop != p_stop:
            raise BerError("trailing octets after variable-bindings")
        varbinds: list[VarBind] = []
        append = varbinds.append
        cache = _OID_CACHE
        # list_stop is the end of the datagram (checked above), so reading past it raises
        # IndexError; every inner length is still checked against its own container.
        while pos < list_stop:
            if data[pos] != TAG_SEQUENCE:
                raise BerError("expected a VarBind SEQUENCE")
            length = data[pos + 1]
            if length < 0x80:
                vb_start = pos + 2
                vb_stop = vb_start + length
                if vb_stop > list_stop:
                    raise BerError("VarBind overruns variable-bindings")
            else:
                vb_start, vb_stop = _length(data, pos + 1, list_stop, "VarBind")
            # Smallest VarBind: 06 01 xx 05 00.
            if vb_stop - vb_start < 5 or data[vb_start] != TAG_OID:
                raise BerError("VarBind does not start with an OID")
            length = data[vb_start + 1]
            if length < 0x80:
                o_start = vb_start + 2
                o_stop = o_start + length
            else:
                o_start, o_stop = _length(data, vb_start + 1, vb_stop, "VarBind name")
            if o_stop + 2 > vb_stop:
                raise BerError("truncated VarBind value")
            tag = data[o_stop]
            length = data[o_stop + 1]
            if length < 0x80:
                v_start = o_stop + 2
                v_stop = v_start + length
            else:
                v_start, v_stop = _length(data, o_stop + 1, vb_stop, "VarBind value")
            if v_stop != vb_stop:
                raise BerError("VarBind value does not end its VarBind")
            chunk = data[o_start:o_stop]
            oid = cache.get(chunk)
            if oid is None:
                oid = _decode_oid_octets(chunk)
            value: SnmpValue
            bounds = _INTEGER_RANGES.get(tag)
            if bounds is not None:
                if v_stop == v_start or v_stop - v_start > _MAX_INTEGER_OCTETS:
                    raise BerError(f"integer value of {v_stop - v_start} octets")
                value = int.from_bytes(data[v_start:v_stop], "big", signed=True)
                if value < bounds[0] or value > bounds[1]:
                    raise BerError(f"value {value} outside the range of tag 0x{tag:02x}")
            else:
                value = _decode_value(tag, data, v_start, v_stop)
            append((oid, value, tag))
            pos = vb_stop
    except IndexError as exc:  # defensive: every index is bounds-checked above
        raise BerError("truncated message") from exc
    return Response(version, community, request_id, error_status, error_index, varbinds)


def oid_key(oid: str) -> tuple[int, ...]:
    """Sort key of a dotted OID: its sub-identifiers as integers (lexicographic OID order)."""
    return tuple(map(int, oid.split(".")))
