"""Cisco: Catalyst IOS access switches and IOS XR routers."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable, ResourceColumns

# CISCO-PROCESS-MIB cpmCPUTotal5minRev (%) and CISCO-MEMORY-POOL-MIB used/free (bytes).
RESOURCES = ResourceColumns(
    cpu_percent="1.3.6.1.4.1.9.9.109.1.1.1.1.8",
    memory_used="1.3.6.1.4.1.9.9.48.1.1.1.5",
    memory_free="1.3.6.1.4.1.9.9.48.1.1.1.6",
)

CATALYST = DeviceProfile(
    name="cisco-catalyst",
    vendor="Cisco",
    description="Catalyst 3560/3750 access switches: interfaces, CPU, memory pools",
    kind=DeviceKind.SWITCH,
    sys_object_ids=("1.3.6.1.4.1.9.1.617", "1.3.6.1.4.1.9.1.516"),
    tables=frozenset({MibTable.IF}),
    resources=RESOURCES,
    recordings=("cisco-c3560.snmprec.bz2", "cisco-c3750.snmprec.bz2"),
)
IOS_XR = DeviceProfile(
    name="cisco-ios-xr",
    vendor="Cisco",
    description="ASR 9000 / IOS XR routers (BNG class): interfaces, CPU",
    kind=DeviceKind.ROUTER,
    sys_object_ids=("1.3.6.1.4.1.9.1.1639",),
    tables=frozenset({MibTable.IF}),
    resources=RESOURCES,
    recordings=("iosxr_asr9001.snmprec",),
)
FAMILY = DeviceProfile(
    name="cisco",
    vendor="Cisco",
    description="Other Cisco devices: interfaces, CPU, memory pools",
    kind=DeviceKind.SWITCH,
    sys_object_ids=("1.3.6.1.4.1.9",),
    tables=frozenset({MibTable.IF}),
    resources=RESOURCES,
)
PROFILES = (CATALYST, IOS_XR, FAMILY)
