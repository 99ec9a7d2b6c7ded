"""Generic VDSL2 DSLAM: IF-MIB plus VDSL2-LINE-MIB (RFC 5650), ADSL-LINE-MIB where answered."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable

# VDSL2 DSLAMs commonly still answer parts of ADSL-LINE-MIB; both are walked and merged
# (vdsl2_line_mib.merge_dsl_lines, VDSL2 first).
VDSL2_DSLAM_TABLES = frozenset(
    {
        MibTable.IF,
        MibTable.IF_STACK,
        MibTable.VDSL2,
        MibTable.VDSL2_INTERVALS,
        MibTable.ADSL,
        MibTable.HOST_RESOURCES,
    }
)

PROFILE = DeviceProfile(
    name="generic-vdsl2-dslam",
    vendor="any",
    description="Any agent answering VDSL2-LINE-MIB channel status: per-band SNR margin, "
    "attenuation, ATP, rates, 15-minute ES/SES/UAS/inits",
    kind=DeviceKind.DSLAM,
    tables=VDSL2_DSLAM_TABLES,
    probe=frozenset({MibTable.VDSL2}),
)
