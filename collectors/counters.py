"""Counter arithmetic that cannot produce a spike: wraps, resets and rates, in integers.

A rate is Δcounter / Δt between two readings of the same counter. The interval is judged
before any division, and is *invalid* (``valid=False`` with a ``reason``, never 0 and never
a huge number) when it cannot be trusted:

* the agent restarted: sysUpTime went backwards, or advanced by less than half the wall
  time between the responses (it restarted and ran past the old value);
* ifCounterDiscontinuityTime changed (the agent says the counter was reset or re-created);
* the ifIndex now names another interface (ifName/ifDescr changed: renumbering);
* the counter went down and a single wrap is not physically possible at the interface's
  speed within Δt (a reset), or more than one wrap would be possible (ambiguous: a 32-bit
  octet counter on a 10 Gbit/s port wraps every 3.4 s, so it cannot be read every 10 s);
* the computed rate is above what the interface can carry.

Time: ``at_ns`` is the time the *response* arrived, an integer of nanoseconds on one
monotonic clock (``time.monotonic_ns()`` in the poller). A caller that prefers the agent's
own clock (no network jitter, 10 ms resolution, wrong on agents with a frozen sysUpTime)
passes ``ticks_to_ns(sys_uptime_ticks)`` instead. This module never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from collectors.samples import InterfaceRow

__all__ = [
    "DEFAULT_SLACK_PERCENT",
    "CounterRate",
    "CounterSample",
    "InterfaceRates",
    "InvalidReason",
    "counter_rate",
    "interface_rates",
    "octets_rate_bps",
    "ticks_to_ns",
]

NS_PER_S = 1_000_000_000
NS_PER_TICK = 10_000_000  # one TimeTicks unit is 1/100 s
# A rate up to this much above the physical limit is timing jitter between the agent's
# counter sampling and our receive timestamp; it is reported clamped to the limit.
DEFAULT_SLACK_PERCENT = 2
# Smallest frame an interface can count as a packet (Ethernet minimum without preamble):
# bounds packet and error counters the way the line speed bounds octets.
_MIN_FRAME_BITS = 64 * 8


class InvalidReason(StrEnum):
    """Why an interval has no rate."""

    MISSING_VALUE = "missing_value"  # one of the two readings has no value
    WIDTH_CHANGED = "counter_width_changed"  # 32-bit one poll, 64-bit the next
    NON_POSITIVE_INTERVAL = "non_positive_interval"  # Δt ≤ 0
    UPTIME_WENT_BACKWARDS = "uptime_went_backwards"
    AGENT_RESTARTED = "agent_restarted"  # sysUpTime advanced far less than wall time
    DISCONTINUITY = "counter_discontinuity"  # ifCounterDiscontinuityTime changed
    IFINDEX_RENUMBERED = "ifindex_renumbered"  # ifIndex → name mapping changed
    COUNTER_RESET = "counter_reset"  # went down, and a single wrap is impossible
    AMBIGUOUS_WRAP = "ambiguous_wrap"  # the counter could have wrapped more than once
    UNVERIFIABLE_WRAP = "unverifiable_wrap"  # went down and the speed is unknown
    ABOVE_SPEED = "rate_above_speed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterSample:
    """One reading of one counter, with what is needed to judge the interval it closes.

    ``CounterSample(value=812, at_ns=t, bits=32)`` is the minimum; add ``uptime_ticks``
    (sysUpTime of the same response), ``discontinuity_ticks`` (ifCounterDiscontinuityTime)
    and ``identity`` (ifName or ifDescr of the ifIndex) whenever the device gives them.
    """

    value: int | None
    at_ns: int
    bits: int = 64  # counter width: 32 (Counter32) or 64 (Counter64)
    uptime_ticks: int | None = None
    discontinuity_ticks: int | None = None
    identity: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterRate:
    """The result for one interval: a rate, or ``valid=False`` with the reason.

    ``per_second`` is floored to an integer in the caller's unit (bit/s for
    ``octets_rate_bps``); ``delta`` is the counter increase after wrap correction, useful
    for error counters where the count per interval matters more than the rate.
    """

    valid: bool
    per_second: int | None = None
    delta: int | None = None
    elapsed_ns: int | None = None
    wrapped: bool = False
    clamped: bool = False  # within the jitter slack above the limit, reported at the limit
    reason: InvalidReason | None = None

    @classmethod
    def invalid(cls, reason: InvalidReason, *, elapsed_ns: int | None = None) -> CounterRate:
        """An interval without a value."""
        return cls(valid=False, reason=reason, elapsed_ns=elapsed_ns)


def ticks_to_ns(ticks: int) -> int:
    """SNMP TimeTicks (hundredths of a second) → nanoseconds."""
    return ticks * NS_PER_TICK


def counter_rate(
    prev: CounterSample,
    curr: CounterSample,
    *,
    max_per_second: int | None = None,
    scale: int = 1,
    slack_percent: int = DEFAULT_SLACK_PERCENT,
) -> CounterRate:
    """Rate of ``scale`` × Δcounter per second between two readings, or invalid.

    ``max_per_second`` is the physical limit in the same unit as the result (e.g. the
    interface speed in bit/s with ``scale=8`` for octet counters); None means unknown, in
    which case no rate is ever judged too high but a counter that went down is never
    accepted as a wrap either.
    """
    elapsed = curr.at_ns - prev.at_ns
    problem = _interval_problem(prev, curr, elapsed)
    if problem is not None:
        return CounterRate.invalid(problem, elapsed_ns=elapsed)
    assert prev.value is not None and curr.value is not None  # checked by _interval_problem

    # The most the counter can physically advance in this interval, slack included:
    # max_per_second × (100 + slack) / 100 × elapsed / 1e9 / scale, kept in integers.
    max_delta = None
    if max_per_second is not None:
        max_delta = (max_per_second * (100 + slack_percent) * elapsed) // (100 * NS_PER_S * scale)
    modulus = 1 << curr.bits
    wrapped = curr.value < prev.value
    delta = (curr.value - prev.value) % modulus
    if wrapped and max_delta is None:
        return CounterRate.invalid(InvalidReason.UNVERIFIABLE_WRAP, elapsed_ns=elapsed)
    if max_delta is not None:
        if delta > max_delta:
            # Went down and even a single wrap is too much traffic: a reset. (Went up by
            # more than possible is judged below as a rate above speed.)
            if wrapped:
                return CounterRate.invalid(InvalidReason.COUNTER_RESET, elapsed_ns=elapsed)
        elif delta + modulus <= max_delta:
            # One more whole turn of the counter was physically possible too: the reading
            # cannot tell delta from delta + 2**bits (a 32-bit octet counter on 10 Gbit/s).
            return CounterRate.invalid(InvalidReason.AMBIGUOUS_WRAP, elapsed_ns=elapsed)

    per_second = (delta * scale * NS_PER_S) // elapsed
    clamped = False
    if max_per_second is not None and per_second > max_per_second:
        if per_second * 100 > max_per_second * (100 + slack_percent):
            return CounterRate.invalid(InvalidReason.ABOVE_SPEED, elapsed_ns=elapsed)
        per_second, clamped = max_per_second, True
    return CounterRate(
        valid=True,
        per_second=per_second,
        delta=delta,
        elapsed_ns=elapsed,
        wrapped=wrapped,
        clamped=clamped,
    )


def octets_rate_bps(
    prev: CounterSample,
    curr: CounterSample,
    *,
    speed_bps: int | None,
    slack_percent: int = DEFAULT_SLACK_PERCENT,
) -> CounterRate:
    """Bit rate (bit/s) from an octet counter, judged against the interface speed."""
    return counter_rate(prev, curr, max_per_second=speed_bps, scale=8, slack_percent=slack_percent)


def _interval_problem(
    prev: CounterSample, curr: CounterSample, elapsed: int
) -> InvalidReason | None:
    if prev.value is None or curr.value is None:
        return InvalidReason.MISSING_VALUE
    if prev.bits != curr.bits:
        return InvalidReason.WIDTH_CHANGED
    if prev.identity is not None and curr.identity is not None and prev.identity != curr.identity:
        return InvalidReason.IFINDEX_RENUMBERED
    if elapsed <= 0:
        return InvalidReason.NON_POSITIVE_INTERVAL
    if prev.uptime_ticks is not None and curr.uptime_ticks is not None:
        advanced = curr.uptime_ticks - prev.uptime_ticks
        if advanced < 0:
            return InvalidReason.UPTIME_WENT_BACKWARDS
        # A frozen sysUpTime (advanced == 0: static simulators, broken agents) carries no
        # information; one that moved, but by less than half the wall time, restarted.
        if advanced > 0 and 2 * ticks_to_ns(advanced) < elapsed:
            return InvalidReason.AGENT_RESTARTED
    if (
        prev.discontinuity_ticks is not None
        and curr.discontinuity_ticks is not None
        and prev.discontinuity_ticks != curr.discontinuity_ticks
    ):
        return InvalidReason.DISCONTINUITY
    if prev.value < 0 or curr.value < 0 or max(prev.value, curr.value) >= 1 << curr.bits:
        return InvalidReason.MISSING_VALUE  # not a counter of this width at all
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class InterfaceRates:
    """Rates of one interface between two polls; each field is valid or invalid on its own."""

    ifindex: int
    in_bps: CounterRate
    out_bps: CounterRate
    in_ucast_pps: CounterRate
    out_ucast_pps: CounterRate
    in_errors: CounterRate  # use .delta: errors in the interval
    out_errors: CounterRate
    in_discards: CounterRate
    out_discards: CounterRate


def interface_rates(
    prev: InterfaceRow,
    curr: InterfaceRow,
    *,
    prev_at_ns: int,
    curr_at_ns: int,
    prev_uptime_ticks: int | None = None,
    curr_uptime_ticks: int | None = None,
    slack_percent: int = DEFAULT_SLACK_PERCENT,
) -> InterfaceRates:
    """All counter rates of one ifIndex between two polls, judged by ``curr.speed_bps``."""
    speed = curr.speed_bps
    max_pps = None if speed is None else speed // _MIN_FRAME_BITS

    def pair(attr: str, prev_bits: int, curr_bits: int) -> tuple[CounterSample, CounterSample]:
        return (
            CounterSample(
                value=getattr(prev, attr),
                at_ns=prev_at_ns,
                bits=prev_bits,
                uptime_ticks=prev_uptime_ticks,
                discontinuity_ticks=prev.counter_discontinuity_ticks,
                identity=prev.name,
            ),
            CounterSample(
                value=getattr(curr, attr),
                at_ns=curr_at_ns,
                bits=curr_bits,
                uptime_ticks=curr_uptime_ticks,
                discontinuity_ticks=curr.counter_discontinuity_ticks,
                identity=curr.name,
            ),
        )

    def octets(attr: str) -> CounterRate:
        p, c = pair(attr, 64 if prev.octets_64bit else 32, 64 if curr.octets_64bit else 32)
        return octets_rate_bps(p, c, speed_bps=speed, slack_percent=slack_percent)

    def packets(attr: str, prev_bits: int, curr_bits: int) -> CounterRate:
        p, c = pair(attr, prev_bits, curr_bits)
        return counter_rate(p, c, max_per_second=max_pps, slack_percent=slack_percent)

    ucast_prev = 64 if prev.ucast_pkts_64bit else 32
    ucast_curr = 64 if curr.ucast_pkts_64bit else 32
    return InterfaceRates(
        ifindex=curr.ifindex,
        in_bps=octets("in_octets"),
        out_bps=octets("out_octets"),
        in_ucast_pps=packets("in_ucast_pkts", ucast_prev, ucast_curr),
        out_ucast_pps=packets("out_ucast_pkts", ucast_prev, ucast_curr),
        in_errors=packets("in_errors", 32, 32),
        out_errors=packets("out_errors", 32, 32),
        in_discards=packets("in_discards", 32, 32),
        out_discards=packets("out_discards", 32, 32),
    )
