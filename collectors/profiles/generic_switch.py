"""Generic switch or router: IF-MIB interfaces and HOST-RESOURCES CPU/memory. The last resort."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable

PROFILE = DeviceProfile(
    name="generic-switch",
    vendor="any",
    description="Any SNMP device: interfaces, rates, errors; CPU/RAM if HOST-RESOURCES answers",
    kind=DeviceKind.SWITCH,
    tables=frozenset({MibTable.IF, MibTable.HOST_RESOURCES}),
)
