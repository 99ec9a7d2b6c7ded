"""Juniper Junos routers (MX series)."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable, ResourceColumns

# JUNIPER-MIB jnxOperatingTable: CPU and buffer (memory) % per component; 0 = no CPU.
_OPERATING = "1.3.6.1.4.1.2636.3.1.13.1"

PROFILE = DeviceProfile(
    name="juniper-junos",
    vendor="Juniper",
    description="MX routers / BNG: interfaces, routing-engine and FPC CPU and memory",
    kind=DeviceKind.ROUTER,
    sys_object_ids=("1.3.6.1.4.1.2636",),
    tables=frozenset({MibTable.IF}),
    resources=ResourceColumns(
        cpu_percent=f"{_OPERATING}.8", memory_percent=f"{_OPERATING}.11", skip_zero=True
    ),
    recordings=("juniper-mx960-13-3r9-13.snmprec.bz2",),
)
