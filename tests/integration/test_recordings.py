"""Every shared real-device recording through snmpsim → engine → discovery → poll.

For each recording, nocd's interface count and DSL line count must equal what Net-SNMP's
``snmpbulkwalk`` reports from the same agent, and one value read through nocd must equal the
value written in the recording file itself. The ZTE recordings are out of lexicographic order
in places: walking those tables ends the column with a warning, never a hang.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from collectors.device_poll import DevicePoll, poll_device
from collectors.discovery import discover
from collectors.engine import SnmpClient
from collectors.profiles import MibTable
from tests.conftest import SHARED_DATA
from tests.fixtures.snmp_agents import SnmpsimAgent, net_snmp_walk

pytestmark = [pytest.mark.integration, pytest.mark.snmp]


def _recording_names() -> list[str]:
    folder = SHARED_DATA / "snmprec"
    if not folder.is_dir():
        return ["(no shared recordings)"]  # the fixture skips (or fails under CI)
    names = (p.name for p in folder.iterdir())
    return sorted(n.removesuffix(".bz2").removesuffix(".snmprec") for n in names if ".snmprec" in n)


RECORDINGS = _recording_names()
IF_TABLE, IF_X_TABLE = "1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1"
# Tables indexed by the line's ifIndex alone (or ifIndex first): ADSL phys + perf, VDSL2
# line, channel status and PM. adslLineTable config rows and channel tables are left out,
# as the parsers count a line only when it has measurements.
DSL_LINE_TABLES = (
    "1.3.6.1.2.1.10.94.1.1.2",  # adslAtucPhysTable
    "1.3.6.1.2.1.10.94.1.1.3",  # adslAturPhysTable
    "1.3.6.1.2.1.10.94.1.1.6",  # adslAtucPerfDataTable
    "1.3.6.1.2.1.10.94.1.1.7",  # adslAturPerfDataTable
    "1.3.6.1.2.1.10.251.1.1",  # xdsl2Line (status, band)
    "1.3.6.1.2.1.10.251.1.2.2",  # xdsl2ChStatusTable
    "1.3.6.1.2.1.10.251.1.4",  # xdsl2PM
)
HC_IN_OCTETS, IF_DESCR, IF_NAME = (
    "1.3.6.1.2.1.31.1.1.1.6",
    "1.3.6.1.2.1.2.2.1.2",
    "1.3.6.1.2.1.31.1.1.1.1",
)


@pytest.fixture
async def client():
    async with await SnmpClient.create() as c:
        yield c


async def _poll(client: SnmpClient, agent: SnmpsimAgent, community: str) -> DevicePoll:
    target = agent.target(community)
    found = await discover(client, target)
    tables = found.profile.tables - {MibTable.ADSL_INTERVALS, MibTable.VDSL2_INTERVALS}
    return await poll_device(client, target, found.profile, tables=tables)


def _row_indexes(lines: list[str], table: str) -> set[int]:
    """First index component of every row under ``table`` (``.table.entry.column.index…``)."""
    depth = len(table.split(".")) + 2  # + entry (1) + column
    out: set[int] = set()
    for line in lines:
        parts = line.split(" ", 1)[0].lstrip(".").split(".")
        if len(parts) > depth:
            out.add(int(parts[depth]))
    return out


def _net_snmp_indexes(agent: SnmpsimAgent, community: str, tables: tuple[str, ...]) -> set[int]:
    found: set[int] = set()
    for table in tables:
        lines = net_snmp_walk(agent.port, ["-v2c", "-c", community], table, "-Cr25")
        found |= _row_indexes(lines, table)
    return found


def _file_values(path: Path, column: str) -> dict[int, tuple[str, str]]:
    """ifIndex → (type tag, raw value) of ``column`` as written in the .snmprec file."""
    out: dict[int, tuple[str, str]] = {}
    prefix = column + "."
    for line in path.read_text(encoding="latin-1").splitlines():
        oid, _, rest = line.partition("|")
        if oid.startswith(prefix) and oid[len(prefix) :].isdigit():
            tag, _, value = rest.partition("|")
            out[int(oid[len(prefix) :])] = (tag, value)
    return out


def _text(tag: str, value: str) -> str:
    raw = bytes.fromhex(value) if tag.endswith("x") else value.encode("latin-1")
    return raw.decode("utf-8", errors="replace").replace("\x00", "").strip()


@pytest.mark.parametrize("community", RECORDINGS)
async def test_recording_counts_match_snmpbulkwalk_and_values_match_file(
    client, snmpsim_agent: SnmpsimAgent, community: str
):
    result = await _poll(client, snmpsim_agent, community)

    expected_ifaces = _net_snmp_indexes(snmpsim_agent, community, (IF_TABLE, IF_X_TABLE))
    assert {row.ifindex for row in result.interfaces} == expected_ifaces
    expected_lines = _net_snmp_indexes(snmpsim_agent, community, DSL_LINE_TABLES)
    assert {line.ifindex for line in result.dsl_lines} == expected_lines

    # Spot check against the file itself: the 64-bit in-octets when the recording has them
    # as Counter64, else the interface name, of the lowest ifIndex that has one.
    by_index = {row.ifindex: row for row in result.interfaces}
    recording = snmpsim_agent.recording(community)
    hc = {i: v for i, (tag, v) in _file_values(recording, HC_IN_OCTETS).items() if tag == "70"}
    if hc:
        ifindex = min(hc)
        assert by_index[ifindex].octets_64bit
        assert by_index[ifindex].in_octets == int(hc[ifindex])
    else:
        names = _file_values(recording, IF_NAME) or _file_values(recording, IF_DESCR)
        ifindex = min(i for i, tv in names.items() if _text(*tv))
        assert by_index[ifindex].name == _text(*names[ifindex])


async def test_draytek_vdsl2_line_kpis_match_the_recording(client, snmpsim_agent):
    """Vigor165: SNR/attenuation in ADSL-LINE-MIB (whole dB), rates in VDSL2-LINE-MIB."""
    result = await _poll(client, snmpsim_agent, "draytek_vdsl")
    assert result.profile == "draytek-vigor"
    (line,) = result.dsl_lines
    assert line.ifindex == 4
    # adslAturCurrSnrMgn.4 = 5 and adslAtucCurrSnrMgn.4 = 5 (INTEGER, whole dB on this modem)
    assert (line.snr_margin_down_db, line.snr_margin_up_db) == (5.0, 5.0)
    # xdsl2ChStatusActDataRate.4.{1,2} = 110162000 / 33029000 bit/s
    assert (line.actual_down_kbps, line.actual_up_kbps) == (110162, 33029)


async def test_nokia_isam_octet_string_counter64_falls_back_not_crash(client, snmpsim_agent):
    """The one ifHCInOctets row is an OCTET STRING: that interface is not 64-bit, no crash."""
    result = await _poll(client, snmpsim_agent, "nokia-isam")
    row = next(r for r in result.interfaces if r.ifindex == 1079377920)
    assert not row.octets_64bit


@pytest.mark.parametrize(
    ("community", "column"),
    [
        ("zte-zxr10-5250", "1.3.6.1.2.1.17.7.1.2.2.1.2"),  # dot1qTpFdbPort
        ("zte-zrx10", "1.3.6.1.2.1.4.22.1.2"),  # ipNetToMediaPhysAddress
    ],
)
async def test_zte_out_of_order_table_ends_column_with_warning_not_hang(
    client, snmpsim_agent: SnmpsimAgent, caplog: pytest.LogCaptureFixture, community, column
):
    caplog.set_level(logging.WARNING, logger="collectors.engine")
    recorded = sum(
        1
        for line in snmpsim_agent.recording(community).read_text(encoding="latin-1").splitlines()
        if line.startswith(column + ".")
    )
    async with asyncio.timeout(120):  # a walk that loops would never finish
        table = await client.walk(snmpsim_agent.target(community), [column])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("OID not increasing" in m and column in m for m in warnings)
    assert len(table[column]) < recorded
