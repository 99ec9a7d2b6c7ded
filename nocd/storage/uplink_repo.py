"""The newest 5-minute rollups of uplink ports: what /metrics exports per uplink.

Uplinks are bounded (a few per device), unlike customer ports and lines, so their load may
be a Prometheus series; every other port stays in storage and the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, and_, cast, literal, select
from sqlalchemy.orm import Session

from nocd.storage.models import Device, Port, Rollup

__all__ = ["UPLINK_METRICS", "UplinkReading", "newest_uplink_rollups"]

# Rates and ratios only: a 5-minute average of them means what the sample means.
UPLINK_METRICS = ("in_bps", "out_bps", "in_utilisation_ratio", "out_utilisation_ratio")


@dataclass(frozen=True, slots=True, kw_only=True)
class UplinkReading:
    """One uplink metric in its newest 5-minute bucket (``avg`` and ``max`` of the bucket)."""

    district: str
    device: str
    link: str  # "if:<ifIndex>"
    metric: str
    bucket: int
    avg: float
    max: float


def newest_uplink_rollups(session: Session, *, since: int) -> list[UplinkReading]:
    """Per uplink and metric, the newest 5-minute rollup whose bucket starts at or after
    ``since`` (epoch s); one query over the (resolution, bucket) index."""
    entity = literal("if:") + cast(Port.ifindex, String)
    query = (
        select(
            Device.district_id,
            Device.name,
            Rollup.entity,
            Rollup.metric,
            Rollup.bucket,
            Rollup.avg,
            Rollup.max,
        )
        .join(Port, and_(Port.device_id == Rollup.device_id, Rollup.entity == entity))
        .join(Device, Device.id == Rollup.device_id)
        .where(
            Rollup.resolution == "5m",
            Rollup.bucket >= since,
            Rollup.metric.in_(UPLINK_METRICS),
            Port.is_uplink.is_(True),
        )
        .order_by(Rollup.bucket)
    )
    newest: dict[tuple[str, str, str], UplinkReading] = {}
    for district, device, link, metric, bucket, avg, peak in session.execute(query):
        newest[(device, link, metric)] = UplinkReading(
            district=district,
            device=device,
            link=link,
            metric=metric,
            bucket=int(bucket),
            avg=float(avg),
            max=float(peak),
        )
    return list(newest.values())
