"""Discovery of one device: its system group, which MIB tables answer, and its profile.

One GET carries sysDescr, sysObjectID, sysUpTime and sysName; one GETNEXT probes every
table of ``profiles.PROBE_OIDS``. The profile is chosen by ``profiles.match_profile``:
sysObjectID first, then the answering tables. Only a device where nothing usable answers
(no vendor sysObjectID match and no probed table) is ``UnsupportedDevice``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from collectors.engine import SnmpClient, SnmpTarget
from collectors.errors import UnsupportedDevice
from collectors.mibs import snmpv2_mib
from collectors.profiles import PROBE_OIDS, DeviceProfile, MibTable, match_profile
from collectors.samples import SystemInfo

__all__ = ["Discovery", "MatchedBy", "discover"]

_logger = logging.getLogger(__name__)


class MatchedBy(StrEnum):
    """How the profile was chosen."""

    SYS_OBJECT_ID = "sys_object_id"  # a vendor profile's sysObjectID prefix
    PROBE = "probe"  # a generic profile whose probe tables all answered
    FALLBACK = "fallback"  # nothing more specific: the generic switch


@dataclass(frozen=True, slots=True, kw_only=True)
class Discovery:
    """What discovery learnt about one device."""

    system: SystemInfo
    profile: DeviceProfile
    answering: frozenset[MibTable]  # tables whose probe column has at least one instance
    matched_by: MatchedBy


def _prefix_matches(sys_object_id: str | None, profile: DeviceProfile) -> bool:
    oid = (sys_object_id or "").strip().lstrip(".")
    return bool(oid) and any(
        oid == prefix or oid.startswith(prefix + ".") for prefix in profile.sys_object_ids
    )


async def discover(client: SnmpClient, target: SnmpTarget) -> Discovery:
    """System GET, table probes, profile choice; raises DeviceUnreachable, UnsupportedDevice."""
    system = snmpv2_mib.parse_system(await client.get(target, snmpv2_mib.SCALARS))
    by_column = {column: table for table, column in PROBE_OIDS.items()}
    present = await client.present(target, list(by_column))
    answering = frozenset(by_column[column] for column in present)
    profile = match_profile(system.sys_object_id, answering)
    if _prefix_matches(system.sys_object_id, profile):
        matched_by = MatchedBy.SYS_OBJECT_ID
    elif profile.probe and profile.probe <= answering:
        matched_by = MatchedBy.PROBE
    else:
        matched_by = MatchedBy.FALLBACK
    if matched_by is MatchedBy.FALLBACK and not answering:
        raise UnsupportedDevice(target.host, system.sys_object_id)
    _logger.info(
        "%s: profile %s (by %s; sysObjectID %s; answering %s)",
        target.host,
        profile.name,
        matched_by,
        system.sys_object_id,
        ",".join(sorted(answering)) or "-",
    )
    return Discovery(system=system, profile=profile, answering=answering, matched_by=matched_by)
