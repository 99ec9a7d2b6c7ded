"""Huawei VRP switches and routers (S5720 access/aggregation, NetEngine 8000)."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable, ResourceColumns

# HUAWEI-ENTITY-EXTENT-MIB hwEntityStateTable: CPU and memory % per entity; entities
# without a CPU (chassis, fans, ports) answer 0.
_ENTITY = "1.3.6.1.4.1.2011.5.25.31.1.1.1.1"
RESOURCES = ResourceColumns(
    cpu_percent=f"{_ENTITY}.5", memory_percent=f"{_ENTITY}.7", skip_zero=True
)

SWITCH = DeviceProfile(
    name="huawei-vrp-switch",
    vendor="Huawei",
    description="S-series switches (S5720 …): interfaces, entity CPU/memory",
    kind=DeviceKind.SWITCH,
    sys_object_ids=("1.3.6.1.4.1.2011.2.23",),
    tables=frozenset({MibTable.IF}),
    resources=RESOURCES,
    recordings=("huawei-s5720.snmprec.bz2",),
)
ROUTER = DeviceProfile(
    name="huawei-vrp-router",
    vendor="Huawei",
    description="NetEngine routers / BNG (NE8000 …): interfaces, entity CPU/memory",
    kind=DeviceKind.ROUTER,
    sys_object_ids=("1.3.6.1.4.1.2011.2.360",),
    tables=frozenset({MibTable.IF}),
    resources=RESOURCES,
    recordings=("vrp_ne8000-m8.snmprec",),
)
PROFILES = (SWITCH, ROUTER)
