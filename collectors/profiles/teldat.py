"""Teldat routers with an xDSL WAN (CPE)."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable

PROFILE = DeviceProfile(
    name="teldat",
    vendor="Teldat",
    description="Teldat VDSL2/ADSL router: full ADSL-LINE-MIB with fast/interleaved channels "
    "and 15-minute history",
    kind=DeviceKind.CPE,
    sys_object_ids=("1.3.6.1.4.1.2007",),
    tables=frozenset({MibTable.IF, MibTable.ADSL, MibTable.ADSL_INTERVALS}),
    recordings=("teldat_tv-base-vdsl2-adsl.snmprec",),
)
