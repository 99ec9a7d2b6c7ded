"""Zyxel IES-5000 series MSAN (IES-5005, IES-5106)."""

from collectors.profiles.base import DeviceKind, DeviceProfile
from collectors.profiles.generic_vdsl2_dslam import VDSL2_DSLAM_TABLES

PROFILE = DeviceProfile(
    name="zyxel-ies5000",
    vendor="Zyxel",
    description="IES-5000 MSAN: VDSL2 ports (ifType 97) in IF-MIB with 64-bit counters; "
    "VDSL2/ADSL line tables when the firmware answers them",
    kind=DeviceKind.DSLAM,
    sys_object_ids=("1.3.6.1.4.1.890.1.5.13",),
    tables=VDSL2_DSLAM_TABLES,
    recordings=("ies5000_5005.snmprec", "ies5000_5106.snmprec"),
)
