"""Generic ADSL/ADSL2+ DSLAM: IF-MIB plus ADSL-LINE-MIB (RFC 2662, RFC 3440)."""

from collectors.profiles.base import DeviceKind, DeviceProfile, MibTable

PROFILE = DeviceProfile(
    name="generic-adsl-dslam",
    vendor="any",
    description="Any agent answering ADSL-LINE-MIB line status: per-line SNR, attenuation, "
    "rates, error seconds and 15-minute history",
    kind=DeviceKind.DSLAM,
    tables=frozenset(
        {
            MibTable.IF,
            MibTable.IF_STACK,
            MibTable.ADSL,
            MibTable.ADSL_INTERVALS,
            MibTable.HOST_RESOURCES,
        }
    ),
    probe=frozenset({MibTable.ADSL}),
)
