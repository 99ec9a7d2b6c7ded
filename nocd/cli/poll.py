"""``nocd poll``: discover one device, poll it twice, print interfaces with rates and DSL KPIs."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from collectors.counters import CounterRate
from collectors.device_poll import DevicePoll, poll_device, rates_between
from collectors.discovery import Discovery, discover
from collectors.engine import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SnmpClient, SnmpTarget
from collectors.errors import CollectorError
from collectors.samples import DslLineRow, InterfaceRow
from nocd.cli.common import EXIT_BAD_INPUT, EXIT_FAILURE, fail, out

__all__ = ["poll", "register"]

_DSL_FIELDS = (
    "snr_margin_down_db",
    "snr_margin_up_db",
    "attn_down_db",
    "attn_up_db",
    "output_power_down_dbm",
    "output_power_up_dbm",
    "actual_down_kbps",
    "actual_up_kbps",
    "attainable_down_kbps",
    "attainable_up_kbps",
)


def poll(
    address: Annotated[str, typer.Argument(help="Device address (IPv4, IPv6 or name).")],
    port: Annotated[int, typer.Option(help="UDP port of the agent.")] = 161,
    community: Annotated[
        str | None, typer.Option(help="SNMPv1/v2c community (default: public).")
    ] = None,
    snmp_version: Annotated[
        str | None,
        typer.Option("--snmp-version", help="1, 2c or 3 (default: 3 with --v3-user, else 2c)."),
    ] = None,
    v3_user: Annotated[str | None, typer.Option("--v3-user", help="SNMPv3 USM user.")] = None,
    auth_protocol: Annotated[
        str | None, typer.Option(help=f"SNMPv3 auth: {', '.join(AUTH_PROTOCOLS)}.")
    ] = None,
    auth_key: Annotated[str | None, typer.Option(help="SNMPv3 auth pass phrase.")] = None,
    priv_protocol: Annotated[
        str | None, typer.Option(help=f"SNMPv3 privacy: {', '.join(PRIV_PROTOCOLS)}.")
    ] = None,
    priv_key: Annotated[str | None, typer.Option(help="SNMPv3 privacy pass phrase.")] = None,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between the two polls (rates need two).")
    ] = 10.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per SNMP try.")] = 2.0,
    retries: Annotated[int, typer.Option(min=0, help="Extra tries per request.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Discover ADDRESS, poll it twice INTERVAL seconds apart, print interfaces and DSL lines."""
    target = _target(
        address, port, community, snmp_version, v3_user, auth_protocol, auth_key,
        priv_protocol, priv_key, timeout, retries,
    )  # fmt: skip
    try:
        found, first, second = asyncio.run(_poll_twice(target, interval))
    except CollectorError as exc:
        fail(f"error: {exc}", EXIT_FAILURE)
    document = _document(found, first, second)
    if as_json:
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        _print_tables(document)


def register(app: typer.Typer) -> None:
    """Add ``poll`` to the top-level CLI."""
    app.command("poll")(poll)


def _target(
    address: str,
    port: int,
    community: str | None,
    snmp_version: str | None,
    v3_user: str | None,
    auth_protocol: str | None,
    auth_key: str | None,
    priv_protocol: str | None,
    priv_key: str | None,
    timeout: float,
    retries: int,
) -> SnmpTarget:
    v3_options = [auth_protocol, auth_key, priv_protocol, priv_key]
    version = snmp_version or ("3" if v3_user else "2c")
    if version == "3":
        if community is not None:
            fail("--community cannot be combined with SNMPv3 (--v3-user)", EXIT_BAD_INPUT)
        if not v3_user:
            fail("SNMPv3 needs --v3-user", EXIT_BAD_INPUT)
        if auth_key and not auth_protocol:
            auth_protocol = "sha"
        if priv_key and not priv_protocol:
            priv_protocol = "aes"
    elif v3_user or any(v is not None for v in v3_options):
        fail("--v3-user/--auth-*/--priv-* need SNMPv3", EXIT_BAD_INPUT)
    try:
        return SnmpTarget(
            host=address,
            port=port,
            version=version,  # type: ignore[arg-type]  # validated by SnmpTarget
            community=community if community is not None else "public",
            user=v3_user or "",
            auth_protocol=auth_protocol,  # type: ignore[arg-type]
            auth_key=auth_key or "",
            priv_protocol=priv_protocol,  # type: ignore[arg-type]
            priv_key=priv_key or "",
            timeout_s=timeout,
            retries=retries,
        )
    except ValueError as exc:
        fail(f"error: {exc}", EXIT_BAD_INPUT)


async def _poll_twice(
    target: SnmpTarget, interval_s: float
) -> tuple[Discovery, DevicePoll, DevicePoll]:
    async with await SnmpClient.create() as client:
        found = await discover(client, target)
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = await poll_device(client, target, found.profile)
        # The two polls start interval_s apart; this wait is the measurement window itself.
        await asyncio.sleep(max(0.0, interval_s - (loop.time() - started)))
        second = await poll_device(client, target, found.profile)
    return found, first, second


def _rate(rate: CounterRate | None) -> tuple[int | None, str | None]:
    if rate is None:
        return None, "not in both polls"
    return rate.per_second, None if rate.valid else str(rate.reason)


def _interface(row: InterfaceRow, rates: Any) -> dict[str, Any]:
    in_bps, in_invalid = _rate(rates.in_bps if rates else None)
    out_bps, out_invalid = _rate(rates.out_bps if rates else None)
    return {
        "ifindex": row.ifindex,
        "name": row.name,
        "oper_status": None if row.oper_status is None else str(row.oper_status),
        "speed_bps": row.speed_bps,
        "in_bps": in_bps,
        "out_bps": out_bps,
        "admin_status": None if row.admin_status is None else str(row.admin_status),
        "descr": row.descr,
        "alias": row.alias,
        "if_type": row.if_type,
        "octets_64bit": row.octets_64bit,
        "in_bps_invalid": in_invalid,
        "out_bps_invalid": out_invalid,
        "in_errors": None if rates is None else rates.in_errors.delta,
        "out_errors": None if rates is None else rates.out_errors.delta,
    }


def _dsl_line(row: DslLineRow) -> dict[str, Any]:
    line: dict[str, Any] = {"ifindex": row.ifindex}
    line.update({name: getattr(row, name) for name in _DSL_FIELDS})
    line["standard"] = str(row.standard)
    return line


def _document(found: Discovery, first: DevicePoll, second: DevicePoll) -> dict[str, Any]:
    rates = rates_between(first, second)
    system = second.system
    return {
        "device": {
            "sys_object_id": system.sys_object_id,
            "sys_descr": system.sys_descr,
            "sys_name": system.sys_name,
            "profile": found.profile.name,
        },
        "interfaces": [_interface(row, rates.get(row.ifindex)) for row in second.interfaces],
        "dsl_lines": [_dsl_line(row) for row in second.dsl_lines],
    }


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    if isinstance(value, int) and unit == "bps":
        return _bps(value)
    return f"{value}{unit}"


def _bps(value: int) -> str:
    for factor, prefix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if value >= factor:
            return f"{value / factor:.2f} {prefix}bit/s"
    return f"{value} bit/s"


def _print_tables(document: dict[str, Any]) -> None:
    device = document["device"]
    out.print(
        f"[bold]{device['sys_name'] or '?'}[/bold]  profile [cyan]{device['profile']}[/cyan]  "
        f"sysObjectID {device['sys_object_id'] or '?'}",
        highlight=False,
    )
    out.print(device["sys_descr"] or "", markup=False, highlight=False)
    interfaces = RichTable(title=f"Interfaces ({len(document['interfaces'])})")
    for heading in ("ifIndex", "name", "oper", "speed", "in", "out"):
        interfaces.add_column(heading, justify="right" if heading != "name" else "left")
    for row in document["interfaces"]:
        interfaces.add_row(
            str(row["ifindex"]),
            row["name"] or "",
            row["oper_status"] or "—",
            _fmt(row["speed_bps"], "bps"),
            _fmt(row["in_bps"], "bps") if row["in_bps_invalid"] is None else row["in_bps_invalid"],
            _fmt(row["out_bps"], "bps")
            if row["out_bps_invalid"] is None
            else row["out_bps_invalid"],
        )
    out.print(interfaces)
    if document["dsl_lines"]:
        lines = RichTable(title=f"DSL lines ({len(document['dsl_lines'])})")
        headings = ("ifIndex", "std", "SNR dn/up dB", "attn dn/up dB", "actual kbit/s dn/up",
                    "attainable kbit/s dn/up")  # fmt: skip
        for heading in headings:
            lines.add_column(heading, justify="right")
        for line in document["dsl_lines"]:
            lines.add_row(
                str(line["ifindex"]),
                line["standard"],
                f"{_fmt(line['snr_margin_down_db'])} / {_fmt(line['snr_margin_up_db'])}",
                f"{_fmt(line['attn_down_db'])} / {_fmt(line['attn_up_db'])}",
                f"{_fmt(line['actual_down_kbps'])} / {_fmt(line['actual_up_kbps'])}",
                f"{_fmt(line['attainable_down_kbps'])} / {_fmt(line['attainable_up_kbps'])}",
            )
        out.print(lines)
