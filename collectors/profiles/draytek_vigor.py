"""DrayTek Vigor xDSL modems/routers (CPE)."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable, Quirks

PROFILE = DeviceProfile(
    name="draytek-vigor",
    vendor="DrayTek",
    description="Vigor VDSL2 modem: VDSL2 rates from xdsl2ChStatusTable, SNR/attenuation/"
    "power from ADSL-LINE-MIB (answered in whole dB), HOST-RESOURCES CPU",
    kind=DeviceKind.CPE,
    sys_object_ids=("1.3.6.1.4.1.7367",),
    tables=frozenset({MibTable.IF, MibTable.ADSL, MibTable.VDSL2, MibTable.HOST_RESOURCES}),
    quirks=Quirks(adsl_db_unit_tenths=10),
    recordings=("draytek_vdsl.snmprec",),
)
