"""A fixed synthetic month (June 2024, Asia/Shanghai) of hand-built storage rows for the report.

Inventory: xihu (dslam-1: L1 enterprise E1, L2 residential R1; dslam-2: L3 residential R2),
bj (dslam-3: L4 enterprise E2). Uplinks: dslam-1 if:100 "uplink-1", dslam-3 if:100
"uplink-3". Every device is up from 2024-05-31 00:00 local.

Hand-worked facts the golden file must show (and ``test_report.py`` asserts):

* dslam-1 down 06-11 02:00–02:40 local (2 400 s, "snmp timeout") → 2 lines × 40 min =
  80 customer-minutes.
* dslam-3 down 06-21 00:00–02:00 (7 200 s, "power failure"), maintenance 06-21
  00:00–01:00 → 3 600 s owed to nobody; L4 loses 60 customer-minutes.
* dslam-2 down 06-30 10:00–10:30 (1 800 s, "fibre cut") → L3 loses 30 minutes; it is the
  one new outage of the report day.
* Network line availability for June: scheduled = 4 lines × 2 592 000 s − 3 600 s of
  maintenance = 10 364 400 s; down = 2 × 2 400 + 3 600 + 1 800 = 10 200 s →
  1 − 10 200 ÷ 10 364 400 = 0.999015862… ; customer-minutes lost 170.
* Stability on 06-30: L2 retrains 4 times in one 15-minute bin → unstable; L1, L3, L4 stable.
* Congestion on 06-30: uplink-1 at 0.9 for 24 of 288 five-minute buckets (share 1/12),
  uplink-3 at 0.3 all day (share 0).
* Capacity: uplink-1's daily busy-hour p95 grows 1 %/day from 0.5 over 56 days, so it is
  0.5 × 1.01^55 = 0.864 > 0.8 already (0 days); uplink-3's grows 0.5 %/day from 0.4 →
  0.4 × 1.005^55 = 0.5263, crossing 0.8 in ln(0.8/0.5263) ÷ ln(1.005) = 84.0 days: both
  listed.
* Tickets (5): T1 fault xihu network, on site after 20 min, repaired in 2 h, callback
  before closing; T2 fault xihu customer side, on site after 45 min, repaired in 2 h,
  closed without callback; T3 fault bj unclassified opened 06-30 08:00, dispatched
  08:30, nobody on site by the end of the day (due, late); T4 installation bj, ordered
  06-05, completed after 2 days, called back 2 days later; T5 complaint xihu.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from nocd.storage import inventory_repo as inv
from nocd.storage import maintenance_repo
from nocd.storage.models import DeviceStateEvent, Port, Rollup, TicketEventRow, TicketRow

ZONE = ZoneInfo("Asia/Shanghai")
P = 1717171200  # 2024-06-01 00:00 Asia/Shanghai
DAY = 86_400
NOW = datetime(2024, 7, 1, 3, 0, tzinfo=ZONE)  # the catch-up / report run time


def local(month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(2024, month, day, hour, minute, tzinfo=ZONE).timestamp())


def build(session: Session) -> None:
    """Write the whole month; the caller commits (or the test transaction rolls back)."""
    inv.upsert_districts(
        session,
        [inv.DistrictRecord(id="xihu", name="Xihu"), inv.DistrictRecord(id="bj", name="Binjiang")],
    )
    snmp = inv.SnmpParams(version=inv.SnmpVersion.V2C)
    inv.upsert_devices(
        session,
        [
            inv.DeviceRecord(name=n, district=d, kind=inv.DeviceKind.DSLAM, address=a, snmp=snmp)
            for n, d, a in (
                ("dslam-1", "xihu", "127.0.9.1"),
                ("dslam-2", "xihu", "127.0.9.2"),
                ("dslam-3", "bj", "127.0.9.3"),
            )
        ],
    )
    inv.upsert_customers(
        session,
        [
            inv.CustomerRecord(id="E1", name="E1", sla_class=inv.SlaClass.ENTERPRISE),
            inv.CustomerRecord(id="R1", name="R1"),
            inv.CustomerRecord(id="R2", name="R2"),
            inv.CustomerRecord(id="E2", name="E2", sla_class=inv.SlaClass.ENTERPRISE),
        ],
    )
    inv.upsert_lines(
        session,
        [
            inv.LineRecord(device=dev, ifindex=i, customer=c, plan_down_kbps=p, plan_up_kbps=1_000)
            for dev, i, c, p in (
                ("dslam-1", 1, "E1", 50_000),
                ("dslam-1", 2, "R1", 20_000),
                ("dslam-2", 1, "R2", 20_000),
                ("dslam-3", 1, "E2", 50_000),
            )
        ],
    )
    session.flush()
    ids = {
        d.name: d.id
        for d in inv.devices_by_name(session, ["dslam-1", "dslam-2", "dslam-3"]).values()
    }
    session.add_all(
        [
            Port(
                device_id=ids[dev],
                ifindex=100,
                name=name,
                speed_bps=1_000_000_000,
                is_uplink=True,
            )
            for dev, name in (("dslam-1", "uplink-1"), ("dslam-3", "uplink-3"))
        ]
    )
    start = local(5, 31)
    events = [(dev, start, "up", "first poll") for dev in ids]
    events += [
        ("dslam-1", local(6, 11, 2), "down", "snmp timeout"),
        ("dslam-1", local(6, 11, 2, 40), "up", "answers again"),
        ("dslam-3", local(6, 21, 0), "down", "power failure"),
        ("dslam-3", local(6, 21, 2), "up", "power restored"),
        ("dslam-2", local(6, 30, 10), "down", "fibre cut"),
        ("dslam-2", local(6, 30, 10, 30), "up", "answers again"),
    ]
    session.add_all(
        [
            DeviceStateEvent(device_id=ids[d], ts=ts, state=state, reason=reason)
            for d, ts, state, reason in events
        ]
    )
    maintenance_repo.create_window(
        session,
        maintenance_repo.MaintenanceRecord(
            district=None,
            device="dslam-3",
            starts_at=local(6, 21, 0),
            ends_at=local(6, 21, 1),
            reason="power works",
        ),
    )
    rollups: list[Rollup] = []

    def bucket(device: str, entity: str, metric: str, res: str, ts: int, value: float) -> None:
        rollups.append(
            Rollup(
                device_id=ids[device],
                entity=entity,
                metric=metric,
                resolution=res,
                bucket=ts,
                count=1,
                min=value,
                avg=value,
                max=value,
                p95=value,
            )
        )

    day30 = local(6, 30)
    # Line counters on 06-30 (5-minute buckets): flat, except L2 retrains 4 times at 14:00.
    for dev, ifindex in (("dslam-1", 1), ("dslam-1", 2), ("dslam-2", 1), ("dslam-3", 1)):
        for k in range(288):
            ts = day30 + k * 300
            jump = 4.0 if (dev, ifindex) == ("dslam-1", 2) and ts >= local(6, 30, 14) else 0.0
            bucket(dev, f"line:{ifindex}", "inits_total", "5m", ts, 10.0 + jump)
    # Uplink utilisation on 06-30: uplink-1 congested 20:00–22:00, uplink-3 quiet.
    for k in range(288):
        ts = day30 + k * 300
        busy = local(6, 30, 20) <= ts < local(6, 30, 22)
        bucket("dslam-1", "if:100", "in_utilisation_ratio", "5m", ts, 0.9 if busy else 0.5)
        bucket("dslam-3", "if:100", "in_utilisation_ratio", "5m", ts, 0.3)
    # Hourly p95 at 20:00 for 56 days up to 06-30: exponential growth.
    for k in range(56):
        day = datetime(2024, 6, 30, 20, tzinfo=ZONE) - timedelta(days=55 - k)
        ts = int(day.timestamp())
        bucket("dslam-1", "if:100", "in_utilisation_ratio", "1h", ts, 0.5 * 1.01**k)
        bucket("dslam-3", "if:100", "in_utilisation_ratio", "1h", ts, 0.4 * 1.005**k)
    session.add_all(rollups)
    _tickets(session)
    session.flush()


def _dt(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _tickets(session: Session) -> None:
    def ticket(
        tid: str,
        kind: str,
        district: str,
        customer: str | None,
        side: str | None,
        created: int,
        states: list[tuple[str, int]],
        *,
        resolved: int | None = None,
        closed: int | None = None,
        callback: int | None = None,
    ) -> None:
        last_state, last_at = states[-1] if states else ("new", created)
        session.add(
            TicketRow(
                id=tid,
                kind=kind,
                template={"fault": "broadband_fault"}.get(kind, kind),
                state=last_state,
                priority="P3",
                district=district,
                title=tid,
                customer_id=customer,
                side=side,
                lines=[],
                linked_tickets=[],
                fields={},
                version=len(states) + 1,
                created_at=_dt(created),
                updated_at=_dt(last_at),
                resolved_at=_dt(resolved) if resolved else None,
                closed_at=_dt(closed) if closed else None,
                callback_done_at=_dt(callback) if callback else None,
            )
        )
        session.flush()
        session.add(
            TicketEventRow(
                ticket_id=tid, version=1, kind="created", actor="test", at=_dt(created),
                state="new", priority="P3", fields={}, details={},
            )
        )  # fmt: skip
        previous = "new"
        for version, (state, at) in enumerate(states, start=2):
            session.add(
                TicketEventRow(
                    ticket_id=tid, version=version, kind="transitioned", actor="test",
                    at=_dt(at), from_state=previous, state=state, priority="P3",
                    fields={}, details={},
                )
            )  # fmt: skip
            previous = state

    t1 = local(6, 10, 10)
    ticket(
        "T1", "fault", "xihu", "R1", "network", t1,
        [("acknowledged", t1 + 300), ("dispatched", t1 + 600), ("on_site", t1 + 1800),
         ("resolved", t1 + 7200), ("signed_off", t1 + 7300), ("callback_done", t1 + 20_000),
         ("closed", t1 + DAY)],
        resolved=t1 + 7200, closed=t1 + DAY, callback=t1 + 20_000,
    )  # fmt: skip
    t2 = local(6, 15, 9)
    ticket(
        "T2", "fault", "xihu", "E1", "customer_side", t2,
        [("acknowledged", t2 + 60), ("dispatched", t2 + 300), ("on_site", t2 + 300 + 2700),
         ("resolved", t2 + 7200), ("signed_off", t2 + 7300), ("closed", t2 + DAY)],
        resolved=t2 + 7200, closed=t2 + DAY,
    )  # fmt: skip
    t3 = local(6, 30, 8)
    ticket(
        "T3", "fault", "bj", "E2", None, t3,
        [("acknowledged", t3 + 600), ("dispatched", t3 + 1800)],
    )  # fmt: skip
    t4 = local(6, 5, 9)
    ticket(
        "T4", "installation", "bj", "E2", None, t4,
        [("acknowledged", t4 + 600), ("dispatched", t4 + DAY), ("on_site", t4 + DAY + 1200),
         ("resolved", t4 + 2 * DAY), ("signed_off", t4 + 2 * DAY + 60),
         ("callback_done", t4 + 4 * DAY)],
        resolved=t4 + 2 * DAY, callback=t4 + 4 * DAY,
    )  # fmt: skip
    t5 = local(6, 20, 16)
    ticket("T5", "complaint", "xihu", "R2", None, t5, [("acknowledged", t5 + 600)])
