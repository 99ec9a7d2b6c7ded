"""snmpsim variation module of the nocd lab: diurnal counters, DSL line values, switchable faults.

snmpsim does not import this file: it ``exec``s it (``--variation-modules-dir``) and calls
``init``/``variate``/``shutdown`` with the globals ``moduleContext`` and ``recordContext`` set.
The lab copies it into ``<lab>/variation/nocdlab.py``; records opt in with the tag suffix
``:nocdlab`` and the module option ``nocdlab:<path of faults.json>`` names the state file.

Record values (the field after ``TAG:nocdlab|``)::

    =RAW                      static value, evaluated by snmpsim as an ordinary TAG|RAW record
    up                        sysUpTime: ticks since the device (re)booted
    ctr:RATE:INITIAL          counter; RATE is the daily mean per second, shaped by the diurnal
                              curve; Counter32 (tag 65) wraps at 2**32, Counter64 at 2**64
    gauge:BASE:AMP            gauge following the diurnal curve: BASE + AMP * (shape - 1)
    snr:IFINDEX:BASE          SNR margin (0.1 dB); collapses under ``snr_collapse``
    atr:IFINDEX:BASE          attainable rate (bit/s); scaled down under ``snr_collapse``
    ini:IFINDEX:BASE          line initialisation counter (total); grows under ``retrain_storm``
    ini15:IFINDEX / ini1d:IFINDEX   inits in the current 15-minute / 1-day bin
    el15 / el1d               seconds elapsed in the current 15-minute / 1-day bin
    lch:IFINDEX:DELAY_S       ifLastChange of a DSL port: showtime DELAY_S after boot, or the
                              last retrain of a storm

State file (rewritten atomically by ``collectors.lab``; re-read when its stat changes)::

    {"epoch": 1700000000.0, "tz_offset_s": 28800,
     "devices": {"xihu-dslam-001": {"faults": {"unreachable": {}, "slow": {"delay_s": 3},
        "error": {"status": "genErr"}, "snr_collapse": {"lines": [1001], "margin_db": 1.0},
        "retrain_storm": {"lines": [1001], "period_s": 5, "since": 1700000100.0},
        "reboot": {"at": 1700000200.0, "down_s": 0}, "wrap": {"at": 1700000300.0, "lead_s": 10},
        "congestion": {"ports": [1], "rate_bps": 9.7e8, "since": 1700000400.0}}}}}

The slow agent never blocks snmpsim's single event loop: the request is dropped now and the
same datagram is fed back into the engine ``delay_s`` later, so only that device is late.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from typing import Any

from snmpsim.error import NoDataNotification
from snmpsim.variation import MibOperationError

# Set by snmpsim before each call (they are this module's globals once exec'd).
moduleContext: dict[str, Any] = {}  # noqa: N816  (name fixed by snmpsim)
recordContext: dict[str, Any] = {}  # noqa: N816

_DAY_S = 86400.0
_BIN15_S = 900.0
_OMEGA = 2.0 * math.pi / _DAY_S
_PEAK_S = 21.0 * 3600.0  # evening peak, local time
_A1 = 0.6  # first harmonic: evening peak / morning trough
_A2 = 0.25  # second harmonic: flattens the daytime plateau
_MOD = {"65": 2**32, "70": 2**64, "67": 2**32, "66": 2**32}
# ifInOctets, ifOutOctets, ifHCInOctets, ifHCOutOctets: the columns ``congestion`` loads.
_OCTET_COLUMNS = (
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 10),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 16),
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6),
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10),
)

# snmpsim maps these SMI exception classes to the PDU error-status (pysnmp's cmdrsp table).
_ERROR_CLASSES = {cls.__name__: cls for cls in MibOperationError.__subclasses__()}
_ERROR_STATUS = {
    "genErr": "GenError",
    "tooBig": "TooBigError",
    "noAccess": "NoAccessError",
    "noSuchName": "NoSuchNameError",
    "resourceUnavailable": "ResourceUnavailableError",
    "authorizationError": "AuthorizationError",
}


def shape(t_local_s: float) -> float:
    """Traffic relative to the daily mean at local time-of-day ``t_local_s`` (mean 1 over a day)."""
    x = _OMEGA * (t_local_s - _PEAK_S)
    return 1.0 + _A1 * math.cos(x) + _A2 * math.cos(2.0 * x)


def shape_integral(t_s: float, tz_offset_s: float) -> float:
    """Antiderivative of ``shape`` over absolute time (seconds); differences give volumes."""
    x = _OMEGA * (t_s + tz_offset_s - _PEAK_S)
    return t_s + _A1 / _OMEGA * math.sin(x) + _A2 / (2.0 * _OMEGA) * math.sin(2.0 * x)


def init(**context: Any) -> None:
    moduleContext["state_path"] = str(context.get("options") or "")
    moduleContext["state"] = {}
    moduleContext["state_key"] = None
    moduleContext["pending"] = set()
    moduleContext["released"] = set()


def shutdown(**context: Any) -> None:
    moduleContext.clear()


def _state() -> dict[str, Any]:
    path = moduleContext.get("state_path", "")
    try:
        st = os.stat(path)
    except OSError:
        return dict(moduleContext.get("state") or {})
    key = (st.st_ino, st.st_mtime_ns, st.st_size)
    if key != moduleContext.get("state_key"):
        try:
            with open(path, encoding="utf-8") as fh:
                moduleContext["state"] = json.load(fh)
            moduleContext["state_key"] = key
        except (OSError, ValueError):
            pass  # half-written by a non-atomic writer: keep the previous state
    state: dict[str, Any] = moduleContext.get("state") or {}
    return state


def _device_of(data_file: str) -> str:
    name = os.path.basename(data_file)
    for ext in (".snmprec.bz2", ".snmprec"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def _delay(delay_s: float, context: dict[str, Any]) -> None:
    """Answer this request ``delay_s`` later by re-injecting its datagram; drop it now."""
    engine = context["snmpEngine"]
    exec_ctx = engine.observer.get_execution_context("rfc3412.receiveMessage:request")
    whole = exec_ctx["wholeMsg"]
    domain = exec_ctx["transportDomain"]
    address = exec_ctx["transportAddress"]
    key = (bytes(whole), tuple(address))
    released: set[Any] = moduleContext["released"]
    if key in released:
        return
    pending: set[Any] = moduleContext["pending"]
    if key not in pending:
        pending.add(key)

        def _fire() -> None:
            pending.discard(key)
            released.add(key)
            try:
                engine.message_dispatcher.receive_message(engine, domain, address, whole)
            finally:
                released.discard(key)

        asyncio.get_event_loop().call_later(delay_s, _fire)
    raise NoDataNotification()


def _boot_time(dev: dict[str, Any], epoch: float, now: float) -> float:
    reboot = dev.get("faults", {}).get("reboot")
    if reboot and float(reboot.get("at", 0)) <= now:
        return float(reboot["at"]) + float(reboot.get("down_s", 0))
    return float(dev.get("booted_at", epoch))


def _lines(fault: dict[str, Any] | None) -> set[int] | None:
    """The fault's line set; None when the fault is off, an empty set means every line."""
    if fault is None:
        return None
    return {int(x) for x in fault.get("lines", [])}


def _hit(lines: set[int] | None, ifindex: int) -> bool:
    return lines is not None and (not lines or ifindex in lines)


def _retrains(fault: dict[str, Any], since: float, now: float) -> int:
    """Retrains of a storm in [since, now]: one at its start, then one every ``period_s``."""
    first = float(fault.get("since", now))
    period = max(float(fault.get("period_s", 5.0)), 0.1)
    start = max(first, since)
    if now < start:
        return 0
    return int((now - first) // period) - math.ceil((start - first) / period) + 1


def _extra_octets(oid: Any, fault: dict[str, Any], now: float) -> int:
    """Octets a ``congestion`` fault adds to an octet counter of one of its ports since it began."""
    parts = tuple(int(x) for x in oid)
    if parts[:-1] not in _OCTET_COLUMNS or not _hit(_ports(fault), parts[-1]):
        return 0
    since = float(fault.get("since", now))
    return int(max(0.0, now - since) * float(fault.get("rate_bps", 0.0)) / 8.0)


def _ports(fault: dict[str, Any]) -> set[int]:
    """The ifIndexes a ``congestion`` fault loads; an empty set means every interface."""
    return {int(x) for x in fault.get("ports", [])}


def variate(oid: Any, tag: str, value: str, **context: Any) -> tuple[Any, str, Any]:
    if not context["nextFlag"] and not context["exactMatch"]:
        return context["origOid"], tag, context["errorStatus"]
    if context["setFlag"]:  # the lab is read-only, like nocd
        return context["origOid"], tag, context["errorStatus"]

    state = _state()
    now = time.time()
    dev = state.get("devices", {}).get(_device_of(context["dataFile"]), {})
    faults: dict[str, Any] = dev.get("faults", {})
    reboot = faults.get("reboot")
    if "unreachable" in faults or (
        reboot
        and float(reboot.get("at", 0))
        <= now
        < float(reboot.get("at", 0)) + float(reboot.get("down_s", 0))
    ):
        raise NoDataNotification()
    if "slow" in faults:
        _delay(float(faults["slow"].get("delay_s", 3.0)), context)
    if "error" in faults:
        status = str(faults["error"].get("status", "genErr"))
        cls = _ERROR_CLASSES.get(_ERROR_STATUS.get(status, "GenError"))
        if cls is not None:
            index = max(0, context["varsTotal"] - context["varsRemaining"] - 1)
            raise cls(name=oid, idx=index)

    if value.startswith("="):
        return oid, tag, value[1:]
    kind, *args = value.split(":")
    epoch = float(state.get("epoch", now))
    tz = float(state.get("tz_offset_s", 0))
    boot = _boot_time(dev, epoch, now)
    tag_base = tag.rstrip("xe")

    if kind == "up":
        return oid, tag, int((now - boot) * 100) % 2**32
    if kind == "ctr":
        rate, initial = float(args[0]), int(args[1])
        origin = max(boot, epoch)
        initial = 0 if boot > epoch else initial  # a reboot restarts counters from zero
        total = initial + int(rate * (shape_integral(now, tz) - shape_integral(origin, tz)))
        wrap = faults.get("wrap")
        if tag_base == "65" and wrap is not None:
            at = float(wrap.get("at", now))
            lead = float(wrap.get("lead_s", 10.0))
            at_total = initial + int(rate * (shape_integral(at, tz) - shape_integral(origin, tz)))
            rate_at = max(rate * shape(at + tz), 1.0)
            total = 2**32 - int(rate_at * lead) + (total - at_total)
        congestion = faults.get("congestion")
        if congestion is not None:
            total += _extra_octets(oid, congestion, now)
        return oid, tag, total % _MOD.get(tag_base, 2**64)
    if kind == "gauge":
        base, amp = float(args[0]), float(args[1])
        return oid, tag, max(0, round(base + amp * (shape(now + tz) - 1.0)))

    ifindex = int(args[0]) if args else 0
    collapse = faults.get("snr_collapse")
    storm = faults.get("retrain_storm")
    if kind == "snr":
        if _hit(_lines(collapse), ifindex) and collapse is not None:
            return oid, tag, round(float(collapse.get("margin_db", 1.0)) * 10)
        return oid, tag, int(args[1])
    if kind == "atr":
        if _hit(_lines(collapse), ifindex) and collapse is not None:
            return oid, tag, int(int(args[1]) * float(collapse.get("rate_factor", 0.35)))
        return oid, tag, int(args[1])
    if kind in ("ini", "ini15", "ini1d"):
        base = int(args[1]) if kind == "ini" and len(args) > 1 else 0
        if boot > epoch:
            base = 1 if kind == "ini" else 0  # counters restart; one init brought the line up
        if kind == "ini":
            since = boot
        else:
            width = _BIN15_S if kind == "ini15" else _DAY_S
            since = max(boot, ((now + tz) // width) * width - tz)
        extra = _retrains(storm, since, now) if storm and _hit(_lines(storm), ifindex) else 0
        return oid, tag, base + extra
    if kind in ("el15", "el1d"):
        width = _BIN15_S if kind == "el15" else _DAY_S
        return oid, tag, int((now + tz) % width)
    if kind == "lch":
        showtime = boot + float(args[1]) if len(args) > 1 else boot
        if storm and _hit(_lines(storm), ifindex):
            first = float(storm.get("since", now))
            period = max(float(storm.get("period_s", 5.0)), 0.1)
            if now >= first:
                showtime = max(showtime, first + ((now - first) // period) * period)
        return oid, tag, max(0, int((min(showtime, now) - boot) * 100)) % 2**32
    return context["origOid"], tag, context["errorStatus"]


def record(oid: Any, tag: str, value: Any, **context: Any) -> tuple[Any, str, Any]:
    """Recording mode is not supported: the lab writes its own .snmprec files."""
    raise NoDataNotification()
