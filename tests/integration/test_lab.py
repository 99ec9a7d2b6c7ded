"""The lab network under real snmpsim: endpoints answer, counters move, every fault is visible.

One lab (one snmpsim process, 5 endpoints) serves the whole module; each test switches its
fault on through the state file while snmpsim runs and off again at the end. Reads go through
``collectors.engine.SnmpClient``; one test repeats a read with Net-SNMP's ``snmpget`` as an
independent client. Nothing sleeps to synchronise: waits poll the agent against a deadline.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from collectors.engine import SnmpClient
from collectors.errors import DeviceUnreachable, SnmpProtocolError
from collectors.lab import Fault, LabLine, LabNetwork, prepare_recordings
from collectors.mibs import adsl_line_mib as adsl
from collectors.mibs import if_mib, snmpv2_mib
from collectors.mibs import vdsl2_line_mib as vdsl2
from collectors.values import SnmpValue
from tests.conftest import require_service, require_shared_data
from tests.fixtures.lab import free_udp_port, snmpsim_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.snmp,
    pytest.mark.asyncio(loop_scope="module"),
]

AGG = "d01-agg-01"
SWITCH = "d01-agg01-sw-01"
ADSL_DSLAM = "d01-agg01-dslam-01"
VDSL_DSLAM = "d01-agg01-dslam-02"
ATUC_PERF_INITS = "1.3.6.1.2.1.10.94.1.1.6.1.6"  # adslAtucPerfInits (Counter32)
IF_LAST_CHANGE = "1.3.6.1.2.1.2.2.1.9"
VDSL2_BAND_SNR = "1.3.6.1.2.1.10.251.1.1.2.1.4"  # xdsl2LineBandStatusSnrMargin, ifIndex.band
DEADLINE_S = 15.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client() -> AsyncIterator[SnmpClient]:
    async with await SnmpClient.create() as snmp:
        yield snmp


async def _get(client: SnmpClient, lab: LabNetwork, device: str, *oids: str,
               timeout_s: float = 2.0) -> dict[str, SnmpValue]:
    return await client.get(lab.target(device, timeout_s=timeout_s), list(oids))


async def _int(client: SnmpClient, lab: LabNetwork, device: str, oid: str) -> int:
    value = (await _get(client, lab, device, oid))[oid]
    assert isinstance(value, int), f"{device} {oid}: {value!r}"
    return value


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` (each call is a real SNMP round trip) until true or the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"


def _showtime_lines(lab: LabNetwork, device: str) -> list[LabLine]:
    lines = [ln for ln in lab.lines if ln.device == device and ln.in_showtime]
    assert len(lines) >= 3, "the seed must give at least three lines in showtime"
    return lines


async def test_two_endpoints_answer_and_counters_advance_over_a_real_interval(
    lab: LabNetwork, client: SnmpClient
) -> None:
    oids = (snmpv2_mib.SYS_UPTIME, f"{if_mib.IF_HC_IN_OCTETS}.1")
    first = {d: await _get(client, lab, d, *oids) for d in (AGG, ADSL_DSLAM)}
    t0 = time.monotonic()
    assert lab.endpoints[AGG][0] != lab.endpoints[ADSL_DSLAM][0]

    async def interval_elapsed() -> bool:
        await _get(client, lab, AGG, snmpv2_mib.SYS_UPTIME)
        return time.monotonic() - t0 >= 1.5

    await _until(interval_elapsed, "1.5 s to pass")
    second = {d: await _get(client, lab, d, *oids) for d in (AGG, ADSL_DSLAM)}
    elapsed = time.monotonic() - t0
    for device in (AGG, ADSL_DSLAM):
        up0, up1 = first[device][oids[0]], second[device][oids[0]]
        in0, in1 = first[device][oids[1]], second[device][oids[1]]
        assert isinstance(up0, int) and isinstance(up1, int)
        assert isinstance(in0, int) and isinstance(in1, int)
        assert abs((up1 - up0) - elapsed * 100) < 50, f"{device}: sysUpTime ticks at 100/s"
        assert in1 > in0, f"{device}: ifHCInOctets.1 advances"
        speed_octets = 10_000_000_000 / 8
        assert (in1 - in0) / elapsed < speed_octets, f"{device}: rate below the uplink speed"


async def test_snmpget_reads_the_same_agent(lab: LabNetwork) -> None:
    snmpget = shutil.which("snmpget")
    require_service(snmpget is not None, "Net-SNMP snmpget")
    address, port, community = lab.endpoints[VDSL_DSLAM]
    proc = await asyncio.create_subprocess_exec(
        str(snmpget), "-v2c", "-c", community, "-On", "-Oqv", "-t", "2", "-r", "1",
        f"{address}:{port}", snmpv2_mib.SYS_OBJECT_ID, snmpv2_mib.SYS_NAME,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    words = [w.strip('"') for w in out.decode().split()]
    assert words == [f".{lab.device(VDSL_DSLAM).sys_object_id}", VDSL_DSLAM]


async def test_unreachable_device_times_out_while_the_others_answer(
    lab: LabNetwork, client: SnmpClient
) -> None:
    lab.set_fault(SWITCH, Fault.UNREACHABLE)
    try:
        with pytest.raises(DeviceUnreachable):
            await _get(client, lab, SWITCH, snmpv2_mib.SYS_UPTIME, timeout_s=1.0)
        assert await _int(client, lab, AGG, snmpv2_mib.SYS_UPTIME) > 0
    finally:
        lab.clear_fault(SWITCH, Fault.UNREACHABLE)
    assert await _int(client, lab, SWITCH, snmpv2_mib.SYS_UPTIME) > 0


async def test_slow_agent_answers_late_and_only_it_is_late(
    lab: LabNetwork, client: SnmpClient
) -> None:
    delay_s = 2.0
    lab.set_fault(SWITCH, Fault.SLOW, delay_s=delay_s)
    try:
        t0 = time.monotonic()
        slow = asyncio.create_task(
            _get(client, lab, SWITCH, snmpv2_mib.SYS_UPTIME, timeout_s=delay_s + 3)
        )
        await _get(client, lab, AGG, snmpv2_mib.SYS_UPTIME)
        fast_s = time.monotonic() - t0
        row = await slow
        slow_s = time.monotonic() - t0
    finally:
        lab.clear_fault(SWITCH, Fault.SLOW)
    assert isinstance(row[snmpv2_mib.SYS_UPTIME], int)
    assert slow_s >= delay_s, f"slow agent answered after {slow_s:.2f} s"
    assert fast_s < 1.0, f"a healthy device answered after {fast_s:.2f} s meanwhile"


async def test_error_fault_answers_with_an_error_status(
    lab: LabNetwork, client: SnmpClient
) -> None:
    lab.set_fault(SWITCH, Fault.ERROR, status="genErr")
    try:
        with pytest.raises(SnmpProtocolError) as caught:
            await _get(client, lab, SWITCH, snmpv2_mib.SYS_UPTIME)
    finally:
        lab.clear_fault(SWITCH, Fault.ERROR)
    assert caught.value.status == "genErr"


async def test_snr_collapse_hits_only_the_chosen_lines(
    lab: LabNetwork, client: SnmpClient
) -> None:
    adsl_lines = _showtime_lines(lab, ADSL_DSLAM)
    chosen, spared = [ln.ifindex for ln in adsl_lines[:2]], adsl_lines[2]
    vdsl_line = _showtime_lines(lab, VDSL_DSLAM)[0]
    downstream_band = 2
    lab.set_fault(ADSL_DSLAM, Fault.SNR_COLLAPSE, lines=chosen, margin_db=0.5)
    lab.set_fault(VDSL_DSLAM, Fault.SNR_COLLAPSE, lines=[vdsl_line.ifindex], margin_db=0.5)
    try:
        for ifindex in chosen:
            assert await _int(client, lab, ADSL_DSLAM, f"{adsl.ATUR_CURR_SNR_MGN}.{ifindex}") == 5
        spared_oid = f"{adsl.ATUR_CURR_SNR_MGN}.{spared.ifindex}"
        spared_snr = await _int(client, lab, ADSL_DSLAM, spared_oid)
        assert spared_snr == spared.snr_down_tenth_db
        vdsl_oid = f"{VDSL2_BAND_SNR}.{vdsl_line.ifindex}.{downstream_band}"
        assert await _int(client, lab, VDSL_DSLAM, vdsl_oid) == 5
    finally:
        lab.clear_fault(ADSL_DSLAM, Fault.SNR_COLLAPSE)
        lab.clear_fault(VDSL_DSLAM, Fault.SNR_COLLAPSE)
    first = chosen[0]
    restored = await _int(client, lab, ADSL_DSLAM, f"{adsl.ATUR_CURR_SNR_MGN}.{first}")
    assert restored == adsl_lines[0].snr_down_tenth_db


async def test_retrain_storm_makes_init_counters_jump_and_showtime_restart(
    lab: LabNetwork, client: SnmpClient
) -> None:
    storm, calm = (ln.ifindex for ln in _showtime_lines(lab, ADSL_DSLAM)[:2])
    inits_before = await _int(client, lab, ADSL_DSLAM, f"{ATUC_PERF_INITS}.{storm}")
    calm_before = await _int(client, lab, ADSL_DSLAM, f"{ATUC_PERF_INITS}.{calm}")
    change_before = await _int(client, lab, ADSL_DSLAM, f"{IF_LAST_CHANGE}.{storm}")
    lab.set_fault(ADSL_DSLAM, Fault.RETRAIN_STORM, lines=[storm], period_s=0.5)
    try:

        async def jumped() -> bool:
            now = await _int(client, lab, ADSL_DSLAM, f"{ATUC_PERF_INITS}.{storm}")
            return now >= inits_before + 3

        await _until(jumped, "three retrains")
        change_after = await _int(client, lab, ADSL_DSLAM, f"{IF_LAST_CHANGE}.{storm}")
        uptime = await _int(client, lab, ADSL_DSLAM, snmpv2_mib.SYS_UPTIME)
        assert change_after > change_before, "ifLastChange moves to the last retrain"
        assert uptime - change_after <= 100, "showtime restarted less than 1 s ago"
        assert await _int(client, lab, ADSL_DSLAM, f"{ATUC_PERF_INITS}.{calm}") == calm_before
    finally:
        lab.clear_fault(ADSL_DSLAM, Fault.RETRAIN_STORM)


async def test_reboot_resets_uptime_and_counters(lab: LabNetwork, client: SnmpClient) -> None:
    counter = f"{if_mib.IF_HC_IN_OCTETS}.1"
    before_up = await _int(client, lab, VDSL_DSLAM, snmpv2_mib.SYS_UPTIME)
    before_ctr = await _int(client, lab, VDSL_DSLAM, counter)
    lab.set_fault(VDSL_DSLAM, Fault.REBOOT)
    try:
        after_up = await _int(client, lab, VDSL_DSLAM, snmpv2_mib.SYS_UPTIME)
        after_ctr = await _int(client, lab, VDSL_DSLAM, counter)
    finally:
        lab.clear_fault(VDSL_DSLAM, Fault.REBOOT)
    cleared_up = await _int(client, lab, VDSL_DSLAM, snmpv2_mib.SYS_UPTIME)
    assert before_up > 86400 * 100, "the lab's devices have been up for days"
    # Clearing the fault does not un-reboot the device: uptime goes on from the reboot.
    assert after_up <= cleared_up < 60 * 100, f"sysUpTime after the clear: {cleared_up}"
    assert after_up < 10 * 100, f"sysUpTime after reboot: {after_up} ticks"
    assert after_ctr < before_ctr, "counters restart from zero"
    assert after_ctr < 10 * 10_000_000_000 // 8, "at most 10 s of traffic since the reboot"


async def test_counter32_sits_below_2_pow_32_then_wraps(
    lab: LabNetwork, client: SnmpClient
) -> None:
    counter = f"{if_mib.IF_IN_OCTETS}.1"
    lab.set_fault(AGG, Fault.WRAP, lead_s=2.0)
    try:
        near = await _int(client, lab, AGG, counter)
        assert near > 2**32 - 2**31, f"Counter32 close below 2**32 after the switch: {near}"
        last = near

        async def wrapped() -> bool:
            nonlocal last
            value = await _int(client, lab, AGG, counter)
            went_back = value < last
            last = value
            return went_back

        await _until(wrapped, "the 32-bit counter to wrap")
        hc = await _int(client, lab, AGG, f"{if_mib.IF_HC_IN_OCTETS}.1")
        assert hc > 2**32, "the 64-bit counter does not wrap"
    finally:
        lab.clear_fault(AGG, Fault.WRAP)


async def test_real_recordings_are_served_with_faults(client: SnmpClient) -> None:
    require_service(snmpsim_available(), "snmpsim (snmpsim-command-responder + pysmi)")
    source = require_shared_data("snmprec", "draytek_vdsl.snmprec").parent
    lab_dir = Path(tempfile.mkdtemp(prefix="nocd-lab-rec-"))
    lab_dir.chmod(0o755)
    try:
        prepare_recordings(source, lab_dir, names=("draytek_vdsl", "h3c-e528-2"),
                           port=free_udp_port())
        assert not list(source.glob("*.tmp")), "nothing is written next to the recordings"
        async with LabNetwork(lab_dir) as rec:
            assert sorted(rec.endpoints) == ["draytek_vdsl", "h3c-e528-2"]
            row = await _get(client, rec, "draytek_vdsl", snmpv2_mib.SYS_OBJECT_ID,
                             f"{adsl.ATUC_CURR_ATTAINABLE_RATE}.4")
            assert row == {snmpv2_mib.SYS_OBJECT_ID: "1.3.6.1.4.1.7367",
                           f"{adsl.ATUC_CURR_ATTAINABLE_RATE}.4": 113648992}
            rec.set_fault("h3c-e528-2", Fault.UNREACHABLE)
            with pytest.raises(DeviceUnreachable):
                await _get(client, rec, "h3c-e528-2", snmpv2_mib.SYS_UPTIME, timeout_s=1.0)
    finally:
        shutil.rmtree(lab_dir, ignore_errors=True)


async def test_nocd_parsers_read_the_synthetic_lines_as_modelled(
    lab: LabNetwork, client: SnmpClient
) -> None:
    """The line tables round-trip: snmprec → snmpsim → engine → MIB parsers → model values."""
    adsl_table = await client.walk(lab.target(ADSL_DSLAM),
                                   [*adsl.CURRENT_COLUMNS, if_mib.IF_STACK_STATUS])
    parsed = {row.ifindex: row for row in adsl.parse_adsl_lines(
        adsl_table, stack=if_mib.parse_if_stack(adsl_table))}
    for line in _showtime_lines(lab, ADSL_DSLAM):
        row = parsed[line.ifindex]
        assert row.snr_margin_down_db == pytest.approx(line.snr_down_tenth_db / 10)
        assert row.snr_margin_up_db == pytest.approx(line.snr_up_tenth_db / 10)
        assert row.attn_down_db == pytest.approx(line.attn_down_tenth_db / 10)
        assert row.attainable_down_kbps == line.attainable_down_kbps
        assert row.actual_down_kbps == line.actual_down_kbps
        assert row.actual_up_kbps == line.actual_up_kbps
    vdsl_table = await client.walk(lab.target(VDSL_DSLAM), list(vdsl2.CURRENT_COLUMNS))
    vparsed = {row.ifindex: row for row in vdsl2.parse_vdsl2_lines(vdsl_table)}
    for line in _showtime_lines(lab, VDSL_DSLAM):
        row = vparsed[line.ifindex]
        assert row.attainable_down_kbps == line.attainable_down_kbps
        assert row.actual_down_kbps == line.actual_down_kbps
        assert row.actual_up_kbps == line.actual_up_kbps
        assert row.snr_margin_down_db is not None and row.snr_margin_down_db >= 0
