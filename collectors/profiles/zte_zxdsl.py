"""ZTE ZXDSL 9806-series IP-DSLAM (sysDescr "ZTE ACCESS NODE AGENT")."""

from collectors.profiles.base import DeviceKind, DeviceProfile, Quirks
from collectors.profiles.generic_vdsl2_dslam import VDSL2_DSLAM_TABLES

PROFILE = DeviceProfile(
    name="zte-zxdsl-9806",
    vendor="ZTE",
    description="ZXDSL 9806 IP-DSLAM: VDSL ports (ifType 97) with 64-bit counters; line "
    "tables walked when the firmware answers them (the public recording does not)",
    kind=DeviceKind.DSLAM,
    sys_object_ids=("1.3.6.1.4.1.3902.1004",),
    tables=VDSL2_DSLAM_TABLES,
    # Recorded out of lexicographic order in places: walk per table.
    quirks=Quirks(non_increasing_oids=True),
    recordings=("zxdsl.snmprec",),
)
