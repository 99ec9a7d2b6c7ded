"""Nokia (Alcatel-Lucent) ISAM access node (7302/7330/7360 FX)."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable, Quirks

PROFILE = DeviceProfile(
    name="nokia-isam",
    vendor="Nokia",
    description="ISAM: GPON/ONT/UNI and VLAN sub-interfaces, 32-bit counters on the few "
    "that have any; xDSL line tables on DSL line-card builds",
    kind=DeviceKind.OLT,
    sys_object_ids=("1.3.6.1.4.1.637.61.1",),
    tables=frozenset({MibTable.IF, MibTable.IF_STACK, MibTable.ADSL, MibTable.VDSL2}),
    quirks=Quirks(counter64_as_octet_string=True),
    recordings=("nokia-isam.snmprec",),
)
