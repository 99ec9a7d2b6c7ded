"""The soak's script: which lab faults and kills happen when (seeded), and what each must cause.

A *fault* is something the network does (``collectors.lab.Fault``); each has the incident it
must raise at central, exactly once, or ``None`` when the right answer is no incident at all
(a reboot without downtime, a counter wrap, a slow but answering agent). A *chaos event* is
something that happens to nocd itself: SIGKILL of the district, central or the database
server, or the district→central link cut for longer than a poll cycle.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from collectors.lab import Fault, LabDevice, LabLine

RESTART_S = 60.0  # planning allowance for a killed process to be healthy again


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """Intervals of one soak; everything else is derived from these."""

    duration_s: float
    interfaces_s: int
    dsl_s: int
    timeout_s: float
    warmup_s: float
    chaos_down_s: float  # how long a killed process stays dead

    tries: int = 2  # SNMP tries per request (retries + 1)
    silent_intervals: float = 3.0  # central's silence timeout in interface cycles

    @property
    def hold_s(self) -> float:
        """How long a fault is held: two failed polls to be judged down, plus margin.

        A failed request costs timeout × tries before the poll fails, twice.
        """
        fail_s = 2.0 * self.timeout_s * getattr(self, "tries", 2)  # older pickles lack it
        return 2.5 * max(self.interfaces_s, self.dsl_s) + fail_s + 10.0

    @property
    def silent_after_s(self) -> float:
        """Central's silence timeout: ``silent_intervals`` interface cycles."""
        return getattr(self, "silent_intervals", 3.0) * self.interfaces_s  # older pickles lack it

    @property
    def cut_s(self) -> float:
        """A link cut: longer than a poll cycle and than the silence timeout."""
        return self.silent_after_s + self.interfaces_s

    @property
    def detect_s(self) -> float:
        """Time for a fault (or its end) to show at central: two polls and a margin."""
        return 2.0 * max(self.interfaces_s, self.dsl_s) + 10.0


@dataclass(slots=True, kw_only=True)
class PlannedFault:
    """One lab fault, held from ``start`` to ``end`` (seconds after the soak's start)."""

    name: str
    device: str
    fault: Fault
    params: dict[str, Any]
    start: float
    end: float
    expect_incident: str | None  # root alert key of the one incident it must raise
    unavailable: bool  # the device does not answer while it is held (cycle accounting)
    started_at: float | None = None  # wall clock, set when injected
    ended_at: float | None = None


@dataclass(slots=True, kw_only=True)
class ChaosEvent:
    """One thing done to nocd itself, at ``at`` seconds after the soak's start."""

    kind: str  # kill_district | kill_central | kill_database | cut_link
    at: float
    down_s: float
    started_at: float | None = None
    recovered_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def plan_faults(
    devices: tuple[LabDevice, ...], lines: tuple[LabLine, ...], timing: Timing, rng: random.Random
) -> list[PlannedFault]:
    """One of each scenario on distinct leaf devices, staggered after the warm-up.

    Rounds repeat while they fit before the end (leaving two cycles to recover).
    """
    dslams = [d for d in devices if d.kind == "dslam"]
    switches = [d for d in devices if d.kind == "access_switch"]
    lines_of: dict[str, list[LabLine]] = {}
    for line in lines:
        if line.in_showtime:
            lines_of.setdefault(line.device, []).append(line)
    rng.shuffle(dslams)
    rng.shuffle(switches)
    pool = iter(d for d in dslams if len(lines_of.get(d.name, [])) >= 2)
    sw_pool = iter(switches)
    faults: list[PlannedFault] = []
    hold = timing.hold_s
    tail = 1.5 * max(timing.interfaces_s, timing.dsl_s) + 10.0  # to see the recovery
    start = timing.warmup_s
    stagger = min(15.0, timing.interfaces_s / 6)
    while start + 6 * stagger + hold + tail <= timing.duration_s:
        at = start
        try:
            dslam = next(pool)
            switch = next(sw_pool, None) or next(pool)
            rebooted = next(pool)
            snr = next(pool)
            # An ADSL2+ DSLAM: its running init counter shows each retrain at once. VDSL2
            # retrains come from the current 15-minute bin (tests/integration/
            # test_alerting_vdsl2_retrains.py); the soak's plan is kept as it was measured.
            storm = next(d for d in pool if d.technology == "adsl2plus")
            wrapped = next(pool)
            slow = next(pool)
        except StopIteration:
            break
        snr_line = lines_of[snr.name][0].ifindex
        storm_lines = [ln.ifindex for ln in lines_of[storm.name]]
        specs: list[tuple[str, LabDevice, Fault, dict[str, Any], str | None, bool]] = [
            ("outage", dslam, Fault.UNREACHABLE, {}, f"device_down:device:{dslam.name}", True),
            ("outage", switch, Fault.UNREACHABLE, {}, f"device_down:device:{switch.name}", True),
            (
                "reboot_with_downtime",
                rebooted,
                Fault.REBOOT,
                {"down_s": hold},
                f"device_down:device:{rebooted.name}",
                True,
            ),
            (
                "snr_collapse",
                snr,
                Fault.SNR_COLLAPSE,
                {"lines": [snr_line], "margin_db": 1.0},
                f"snr_margin_low:line:{snr.name}/line:{snr_line}",
                False,
            ),
            (
                "retrain_storm",
                storm,
                Fault.RETRAIN_STORM,
                {"lines": storm_lines, "period_s": 5.0},
                f"dslam_retrain_storm:device:{storm.name}",
                False,
            ),
            ("counter_wrap", wrapped, Fault.WRAP, {"lead_s": 5.0}, None, False),
            (
                "slow_agent",
                slow,
                Fault.SLOW,
                {"delay_s": round(timing.timeout_s / 4, 2)},
                None,
                False,
            ),
        ]
        for name, device, fault, params, incident, unavailable in specs:
            faults.append(
                PlannedFault(
                    name=name,
                    device=device.name,
                    fault=fault,
                    params=params,
                    start=at,
                    end=at + hold,
                    expect_incident=incident,
                    unavailable=unavailable,
                )
            )
            at += stagger
        # A reboot without downtime mid-way through the round: counters restart, no incident.
        quick_reboot = next(pool, None)
        if quick_reboot is not None:
            faults.append(
                PlannedFault(
                    name="reboot",
                    device=quick_reboot.name,
                    fault=Fault.REBOOT,
                    params={"down_s": 0},
                    start=start + hold / 2,
                    end=start + hold,
                    expect_incident=None,
                    unavailable=False,
                )
            )
        start = at + hold + tail
    return faults


def plan_chaos(
    timing: Timing, rng: random.Random, *, after: float | None = None
) -> list[ChaosEvent]:
    """The four kills/cuts in a seeded random order at seeded moments of the chaos window.

    The window is from the warm-up (or ``after``) to 65 % of the run, so the last third
    shows the steady state (and a flat RSS) after the last restart. Events never overlap:
    each is planned after the previous one's expected recovery (its down time and
    ``RESTART_S``), and the runner waits for the actual recovery too. When they do not all
    fit, they are all due at the start and the runner plays them back to back.
    """
    kinds = ["kill_district", "kill_central", "kill_database", "cut_link"]
    rng.shuffle(kinds)
    downs = [timing.cut_s if k == "cut_link" else timing.chaos_down_s + RESTART_S for k in kinds]
    start = timing.warmup_s if after is None else after
    window_end = max(start + 1.0, 0.65 * timing.duration_s)
    spare = window_end - start - sum(downs)
    fits = spare >= 0
    gaps = sorted(rng.uniform(0.0, max(spare, 0.0)) for _ in kinds)  # seeded idle time before each
    events = []
    busy = 0.0
    for kind, down, gap in zip(kinds, downs, gaps, strict=True):
        at = start + gap + busy if fits else start
        busy += down
        down_s = timing.cut_s if kind == "cut_link" else timing.chaos_down_s
        events.append(ChaosEvent(kind=kind, at=round(at, 1), down_s=down_s))
    return events
