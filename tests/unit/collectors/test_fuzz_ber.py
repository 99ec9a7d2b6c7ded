"""Hostile datagrams against ``collectors.ber.decode_response``: structure-aware fuzzing.

test_ber.py flips bits in pysnmp-built responses and feeds raw random bytes. This module builds
datagrams from a BER *grammar* instead, so generated inputs reach deep into the decoder: wrong
tags in every position, wrong value types, long-form, non-minimal, indefinite and huge
lengths, thousands of nested SEQUENCEs, oversized datagrams and request ids outside
Integer32. The contract under test, for every input:

- the only exception is ``BerError`` (a ``ValueError``);
- decoding ends in bounded time (``_DEADLINE_S``), i.e. no quadratic or unbounded loop;
- memory stays bounded: tracemalloc peaks per decode and the OID cache after a flood.

Hypothesis runs derandomized (the same inputs every run) with modest example counts so the
module takes a few seconds.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors import ber

T = TypeVar("T")

_DEADLINE_S = 0.5  # one decode of at most 64 KiB; the decoder does O(n) work
_FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,  # timing is asserted explicitly, with a bound that is not flaky
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ----------------------------------------------------------------------------- BER grammar

_VALUE_TAGS = (
    ber.TAG_INTEGER, ber.TAG_OCTET_STRING, ber.TAG_NULL, ber.TAG_OID, ber.TAG_IPADDRESS,
    ber.TAG_COUNTER32, ber.TAG_GAUGE32, ber.TAG_TIMETICKS, ber.TAG_OPAQUE, ber.TAG_COUNTER64,
    ber.TAG_NO_SUCH_OBJECT, ber.TAG_NO_SUCH_INSTANCE, ber.TAG_END_OF_MIB_VIEW,
)  # fmt: skip
_STRUCT_TAGS = (0x30, 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8)
_any_tag = st.one_of(st.sampled_from(_VALUE_TAGS + _STRUCT_TAGS), st.integers(0, 255))


_USUALLY = st.sampled_from((True,) * 7 + (False,))  # 7 in 8: keep the well-formed choice


def _usually(good: st.SearchStrategy[T], bad: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``good`` about 7 times in 8, else ``bad``: inputs get past the outer layers."""
    return _USUALLY.flatmap(lambda keep: good if keep else bad)


def _mostly(tag: int) -> st.SearchStrategy[int]:
    """The right tag about 7 times in 8."""
    return _usually(st.just(tag), _any_tag)


@st.composite
def _length(draw: st.DrawFn, actual: int) -> bytes:
    """A length field: mostly right, sometimes long-form, non-minimal, indefinite or a lie."""
    kind = draw(st.sampled_from(("short",) * 24 + ("long", "padded", "lie", "indef")))
    if kind == "indef":
        return b"\x80"
    if kind == "lie":
        claimed = draw(
            st.one_of(st.integers(0, 300), st.sampled_from((2**31 - 1, 2**32 - 1, 2**40)))
        )
        raw = claimed.to_bytes(max(1, (claimed.bit_length() + 7) // 8), "big")
        return (
            bytes((0x80 | len(raw),)) + raw
            if claimed >= 0x80 or draw(st.booleans())
            else (bytes((claimed,)))
        )
    if kind == "short" and actual < 0x80:
        return bytes((actual,))
    width = max(1, (actual.bit_length() + 7) // 8) + (
        draw(st.integers(0, 5)) if kind == "padded" else 0
    )
    return bytes((0x80 | width,)) + actual.to_bytes(width, "big")


def _tlv(draw: st.DrawFn, tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + draw(_length(len(content))) + content


_GOOD_VALUES = (
    b"\x02\x01\x07", b"\x04\x03abc", b"\x05\x00", b"\x06\x03\x2b\x06\x01",
    b"\x40\x04\x7f\x00\x00\x01",
    b"\x41\x05\x00\xff\xff\xff\xff", b"\x42\x01\x00", b"\x43\x02\x01\x00", b"\x44\x00",
    b"\x46\x09\x00" + b"\xff" * 8, b"\x80\x00", b"\x81\x00", b"\x82\x00",
)  # fmt: skip


@st.composite
def _value(draw: st.DrawFn) -> bytes:
    """A varbind value TLV whose content may not fit its tag (wrong type, wrong size)."""
    if draw(_USUALLY):
        return draw(st.sampled_from(_GOOD_VALUES))
    tag = draw(st.one_of(st.sampled_from(_VALUE_TAGS), _any_tag))
    content = draw(
        st.one_of(
            st.binary(max_size=12),
            st.integers(-(2**70), 2**70).map(
                lambda v: v.to_bytes((v.bit_length() + 8) // 8 or 1, "big", signed=True)
            ),
            st.just(b""),
        )
    )
    return _tlv(draw, tag, content)


@st.composite
def _oid_content(draw: st.DrawFn) -> bytes:
    return draw(
        st.one_of(
            _usually(
                st.lists(st.integers(0, 127), min_size=1, max_size=20).map(bytes),
                st.lists(st.integers(0, 127), min_size=100, max_size=140).map(bytes),
            ),
            st.binary(max_size=40),  # continuation bits anywhere, 0x80 leaders, unterminated
            st.just(ber.encode_oid("1.3.6.1.2.1.1.3.0")),
        )
    )


@st.composite
def _varbind(draw: st.DrawFn) -> bytes:
    name_tag = draw(_mostly(ber.TAG_OID))
    name = _tlv(draw, name_tag, draw(_oid_content()))
    return _tlv(draw, draw(_mostly(0x30)), name + draw(_value()))


@st.composite
def _integer(draw: st.DrawFn) -> bytes:
    """An INTEGER-ish field: in range, out of Integer32, empty, 20 octets, or not an INTEGER."""
    value = draw(_usually(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**80), 2**80)))
    content = value.to_bytes((value.bit_length() + 8) // 8 or 1, "big", signed=True)
    content = draw(_usually(st.just(content), st.binary(max_size=20)))
    return _tlv(draw, draw(_mostly(ber.TAG_INTEGER)), content)


@st.composite
def hostile_messages(draw: st.DrawFn) -> bytes:
    """A Message whose every field may be wrong: tags, lengths, types, counts, trailing data."""
    varbinds = b"".join(draw(st.lists(_varbind(), max_size=8)))
    vb_list = _tlv(draw, draw(_mostly(0x30)), varbinds)
    pdu_body = draw(_integer()) + draw(_integer()) + draw(_integer()) + vb_list
    pdu = _tlv(draw, draw(_usually(st.just(0xA2), st.sampled_from(_STRUCT_TAGS))), pdu_body)
    version = draw(_usually(st.sampled_from((b"\x02\x01\x00", b"\x02\x01\x01")), _integer()))
    community = _tlv(draw, draw(_mostly(ber.TAG_OCTET_STRING)),
                     draw(st.binary(max_size=32)))  # fmt: skip
    message = _tlv(draw, draw(_mostly(0x30)), version + community + pdu)
    return message + draw(_usually(st.just(b""), st.binary(min_size=1, max_size=4)))


def _decode_bounded(raw: bytes) -> ber.Response | None:
    """Decode; only BerError may escape, and only after a bounded time."""
    started = time.perf_counter()
    try:
        return ber.decode_response(raw)
    except ber.BerError:
        return None
    finally:
        assert time.perf_counter() - started < _DEADLINE_S, f"slow decode of {len(raw)} octets"


def _check_decoded(rsp: ber.Response) -> None:
    """What the decoder promises about anything it accepts."""
    assert rsp.version in (ber.VERSION_V1, ber.VERSION_V2C)
    for number in (rsp.request_id, rsp.error_status, rsp.error_index):
        assert -(2**31) <= number < 2**31
    for oid, value, tag in rsp.varbinds:
        assert oid.count(".") + 1 <= ber.MAX_OID_SUBIDS
        assert all(part.isdigit() for part in oid.split("."))
        if tag in (ber.TAG_COUNTER32, ber.TAG_GAUGE32, ber.TAG_TIMETICKS):
            assert isinstance(value, int) and 0 <= value < 2**32
        elif tag == ber.TAG_COUNTER64:
            assert isinstance(value, int) and 0 <= value < 2**64
        elif tag == ber.TAG_INTEGER:
            assert isinstance(value, int) and -(2**31) <= value < 2**31
        elif tag in (ber.TAG_OCTET_STRING, ber.TAG_OPAQUE):
            assert isinstance(value, bytes)
        elif tag in (ber.TAG_OID, ber.TAG_IPADDRESS):
            assert isinstance(value, str)
        else:
            assert value is None, (tag, value)


# ----------------------------------------------------------------------------------- tests


@given(raw=hostile_messages())
@_FUZZ
def test_grammar_fuzzed_messages_decode_or_raise_ber_error_quickly(raw: bytes) -> None:
    rsp = _decode_bounded(raw)
    if rsp is not None:
        _check_decoded(rsp)


@given(raw=hostile_messages(), cut=st.integers(0, 10_000))
@settings(_FUZZ, max_examples=100)
def test_truncated_hostile_messages_raise_only_ber_error(raw: bytes, cut: int) -> None:
    truncated = raw[: cut % max(1, len(raw))]
    assert _decode_bounded(truncated) is None or len(truncated) == len(raw)


@pytest.mark.parametrize("depth", [2, 100, 5_000, 30_000])
def test_deeply_nested_sequences_are_refused_without_recursion(depth: int) -> None:
    """Thousands of nested SEQUENCEs (long-form lengths): the decoder never recurses into them."""
    raw = b""
    for _ in range(depth):
        raw = b"\x30" + b"\x84" + len(raw).to_bytes(4, "big") + raw
        if len(raw) > ber.MAX_MESSAGE_OCTETS:
            break
    assert _decode_bounded(raw) is None


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        (b"\x30\x84\xff\xff\xff\xff" + b"\x00" * 16, "message claims 4 GiB"),
        (b"\x30\x88" + b"\xff" * 8 + b"\x00" * 16, "eight length octets"),
        (b"\x30\xff" + b"\x00" * 200, "127 length octets"),
        (b"\x30\x80\x02\x01\x01\x00\x00", "indefinite length"),
        (b"\x30" + b"\x83\x00\xff\xf0" + b"\x00" * 0xFFF0, "content above the UDP limit"),
        (b"\x30\x82\xff\xff" + b"\x00" * 0xFFFF, "datagram above the UDP limit"),
    ],
)
def test_huge_or_indefinite_lengths_raise_ber_error(raw: bytes, description: str) -> None:
    assert _decode_bounded(raw) is None, description


def _response(request_id_content: bytes, varbinds: bytes = b"") -> bytes:
    pdu = (
        b"\x02" + bytes((len(request_id_content),)) + request_id_content
        + b"\x02\x01\x00\x02\x01\x00"
        + b"\x30" + bytes((len(varbinds),)) + varbinds
    )  # fmt: skip
    body = b"\x02\x01\x01\x04\x01c" + b"\xa2" + bytes((len(pdu),)) + pdu
    return b"\x30" + bytes((len(body),)) + body


@pytest.mark.parametrize(
    ("content", "description"),
    [
        (b"\x00\x80\x00\x00\x00", "2^31"),
        (b"\xff\x7f\xff\xff\xff", "-2^31 - 1"),
        (b"\x01" * 10, "ten octets"),
        (b"", "no octets"),
    ],
)
def test_request_ids_outside_integer32_raise_ber_error(content: bytes, description: str) -> None:
    assert _decode_bounded(_response(content)) is None, description


@pytest.mark.parametrize(
    ("value", "description"),
    [
        (b"\x41\x05\x01\x00\x00\x00\x00", "Counter32 of 2^32"),
        (b"\x46\x0a\x01" + b"\x00" * 9, "Counter64 of ten octets"),
        (b"\x40\x05\x01\x02\x03\x04\x05", "IpAddress of five octets"),
        (b"\x05\x01\x00", "NULL with content"),
        (b"\x30\x00", "a SEQUENCE as a value"),
        (b"\xa2\x00", "a PDU as a value"),
        (b"\x47\x01\x00", "unknown application tag"),
    ],
)
def test_wrong_typed_values_raise_ber_error(value: bytes, description: str) -> None:
    name = b"\x06\x03\x2b\x06\x01"
    varbind = b"\x30" + bytes((len(name) + len(value),)) + name + value
    assert _decode_bounded(_response(b"\x01", varbind)) is None, description


def test_decoding_a_flood_of_full_datagrams_keeps_memory_bounded() -> None:
    """A maximal datagram of distinct OIDs, decoded many times over with ever new OIDs.

    Peak memory of one decode stays within a small multiple of the datagram, and the OID
    cache never grows past its bound, however many distinct OIDs a hostile agent sends.
    """

    def datagram(serial: int) -> bytes:
        varbinds = bytearray()
        while len(varbinds) < ber.MAX_MESSAGE_OCTETS - 200:
            oid = ber.encode_oid(f"1.3.6.1.4.1.{serial}.{len(varbinds)}")
            name = b"\x06" + bytes((len(oid),)) + oid
            varbinds += b"\x30" + bytes((len(name) + 2,)) + name + b"\x05\x00"
        pdu = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00\x30\x83" + len(varbinds).to_bytes(3, "big")
        pdu += varbinds
        body = b"\x02\x01\x01\x04\x01c\xa2\x83" + len(pdu).to_bytes(3, "big") + pdu
        return b"\x30\x83" + len(body).to_bytes(3, "big") + body

    samples = [datagram(serial) for serial in range(4)]
    assert all(len(raw) <= ber.MAX_MESSAGE_OCTETS for raw in samples)
    ber._OID_CACHE.clear()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        for raw in samples:
            tracemalloc.reset_peak()
            rsp = ber.decode_response(raw)
            assert len(rsp.varbinds) > 4000
            _, peak = tracemalloc.get_traced_memory()
            # ~4.6k varbinds: tuples, OID strings and cache entries, well below 8 MB
            assert peak - baseline < 8 * 2**20, f"{(peak - baseline) / 2**20:.1f} MiB"
            del rsp
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ber._OID_CACHE) <= ber._OID_CACHE_MAX
    # Only the bounded cache stays behind (~20k short entries).
    assert current - baseline < 12 * 2**20, f"{(current - baseline) / 2**20:.1f} MiB retained"
