"""``nocd poll`` end to end: the installed console script against snmpsim and snmpd."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.snmp_agents import (
    LIVE_RATE_OCTETS_PER_S,
    SYSTEM_ONLY_COMMUNITY,
    SnmpdAgent,
    SnmpsimAgent,
    free_udp_port,
)

pytestmark = [pytest.mark.integration, pytest.mark.snmp]

DEVICE_KEYS = {"sys_object_id", "sys_descr", "sys_name", "profile"}
INTERFACE_KEYS = {"ifindex", "name", "oper_status", "speed_bps", "in_bps", "out_bps"}
DSL_KEYS = {
    "ifindex",
    "snr_margin_down_db",
    "snr_margin_up_db",
    "attn_down_db",
    "actual_down_kbps",
    "attainable_down_kbps",
}


def _nocd(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("nocd", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-c", "from nocd.cli import main; main()"]
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _poll_json(*args: str) -> dict[str, Any]:
    run = _nocd("poll", *args, "--json")
    assert run.returncode == 0, run.stderr
    document: dict[str, Any] = json.loads(run.stdout)
    assert set(document) == {"device", "interfaces", "dsl_lines"}
    assert set(document["device"]) == DEVICE_KEYS
    for row in document["interfaces"]:
        assert set(row) >= INTERFACE_KEYS
    for line in document["dsl_lines"]:
        assert set(line) >= DSL_KEYS
    return document


def test_poll_json_of_a_dslam_has_the_documented_shape_and_real_rates(
    snmpsim_agent: SnmpsimAgent,
):
    """zxdsl-live: every ifHC*Octets grows 125 000 octets/s, so every port reads ~1 Mbit/s."""
    doc = _poll_json(
        "127.0.0.1", "--port", str(snmpsim_agent.port), "--community", "zxdsl-live",
        "--interval", "3", "--timeout", "10",
    )  # fmt: skip
    assert doc["device"] == {
        "sys_object_id": doc["device"]["sys_object_id"],
        "sys_descr": "ZTE ACCESS NODE AGENT",
        "sys_name": doc["device"]["sys_name"],
        "profile": "zte-zxdsl-9806",
    }
    assert doc["device"]["sys_object_id"].startswith("1.3.6.1.4.1.3902.1004.")
    assert len(doc["interfaces"]) == 258
    assert doc["dsl_lines"] == []  # the public ZXDSL recording has no line tables
    expected = LIVE_RATE_OCTETS_PER_S * 8
    in_rates = [r["in_bps"] for r in doc["interfaces"] if r["in_bps"] is not None]
    assert len(in_rates) == 258
    assert 0.7 * expected < statistics.median(in_rates) < 1.4 * expected
    vdsl = next(r for r in doc["interfaces"] if r["name"] == "VDSL 1/1")
    assert vdsl["oper_status"] in {"up", "down", "lowerLayerDown", "dormant", "notPresent"}


def test_poll_json_of_a_vdsl2_modem_reports_its_line_kpis(snmpsim_agent: SnmpsimAgent):
    doc = _poll_json(
        "127.0.0.1", "--port", str(snmpsim_agent.port), "--community", "draytek_vdsl-live",
        "--interval", "1",
    )  # fmt: skip
    assert doc["device"]["profile"] == "draytek-vigor"
    (line,) = doc["dsl_lines"]
    assert line["ifindex"] == 4
    assert line["snr_margin_down_db"] == 5.0
    assert line["attn_down_db"] == 16.0
    assert line["actual_down_kbps"] == 110162
    assert line["attainable_down_kbps"] == 113648


def test_poll_table_output_names_profile_and_lines(snmpsim_agent: SnmpsimAgent):
    run = _nocd(
        "poll", "127.0.0.1", "--port", str(snmpsim_agent.port), "--community",
        "teldat_tv-base-vdsl2-adsl", "--interval", "1",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "teldat" in run.stdout
    assert "Interfaces (17)" in run.stdout
    assert "DSL lines (1)" in run.stdout


def test_poll_v3_authpriv_against_snmpd(snmpd_agent: SnmpdAgent):
    user = snmpd_agent.user("nocd-sha-aes")
    doc = _poll_json(
        "127.0.0.1", "--port", str(snmpd_agent.port), "--v3-user", user.name,
        "--auth-protocol", "sha", "--auth-key", user.auth_key,
        "--priv-protocol", "aes", "--priv-key", user.priv_key, "--interval", "0.5",
    )  # fmt: skip
    assert doc["device"]["sys_name"] == snmpd_agent.sys_name
    assert doc["interfaces"], "snmpd has at least the loopback interface"


def test_poll_wrong_v3_key_exits_1_with_the_reason(snmpd_agent: SnmpdAgent):
    user = snmpd_agent.user("nocd-sha-aes")
    run = _nocd(
        "poll", "127.0.0.1", "--port", str(snmpd_agent.port), "--v3-user", user.name,
        "--auth-key", "not-the-right-key", "--priv-key", user.priv_key, "--interval", "0.5",
    )  # fmt: skip
    assert run.returncode == 1
    assert "wrong auth key" in run.stderr
    assert "not-the-right-key" not in run.stderr


def test_poll_unreachable_exits_1_with_the_reason():
    port = free_udp_port()
    run = _nocd(
        "poll", "127.0.0.1", "--port", str(port), "--timeout", "0.3", "--retries", "0",
        "--interval", "0.5", "--json",
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stdout == ""
    assert "timeout" in run.stderr
    assert f"127.0.0.1:{port}" in run.stderr


def test_poll_device_with_nothing_to_collect_exits_1_unsupported(snmpd_agent: SnmpdAgent):
    run = _nocd(
        "poll", "127.0.0.1", "--port", str(snmpd_agent.port), "--community",
        SYSTEM_ONLY_COMMUNITY, "--interval", "0.5",
    )  # fmt: skip
    assert run.returncode == 1
    assert "unsupported device" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--community", "c", "--v3-user", "u"], "--community cannot be combined"),
        (["--auth-key", "abcdefgh"], "need SNMPv3"),
        (["--v3-user", "u", "--auth-key", "short"], "at least 8"),
        (["--v3-user", "u", "--auth-protocol", "sha1024", "--auth-key", "abcdefgh"], "one of"),
    ],
)
def test_poll_bad_options_exit_2(args: list[str], message: str):
    run = _nocd("poll", "127.0.0.1", *args)
    assert run.returncode == 2
    assert message in run.stderr
