"""Huawei SmartAX access nodes: MA5600-series OLT and MA562x MDU (Integrated Access Software)."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable, ResourceColumns

# HUAWEI-DEVICE-MIB hwMusaBoardTable: CPU and memory % per board; empty slots answer -1.
_BOARD = "1.3.6.1.4.1.2011.2.6.7.1.1.2.1"
RESOURCES = ResourceColumns(
    cpu_percent=f"{_BOARD}.5",
    memory_percent=f"{_BOARD}.6",
    ignore_values=frozenset({-1}),
)
_TABLES = frozenset({MibTable.IF, MibTable.IF_STACK, MibTable.ADSL, MibTable.VDSL2})

OLT = DeviceProfile(
    name="huawei-smartax-olt",
    vendor="Huawei",
    description="SmartAX MA5600/MA5603T: GPON and Ethernet ports, board CPU/memory; xDSL "
    "line tables walked for MSAN builds with xDSL boards",
    kind=DeviceKind.OLT,
    sys_object_ids=("1.3.6.1.4.1.2011.2.123",),
    tables=_TABLES,
    resources=RESOURCES,
    recordings=("smartax.snmprec",),
)
MDU = DeviceProfile(
    name="huawei-smartax-mdu",
    vendor="Huawei",
    description="SmartAX MA562x MDU: FE ports, board CPU/memory",
    kind=DeviceKind.OLT,
    sys_object_ids=("1.3.6.1.4.1.2011.2.185",),
    tables=_TABLES,
    resources=RESOURCES,
    recordings=("smartax-mdu.snmprec",),
)
PROFILES = (OLT, MDU)
