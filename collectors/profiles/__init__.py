"""Device profiles: the explicit list, and picking one for a device.

``match_profile`` takes the device's sysObjectID and, optionally, the set of tables
discovery found answering (probe each ``PROBE_OIDS`` value with one GETNEXT):

1. the profile whose sysObjectID prefix is the longest match (on whole arcs: ``…9.1.61``
   does not match ``…9.1.617``);
2. else the first generic profile whose ``probe`` tables all answer (VDSL2 before ADSL,
   since VDSL2 DSLAMs often also answer ADSL-LINE-MIB);
3. else the generic switch, which every SNMP agent fits.

Adding a vendor: one module here with a ``PROFILE`` (or ``PROFILES``), listed below, one
recording, one test; see docs/devices.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from collectors.profiles import (
    calix_axos,
    cisco,
    draytek_vigor,
    generic_adsl_dslam,
    generic_switch,
    generic_vdsl2_dslam,
    h3c_comware,
    huawei_smartax,
    huawei_vrp,
    juniper_junos,
    nokia_isam,
    teldat,
    zte_zxdsl,
    zte_zxr10,
    zyxel_ies,
)
from collectors.profiles.base import (
    PROBE_OIDS,
    TABLE_COLUMNS,
    DeviceKind,
    DeviceProfile,
    MetricKind,
    MetricSpec,
    MibTable,
    Quirks,
    ResourceColumns,
    Schedule,
    columns_for,
    read_metrics,
)

__all__ = [
    "GENERIC_PROFILES",
    "PROBE_OIDS",
    "PROFILES",
    "TABLE_COLUMNS",
    "DeviceKind",
    "DeviceProfile",
    "MetricKind",
    "MetricSpec",
    "MibTable",
    "Quirks",
    "ResourceColumns",
    "Schedule",
    "columns_for",
    "match_profile",
    "profile_by_name",
    "read_metrics",
]

# Generic profiles in probe order; the last one (generic switch) always fits.
GENERIC_PROFILES: tuple[DeviceProfile, ...] = (
    generic_vdsl2_dslam.PROFILE,
    generic_adsl_dslam.PROFILE,
    generic_switch.PROFILE,
)

PROFILES: tuple[DeviceProfile, ...] = (
    *GENERIC_PROFILES,
    zte_zxdsl.PROFILE,
    *zte_zxr10.PROFILES,
    zyxel_ies.PROFILE,
    *huawei_smartax.PROFILES,
    *huawei_vrp.PROFILES,
    nokia_isam.PROFILE,
    calix_axos.PROFILE,
    *cisco.PROFILES,
    *h3c_comware.PROFILES,
    juniper_junos.PROFILE,
    draytek_vigor.PROFILE,
    teldat.PROFILE,
)


def match_profile(
    sys_object_id: str | None,
    answering: Iterable[str] = frozenset(),
    *,
    profiles: tuple[DeviceProfile, ...] = PROFILES,
) -> DeviceProfile:
    """The profile for a device: longest sysObjectID prefix, else by answering tables.

    ``answering`` holds ``MibTable`` values (plain strings work too) of the tables that
    answered discovery's probes. Never raises: an unknown device is a generic switch.
    """
    oid = (sys_object_id or "").strip().lstrip(".")
    best: DeviceProfile | None = None
    best_len = -1
    if oid:
        for profile in profiles:
            for prefix in profile.sys_object_ids:
                if (oid == prefix or oid.startswith(prefix + ".")) and len(prefix) > best_len:
                    best, best_len = profile, len(prefix)
    if best is not None:
        return best
    answered = {str(table) for table in answering}
    for profile in profiles:
        if profile.probe and {str(t) for t in profile.probe} <= answered:
            return profile
    return generic_switch.PROFILE


def profile_by_name(name: str) -> DeviceProfile:
    """The profile called ``name`` (as stored in inventory); KeyError when there is none."""
    for profile in PROFILES:
        if profile.name == name:
            return profile
    raise KeyError(name)
