"""Counter arithmetic: every interval is a value or invalid, never a spike.

Expected values are worked out by hand in each row: rate = Δoctets × 8 × 10**9 // Δt_ns.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.counters import (
    CounterRate,
    CounterSample,
    InvalidReason,
    counter_rate,
    interface_rates,
    octets_rate_bps,
    ticks_to_ns,
)
from collectors.samples import InterfaceRow

S = 1_000_000_000  # ns
M32 = 2**32
M64 = 2**64
MBIT, GBIT = 10**6, 10**9


def sample(value, at_s, *, bits=32, uptime=None, disc=None, name=None):
    return CounterSample(
        value=value,
        at_ns=at_s * S,
        bits=bits,
        uptime_ticks=uptime,
        discontinuity_ticks=disc,
        identity=name,
    )


OK = None  # marker: the row expects a valid rate
CASES = [
    # description, prev, curr, speed_bps, expected bit/s or InvalidReason
    (
        "plain increase, 1 Mbit/s on 100M",
        sample(0, 0),
        sample(1_250_000, 10),
        100 * MBIT,
        1_000_000,
    ),
    ("no traffic, 64-bit", sample(5, 0, bits=64), sample(5, 300, bits=64), GBIT, 0),
    (
        "no traffic, 32-bit at 1G in 300 s cannot exclude a hidden wrap",
        sample(5, 0),
        sample(5, 300),
        GBIT,
        InvalidReason.AMBIGUOUS_WRAP,
    ),
    # 10M in 300 s moves at most 382.5e6 octets (+2%): a wrapped delta of 4.29e9 is a reset.
    (
        "32-bit wrap impossible at 10M in 300 s",
        sample(1_000_000, 0),
        sample(500, 300),
        10 * MBIT,
        InvalidReason.COUNTER_RESET,
    ),
    ("32-bit small wrap at 10M in 300 s", sample(M32 - 1000, 0), sample(1000, 300), 10 * MBIT, 53),
    # 100M in 300 s can move 3.75e9 (+2% = 3.825e9) octets: a wrap of 2000 octets is fine.
    ("32-bit wrap at 100M in 300 s", sample(M32 - 1000, 0), sample(1000, 300), 100 * MBIT, 53),
    (
        "32-bit big wrap beyond 100M in 300 s",
        sample(M32 - 10, 0),
        sample(3_900_000_000, 300),
        100 * MBIT,
        InvalidReason.COUNTER_RESET,
    ),
    # 1G in 30 s: at most 3.825e9 octets; wrap delta 2.0e9 → 533 333 333 bit/s.
    (
        "32-bit wrap at 1G in 30 s",
        sample(M32 - 1_000_000_000, 0),
        sample(1_000_000_000, 30),
        GBIT,
        533_333_333,
    ),
    # 1G in 60 s could move 7.65e9 octets: delta 1e9 could also be 1e9 + 2**32.
    (
        "32-bit at 1G in 60 s is ambiguous",
        sample(0, 0),
        sample(1_000_000_000, 60),
        GBIT,
        InvalidReason.AMBIGUOUS_WRAP,
    ),
    (
        "32-bit at 1G in 60 s, large delta is unambiguous",
        sample(0, 0),
        sample(4_000_000_000, 60),
        GBIT,
        533_333_333,
    ),
    # 10G wraps a 32-bit octet counter every 3.4 s: anything at 10 s is ambiguous.
    (
        "32-bit wrap at 10G in 10 s",
        sample(M32 - 10, 0),
        sample(10, 10),
        10 * GBIT,
        InvalidReason.AMBIGUOUS_WRAP,
    ),
    ("32-bit at 10G in 2 s", sample(0, 0), sample(2_000_000_000, 2), 10 * GBIT, 8 * GBIT),
    (
        "32-bit wrap at 10G in 2 s",
        sample(M32 - 500_000_000, 0),
        sample(500_000_000, 2),
        10 * GBIT,
        4 * GBIT,
    ),
    (
        "32-bit wrap with unknown speed",
        sample(M32 - 5, 0),
        sample(5, 10),
        None,
        InvalidReason.UNVERIFIABLE_WRAP,
    ),
    (
        "64-bit increase on 10G",
        sample(10**15, 0, bits=64),
        sample(10**15 + 12_500_000_000, 10, bits=64),
        10 * GBIT,
        10 * GBIT,
    ),
    (
        "64-bit wrap at 100G near the top",
        sample(M64 - 1000, 0, bits=64),
        sample(1000, 1, bits=64),
        100 * GBIT,
        16_000,
    ),
    (
        "64-bit counter went down: reset",
        sample(10**12, 0, bits=64),
        sample(10, 300, bits=64),
        10 * GBIT,
        InvalidReason.COUNTER_RESET,
    ),
    (
        "rate above speed",
        sample(0, 0),
        sample(20_000_000, 10),
        10 * MBIT,
        InvalidReason.ABOVE_SPEED,
    ),
    (
        "1% above speed is jitter, clamped",
        sample(0, 0),
        sample(12_625_000, 10),
        10 * MBIT,
        10 * MBIT,
    ),
    (
        "sysUpTime went backwards",
        sample(100, 0, uptime=5000),
        sample(200, 10, uptime=100),
        GBIT,
        InvalidReason.UPTIME_WENT_BACKWARDS,
    ),
    (
        "sysUpTime advanced far less than wall time",
        sample(100, 0, uptime=5000),
        sample(200, 300, uptime=6000),
        GBIT,
        InvalidReason.AGENT_RESTARTED,
    ),
    (
        "frozen sysUpTime is no information",
        sample(0, 0, uptime=7),
        sample(1250, 10, uptime=7),
        GBIT,
        1000,
    ),
    ("sysUpTime consistent", sample(0, 0, uptime=100), sample(1250, 10, uptime=1100), GBIT, 1000),
    (
        "ifCounterDiscontinuityTime changed",
        sample(100, 0, disc=0),
        sample(200, 10, disc=4711),
        GBIT,
        InvalidReason.DISCONTINUITY,
    ),
    (
        "ifIndex renumbered",
        sample(100, 0, name="ge-0/0/1"),
        sample(200, 10, name="ge-0/0/2"),
        GBIT,
        InvalidReason.IFINDEX_RENUMBERED,
    ),
    (
        "width changed 32 → 64",
        sample(100, 0),
        sample(200, 10, bits=64),
        GBIT,
        InvalidReason.WIDTH_CHANGED,
    ),
    ("missing value", sample(None, 0), sample(200, 10), GBIT, InvalidReason.MISSING_VALUE),
    ("same timestamp", sample(1, 5), sample(2, 5), GBIT, InvalidReason.NON_POSITIVE_INTERVAL),
    (
        "32-bit value out of range",
        sample(M32 + 1, 0),
        sample(M32 + 2, 5),
        GBIT,
        InvalidReason.MISSING_VALUE,
    ),
]


@pytest.mark.parametrize(
    ("description", "prev", "curr", "speed", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_octets_rate_bps_is_value_or_invalid(description, prev, curr, speed, expected):
    result = octets_rate_bps(prev, curr, speed_bps=speed)
    if isinstance(expected, InvalidReason):
        assert result == CounterRate.invalid(expected, elapsed_ns=curr.at_ns - prev.at_ns), (
            description
        )
        assert result.per_second is None, description
    else:
        assert result.valid, f"{description}: {result.reason}"
        assert result.per_second == expected, description


def test_ticks_to_ns():
    assert ticks_to_ns(100) == S


def test_counter_rate_packets_without_limit():
    result = counter_rate(sample(10, 0), sample(110, 10))
    assert (result.valid, result.per_second, result.delta) == (True, 10, 100)


SPEEDS = st.sampled_from([10 * MBIT, 100 * MBIT, GBIT, 10 * GBIT, 100 * GBIT])


@given(
    bits=st.sampled_from([32, 64]),
    speed=SPEEDS,
    prev=st.integers(min_value=0, max_value=M64 - 1),
    curr=st.integers(min_value=0, max_value=M64 - 1),
    elapsed_ms=st.integers(min_value=1, max_value=3_600_000),
)
def test_octets_rate_never_negative_never_above_speed(bits, speed, prev, curr, elapsed_ms):
    modulus = 1 << bits
    p = CounterSample(value=prev % modulus, at_ns=0, bits=bits)
    c = CounterSample(value=curr % modulus, at_ns=elapsed_ms * 1_000_000, bits=bits)
    result = octets_rate_bps(p, c, speed_bps=speed)
    if result.valid:
        assert result.per_second is not None
        assert 0 <= result.per_second <= speed
    else:
        assert result.per_second is None and result.reason is not None


@given(
    speed=SPEEDS,
    rate_fraction=st.integers(min_value=0, max_value=100),
    start=st.integers(min_value=0, max_value=M32 - 1),
    elapsed_s=st.integers(min_value=1, max_value=300),
)
def test_true_traffic_within_one_wrap_is_recovered_exactly(speed, rate_fraction, start, elapsed_s):
    """Traffic the link really carried gives back its own rate, or an honest invalid."""
    octets = speed * rate_fraction // 100 * elapsed_s // 8
    p = CounterSample(value=start, at_ns=0, bits=32)
    c = CounterSample(value=(start + octets) % M32, at_ns=elapsed_s * S, bits=32)
    result = octets_rate_bps(p, c, speed_bps=speed)
    if result.valid:
        assert result.delta == octets
    else:
        assert result.reason is InvalidReason.AMBIGUOUS_WRAP


def _row(**kw):
    base = {"ifindex": 3, "name": "ge-0/0/3", "speed_bps": GBIT, "octets_64bit": True}
    base.update(kw)
    return InterfaceRow(**base)


def test_interface_rates_computes_each_counter():
    prev = _row(in_octets=0, out_octets=0, in_errors=5, in_ucast_pkts=0, out_ucast_pkts=0)
    curr = _row(
        in_octets=1_250_000,
        out_octets=2_500_000,
        in_errors=7,
        in_ucast_pkts=1000,
        out_ucast_pkts=2000,
    )
    rates = interface_rates(
        prev, curr, prev_at_ns=0, curr_at_ns=10 * S, prev_uptime_ticks=0, curr_uptime_ticks=1000
    )
    assert rates.in_bps.per_second == 1_000_000
    assert rates.out_bps.per_second == 2_000_000
    assert rates.in_errors.delta == 2
    assert rates.in_ucast_pps.per_second == 100
    assert rates.out_errors.reason is InvalidReason.MISSING_VALUE


def test_interface_rates_invalid_after_renumbering_and_reboot():
    prev = _row(in_octets=10**9, out_octets=10**9)
    curr = _row(name="ge-0/0/9", in_octets=10, out_octets=10)
    rates = interface_rates(prev, curr, prev_at_ns=0, curr_at_ns=10 * S)
    assert rates.in_bps.reason is InvalidReason.IFINDEX_RENUMBERED
    rebooted = interface_rates(
        prev,
        _row(in_octets=10, out_octets=10),
        prev_at_ns=0,
        curr_at_ns=10 * S,
        prev_uptime_ticks=10**6,
        curr_uptime_ticks=50,
    )
    assert rebooted.out_bps.reason is InvalidReason.UPTIME_WENT_BACKWARDS


def test_interface_rates_discontinuity_time_change_is_invalid():
    prev = _row(in_octets=1, out_octets=1, counter_discontinuity_ticks=0)
    curr = _row(in_octets=2, out_octets=2, counter_discontinuity_ticks=999)
    rates = interface_rates(prev, curr, prev_at_ns=0, curr_at_ns=10 * S)
    assert rates.in_bps.reason is InvalidReason.DISCONTINUITY
