"""H3C Comware switches and routers (E528, SR8808-X)."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable, Quirks, ResourceColumns

# HH3C-ENTITY-EXT-MIB: CPU and memory % per entity; entities without a CPU answer 0.
_ENTITY = "1.3.6.1.4.1.25506.2.6.1.1.1.1"
RESOURCES = ResourceColumns(
    cpu_percent=f"{_ENTITY}.6", memory_percent=f"{_ENTITY}.8", skip_zero=True
)
# Comware 7 recordings have mis-sorted FDB/enterprise rows that a full walk skips silently.
_QUIRKS = Quirks(non_increasing_oids=True)

SWITCH = DeviceProfile(
    name="h3c-comware-switch",
    vendor="H3C",
    description="Comware 5 access switches (E528 …): interfaces, entity CPU/memory",
    kind=DeviceKind.SWITCH,
    sys_object_ids=("1.3.6.1.4.1.25506.1.578",),
    tables=frozenset({MibTable.IF}),
    resources=RESOURCES,
    quirks=_QUIRKS,
    recordings=("h3c-e528-2.snmprec.bz2",),
)
ROUTER = DeviceProfile(
    name="h3c-comware-router",
    vendor="H3C",
    description="Comware 7 routers (SR8800-X …): interfaces, entity CPU/memory",
    kind=DeviceKind.ROUTER,
    sys_object_ids=("1.3.6.1.4.1.25506.1.921",),
    tables=frozenset({MibTable.IF}),
    resources=RESOURCES,
    quirks=_QUIRKS,
    recordings=("h3c-comware-7-1-075.snmprec.bz2",),
)
FAMILY = DeviceProfile(
    name="h3c-comware",
    vendor="H3C",
    description="Other H3C Comware devices",
    kind=DeviceKind.SWITCH,
    sys_object_ids=("1.3.6.1.4.1.25506",),
    tables=frozenset({MibTable.IF}),
    resources=RESOURCES,
    quirks=_QUIRKS,
)
PROFILES = (SWITCH, ROUTER, FAMILY)
