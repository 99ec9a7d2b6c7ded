"""collectors.ber against pysnmp's own codec: generated PDUs both ways, then a fuzz run.

pysnmp/pyasn1 are the reference here (tests may import them; ``collectors`` may not outside
the engine). Expected plain values come from ``collectors.engine.to_python``, so the fast path
is held to exactly what the engine hands the parsers.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import rfc1155, rfc1905
from pysnmp.proto.api import v1, v2c

from collectors import ber
from collectors.engine import to_python

# --------------------------------------------------------------------------- strategies

_subid = st.one_of(st.integers(0, 127), st.integers(128, 16383), st.integers(0, 2**32 - 1))


@st.composite
def oids(draw: st.DrawFn) -> str:
    first = draw(st.integers(0, 2))
    second = draw(st.integers(0, 39)) if first < 2 else draw(st.integers(0, 2**32 - 81))
    rest = draw(st.lists(_subid, max_size=20))
    return ".".join(map(str, [first, second, *rest]))


def _if_mib_oids() -> st.SearchStrategy[str]:
    # The hot path's real shape: an IF-MIB/ifX column plus an ifIndex.
    return st.builds(
        lambda col, idx: f"1.3.6.1.2.1.31.1.1.1.{col}.{idx}",
        st.integers(1, 20),
        st.integers(1, 10**7),
    )


any_oid = st.one_of(oids(), _if_mib_oids())
community = st.binary(max_size=40)
request_id = st.integers(-(2**31), 2**31 - 1)

# (pysnmp value, expected wire tag)
values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda v: (v2c.Integer32(v), ber.TAG_INTEGER)),
    st.binary(max_size=300).map(lambda v: (v2c.OctetString(v), ber.TAG_OCTET_STRING)),
    st.just((v2c.Null(""), ber.TAG_NULL)),
    oids().map(lambda v: (v2c.ObjectIdentifier(v), ber.TAG_OID)),
    st.binary(min_size=4, max_size=4).map(lambda v: (v2c.IpAddress(v), ber.TAG_IPADDRESS)),
    st.integers(0, 2**32 - 1).map(lambda v: (v2c.Counter32(v), ber.TAG_COUNTER32)),
    st.integers(0, 2**32 - 1).map(lambda v: (v2c.Gauge32(v), ber.TAG_GAUGE32)),
    st.integers(0, 2**32 - 1).map(lambda v: (v2c.TimeTicks(v), ber.TAG_TIMETICKS)),
    st.binary(max_size=50).map(lambda v: (v2c.Opaque(v), ber.TAG_OPAQUE)),
    st.integers(0, 2**64 - 1).map(lambda v: (v2c.Counter64(v), ber.TAG_COUNTER64)),
    st.just((rfc1905.noSuchObject, ber.TAG_NO_SUCH_OBJECT)),
    st.just((rfc1905.noSuchInstance, ber.TAG_NO_SUCH_INSTANCE)),
    st.just((rfc1905.endOfMibView, ber.TAG_END_OF_MIB_VIEW)),
)


def pysnmp_response(
    version: int,
    comm: bytes,
    rid: int,
    status: int,
    index: int,
    varbinds: list[tuple[str, object]],
) -> bytes:
    api = v1 if version == ber.VERSION_V1 else v2c
    pdu = api.GetResponsePDU()
    api.apiPDU.set_defaults(pdu)
    api.apiPDU.set_request_id(pdu, rid)
    api.apiPDU.set_error_status(pdu, status)
    api.apiPDU.set_error_index(pdu, index)
    api.apiPDU.set_varbinds(pdu, varbinds)
    msg = api.Message()
    api.apiMessage.set_defaults(msg)
    api.apiMessage.set_community(msg, comm)
    api.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


# --------------------------------------------------------------------------- our encoder → pysnmp


def _decode_with_pysnmp(raw: bytes, version: int) -> object:
    spec = v1.Message() if version == ber.VERSION_V1 else v2c.Message()
    msg, rest = decoder.decode(raw, asn1Spec=spec)
    assert rest == b""
    return msg


@given(
    version=st.sampled_from([ber.VERSION_V1, ber.VERSION_V2C]),
    kind=st.sampled_from(["get", "next"]),
    comm=community,
    rid=request_id,
    names=st.lists(any_oid, min_size=1, max_size=40),
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_get_and_get_next_requests_decode_with_pysnmp_to_the_same_pdu(
    version, kind, comm, rid, names
):
    encode = ber.encode_get if kind == "get" else ber.encode_get_next
    raw = encode(version, comm, rid, names)
    msg = _decode_with_pysnmp(raw, version)
    api = v1 if version == ber.VERSION_V1 else v2c
    assert int(msg["version"]) == version
    assert bytes(msg["community"]) == comm
    pdu = api.apiMessage.get_pdu(msg)
    expected_type = api.GetRequestPDU if kind == "get" else api.GetNextRequestPDU
    assert isinstance(pdu, expected_type)
    assert int(api.apiPDU.get_request_id(pdu)) == rid
    assert int(api.apiPDU.get_error_status(pdu)) == 0
    got = [(str(oid), value) for oid, value in api.apiPDU.get_varbinds(pdu)]
    assert [o for o, _ in got] == names
    assert all(isinstance(value, v2c.Null) for _, value in got)
    # Definite minimal lengths everywhere: pyasn1 re-encodes the same octets. (pyasn1 spends
    # a spare octet on negative powers of two, e.g. -128 as ff 80 where X.690 wants 80; the
    # client only allocates positive request ids.)
    if rid >= 0:
        assert bytes(encoder.encode(msg)) == raw


@given(
    comm=community,
    rid=request_id,
    names=st.lists(any_oid, min_size=1, max_size=40),
    repetitions=st.integers(0, 2**31 - 1),
    data=st.data(),
)
@settings(max_examples=200)
def test_get_bulk_requests_decode_with_pysnmp_to_the_same_pdu(comm, rid, names, repetitions, data):
    non_repeaters = data.draw(st.integers(0, len(names)))
    raw = ber.encode_get_bulk(
        comm, rid, names, non_repeaters=non_repeaters, max_repetitions=repetitions
    )
    msg = _decode_with_pysnmp(raw, ber.VERSION_V2C)
    pdu = v2c.apiMessage.get_pdu(msg)
    assert isinstance(pdu, v2c.GetBulkRequestPDU)
    assert int(v2c.apiBulkPDU.get_request_id(pdu)) == rid
    assert int(v2c.apiBulkPDU.get_non_repeaters(pdu)) == non_repeaters
    assert int(v2c.apiBulkPDU.get_max_repetitions(pdu)) == repetitions
    assert [str(o) for o, _ in v2c.apiBulkPDU.get_varbinds(pdu)] == names
    if rid >= 0:
        assert bytes(encoder.encode(msg)) == raw


@given(names=st.lists(any_oid, min_size=1, max_size=5), rid=st.integers(0, 2**31 - 1))
def test_our_requests_match_pysnmp_encoding_byte_for_byte(names, rid):
    pdu = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, rid)
    v2c.apiPDU.set_varbinds(pdu, [(name, v2c.Null("")) for name in names])
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, b"public")
    v2c.apiMessage.set_pdu(msg, pdu)
    assert ber.encode_get(ber.VERSION_V2C, b"public", rid, names) == bytes(encoder.encode(msg))


@pytest.mark.parametrize(
    ("oid", "description"),
    [
        ("1", "a single arc"),
        ("3.1", "first arc above 2"),
        ("1.40", "second arc above 39 under 1"),
        ("1.3.-6", "a negative arc"),
        ("1.3.x", "not numeric"),
        ("1.3.6.4294967296", "an arc above 2^32-1"),
        (".".join(["1"] * 129), "129 sub-identifiers"),
        ("1..3", "an empty arc"),
    ],
)
def test_encode_oid_rejects_invalid_oids_with_ber_error(oid, description):
    with pytest.raises(ber.BerError):
        ber.encode_oid(oid)
    assert description


def test_encoders_refuse_ids_outside_integer32_and_bad_bulk_counts():
    with pytest.raises(ber.BerError):
        ber.encode_get(ber.VERSION_V2C, b"c", 2**31, ["1.3.6"])
    with pytest.raises(ber.BerError):
        ber.encode_get_bulk(b"c", 1, ["1.3.6"], non_repeaters=2)
    with pytest.raises(ber.BerError):
        ber.encode_get(3, b"c", 1, ["1.3.6"])


def test_module_offers_only_read_request_encoders():
    encoders = sorted(name for name in ber.__all__ if name.startswith("encode_"))
    assert encoders == ["encode_get", "encode_get_bulk", "encode_get_next", "encode_oid"]


# --------------------------------------------------------------------------- pysnmp → our decoder


def _as_v2c(value: object) -> object:
    """pysnmp's v1→v2c proxy makes an RFC 1155 IpAddress RFC 1902's before the engine sees it."""
    if isinstance(value, rfc1155.IpAddress):
        return v2c.IpAddress(value.asOctets())
    return value


@given(
    version=st.sampled_from([ber.VERSION_V1, ber.VERSION_V2C]),
    comm=community,
    rid=request_id,
    status=st.integers(0, 18),
    index=st.integers(0, 100),
    varbinds=st.lists(st.tuples(any_oid, values), max_size=60),
)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_pysnmp_encoded_responses_decode_to_the_engines_values(
    version, comm, rid, status, index, varbinds
):
    if version == ber.VERSION_V1:
        # SNMPv1 has neither Counter64 nor the v2c exception values.
        v2_only = (
            ber.TAG_COUNTER64,
            ber.TAG_NO_SUCH_OBJECT,
            ber.TAG_NO_SUCH_INSTANCE,
            ber.TAG_END_OF_MIB_VIEW,
        )
        assume(all(tag not in v2_only for _, (_, tag) in varbinds))
    raw = pysnmp_response(
        version, comm, rid, status, index, [(oid, value) for oid, (value, _) in varbinds]
    )
    rsp = ber.decode_response(raw)
    assert (rsp.version, rsp.community, rsp.request_id) == (version, comm, rid)
    assert (rsp.error_status, rsp.error_index) == (status, index)
    # The reference: pysnmp decodes its own bytes, the engine converts the values.
    msg = _decode_with_pysnmp(raw, version)
    api = v1 if version == ber.VERSION_V1 else v2c
    reference = [
        (str(oid), to_python(_as_v2c(value)))
        for oid, value in api.apiPDU.get_varbinds(api.apiMessage.get_pdu(msg))
    ]
    assert [(oid, value) for oid, value, _ in rsp.varbinds] == reference
    assert [tag for _, _, tag in rsp.varbinds] == [tag for _, (_, tag) in varbinds]


def test_decoder_handles_counter64_extremes_and_long_form_lengths():
    big = b"x" * 300  # needs a two-octet long-form length
    raw = pysnmp_response(
        ber.VERSION_V2C,
        b"public",
        1,
        0,
        0,
        [
            ("1.3.6.1.2.1.31.1.1.1.6.1", v2c.Counter64(2**64 - 1)),
            ("1.3.6.1.2.1.31.1.1.1.6.2", v2c.Counter64(0)),
            ("1.3.6.1.2.1.2.2.1.2.1", v2c.OctetString(big)),
            ("1.3.6.1.4.1.2011.6.139.1", v2c.Integer32(-(2**31))),
        ],
    )
    values_ = [value for _, value, _ in ber.decode_response(raw).varbinds]
    assert values_ == [2**64 - 1, 0, big, -(2**31)]


# --------------------------------------------------------------------------- strictness, by hand


def _wrap_value(tag_and_value: bytes) -> bytes:
    """A v2c Response with one varbind 1.3.6.1 = the given raw TLV."""
    vb = b"\x06\x03\x2b\x06\x01" + tag_and_value
    vb = b"\x30" + bytes([len(vb)]) + vb
    vbl = b"\x30" + bytes([len(vb)]) + vb
    pdu_body = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + vbl
    pdu = b"\xa2" + bytes([len(pdu_body)]) + pdu_body
    body = b"\x02\x01\x01\x04\x01c" + pdu
    return b"\x30" + bytes([len(body)]) + body


def test_hand_built_response_decodes():
    rsp = ber.decode_response(_wrap_value(b"\x41\x01\x05"))
    assert rsp.varbinds == [("1.3.6.1", 5, ber.TAG_COUNTER32)]


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        (b"", "empty datagram"),
        (b"\x30", "tag without length"),
        (b"\x30\x80\x00\x00", "indefinite length"),
        (b"\x30\x85\x00\x00\x00\x00\x01\x00", "five length octets"),
        (b"\x30\x84\xff\xff\xff\xff", "length beyond the datagram"),
        (_wrap_value(b"\x41\x01\x05") + b"\x00", "trailing octet after the message"),
        (_wrap_value(b"\x41\x05\xff\xff\xff\xff\xff"), "negative Counter32"),
        (_wrap_value(b"\x41\x05\x01\x00\x00\x00\x00"), "Counter32 above 2^32-1"),
        (_wrap_value(b"\x46\x0a\x01" + b"\x00" * 9), "Counter64 of ten octets"),
        (_wrap_value(b"\x02\x05\x00\x80\x00\x00\x00"), "INTEGER above Integer32"),
        (_wrap_value(b"\x02\x00"), "INTEGER without content"),
        (_wrap_value(b"\x40\x03\x01\x02\x03"), "IpAddress of three octets"),
        (_wrap_value(b"\x05\x01\x00"), "NULL with content"),
        (_wrap_value(b"\x82\x01\x00"), "endOfMibView with content"),
        (_wrap_value(b"\x47\x01\x00"), "unknown application tag"),
        (_wrap_value(b"\x06\x00"), "empty OID value"),
        (_wrap_value(b"\x06\x02\x2b\x86"), "OID ending inside a sub-identifier"),
        (_wrap_value(b"\x06\x03\x2b\x80\x01"), "OID sub-identifier with leading 0x80"),
        (_wrap_value(b"\x06\x07\x2b\x90\x80\x80\x80\x80\x00"), "OID sub-identifier above 2^32"),
        (b"\x30\x00", "empty SEQUENCE"),
    ],
)
def test_decoder_rejects_malformed_input_with_ber_error(raw, description):
    with pytest.raises(ber.BerError):
        ber.decode_response(raw)
    assert description


def test_decoder_rejects_requests_traps_and_v3():
    get = ber.encode_get(ber.VERSION_V2C, b"c", 1, ["1.3.6.1"])
    with pytest.raises(ber.BerError, match="Response-PDU"):
        ber.decode_response(get)
    v3ish = bytearray(ber.encode_get(ber.VERSION_V2C, b"c", 1, ["1.3.6.1"]))
    v3ish[4] = 3  # version INTEGER content
    with pytest.raises(ber.BerError, match="version"):
        ber.decode_response(bytes(v3ish))


def test_decoder_rejects_oid_with_129_subidentifiers():
    long_oid = ".".join(["1", "3"] + ["1"] * 127)
    raw = pysnmp_response(ber.VERSION_V2C, b"c", 1, 0, 0, [("1.3.6", v2c.Null(""))])
    ok = ber.decode_response(raw)
    assert ok.varbinds[0][0] == "1.3.6"
    content = bytes([0x2B]) + b"\x01" * 127
    vb_raw = b"\x06\x81\x80" + content
    vb = b"\x30\x81" + bytes([len(vb_raw) + 2]) + vb_raw + b"\x05\x00"
    vbl = b"\x30\x81" + bytes([len(vb)]) + vb
    pdu_body = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + vbl
    pdu = b"\xa2\x81" + bytes([len(pdu_body)]) + pdu_body
    body = b"\x02\x01\x01\x04\x01c" + pdu
    msg = b"\x30\x81" + bytes([len(body)]) + body
    assert len(long_oid.split(".")) == 129
    with pytest.raises(ber.BerError, match="too many"):
        ber.decode_response(msg)


def test_decoder_rejects_datagrams_above_the_udp_limit():
    with pytest.raises(ber.BerError, match="exceeds"):
        ber.decode_response(b"\x30\x83\x01\x00\x00" + b"\x00" * 65536)


# --------------------------------------------------------------------------- fuzz

# A decode of a datagram this small takes microseconds; the bound is generous because the
# suite shares two cores with agents and other tests. A hang still fails the run.
_FUZZ_DEADLINE_MS = 2000


def _decode_expecting_only_ber_error(raw: bytes) -> None:
    started = time.perf_counter()
    with contextlib.suppress(ber.BerError):
        ber.decode_response(raw)
    # Any other exception propagates and fails the test.
    assert time.perf_counter() - started < _FUZZ_DEADLINE_MS / 1000


@st.composite
def valid_responses(draw: st.DrawFn) -> bytes:
    varbinds = draw(st.lists(st.tuples(any_oid, values), min_size=1, max_size=12))
    return pysnmp_response(
        ber.VERSION_V2C,
        draw(community),
        draw(request_id),
        0,
        0,
        [(oid, value) for oid, (value, _) in varbinds],
    )


@given(raw=st.binary(max_size=2000))
@settings(max_examples=2000, deadline=_FUZZ_DEADLINE_MS)
def test_fuzz_random_bytes_raise_only_ber_error(raw):
    _decode_expecting_only_ber_error(raw)


@given(raw=st.binary(max_size=600).map(lambda b: b"\x30" + b))
@settings(max_examples=2000, deadline=_FUZZ_DEADLINE_MS)
def test_fuzz_random_bytes_behind_a_sequence_tag_raise_only_ber_error(raw):
    _decode_expecting_only_ber_error(raw)


# Encoding with pysnmp is the slow part, so each generated message is mutated many times.
_slow_ok = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@given(raw=valid_responses())
@_slow_ok
def test_fuzz_every_truncation_of_a_valid_response_raises_ber_error(raw):
    for cut in range(len(raw)):
        with pytest.raises(ber.BerError):
            ber.decode_response(raw[:cut])


@given(raw=valid_responses(), rng=st.randoms(use_true_random=False))
@_slow_ok
def test_fuzz_bit_flips_in_valid_responses_raise_only_ber_error(raw, rng):
    for _ in range(200):
        mutated = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        _decode_expecting_only_ber_error(bytes(mutated))


@given(raw=valid_responses())
@_slow_ok
def test_fuzz_oversized_length_fields_raise_only_ber_error(raw):
    """At every position, a long-form length claiming far more than the datagram holds."""
    claims = (b"\x84\xff\xff\xff\xff", b"\x84\x7f\xff\xff\xff", b"\x82\xff\xff", b"\xff", b"\x80")
    for position in range(1, len(raw)):
        for claimed in claims:
            _decode_expecting_only_ber_error(raw[:position] + claimed + raw[position + 1 :])


@given(
    raw=valid_responses(),
    junk=st.binary(min_size=1, max_size=50),
    rng=st.randoms(use_true_random=False),
)
@_slow_ok
def test_fuzz_inserted_or_deleted_octets_raise_only_ber_error(raw, junk, rng):
    for _ in range(100):
        position = rng.randrange(len(raw) + 1)
        _decode_expecting_only_ber_error(raw[:position] + junk + raw[position:])
        _decode_expecting_only_ber_error(raw[:position] + raw[position + len(junk) :])


def test_decoding_a_maximal_datagram_is_linear_time():
    """65 kB of minimal varbinds decodes in linear time (no quadratic slicing, no hang)."""
    vb = b"\x30\x07\x06\x03\x2b\x06\x01\x05\x00"
    count = 7000
    vbl = b"\x30\x83" + (len(vb) * count).to_bytes(3, "big") + vb * count
    pdu_body = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + vbl
    pdu = b"\xa2\x83" + len(pdu_body).to_bytes(3, "big") + pdu_body
    body = b"\x02\x01\x01\x04\x01c" + pdu
    msg = b"\x30\x83" + len(body).to_bytes(3, "big") + body
    started = time.perf_counter()
    rsp = ber.decode_response(msg)
    assert len(rsp.varbinds) == count
    assert time.perf_counter() - started < 5.0  # ~0.02 s when the machine is idle
