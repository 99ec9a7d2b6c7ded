"""Calix AXOS systems (E7-2 with XG801)."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable

PROFILE = DeviceProfile(
    name="calix-axos",
    vendor="Calix",
    description="AXOS E7: GPON and Ethernet ports; 64-bit counters only on some ports",
    kind=DeviceKind.OLT,
    sys_object_ids=("1.3.6.1.4.1.6321.1.2",),
    tables=frozenset({MibTable.IF}),
    recordings=("axos_e7-2.snmprec",),
)
