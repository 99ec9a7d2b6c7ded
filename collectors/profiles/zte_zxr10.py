"""ZTE ZXR10 switches and router-switches (5250 access switch, 9900 series)."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable, Quirks

# Both recordings break lexicographic order (Q-BRIDGE, ipNetToMedia, ZTE subtrees): a
# walk of the whole tree aborts, a walk per IF-MIB table completes.
_QUIRKS = Quirks(non_increasing_oids=True)

ACCESS = DeviceProfile(
    name="zte-zxr10-access",
    vendor="ZTE",
    description="ZXR10 5200-series access switch (no ifHighSpeed: speed from ifSpeed)",
    kind=DeviceKind.SWITCH,
    sys_object_ids=("1.3.6.1.4.1.3902.3.100",),
    tables=frozenset({MibTable.IF}),
    quirks=_QUIRKS,
    recordings=("zte-zxr10-5250.snmprec.bz2",),
)
CORE = DeviceProfile(
    name="zte-zxr10-core",
    vendor="ZTE",
    description="ZXR10 9900-series aggregation router-switch",
    kind=DeviceKind.ROUTER,
    sys_object_ids=("1.3.6.1.4.1.3902.3.600",),
    tables=frozenset({MibTable.IF}),
    quirks=_QUIRKS,
    recordings=("zte-zrx10.snmprec.bz2",),
)
FAMILY = DeviceProfile(
    name="zte-zxr10",
    vendor="ZTE",
    description="Other ZXR10 data products",
    kind=DeviceKind.SWITCH,
    sys_object_ids=("1.3.6.1.4.1.3902.3",),
    tables=frozenset({MibTable.IF}),
    quirks=_QUIRKS,
)
PROFILES = (ACCESS, CORE, FAMILY)
