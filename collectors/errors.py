"""The SNMP collector's exceptions, raised once at the engine boundary with context attributes.

```
CollectorError                 anything that stops one device from being collected
    ├── DeviceUnreachable      no usable answer: timeout, no route, USM auth/priv failure
    ├── SnmpProtocolError      the agent answered with errorStatus/errorIndex (tooBig, genErr …)
    └── UnsupportedDevice      discovery found nothing nocd knows how to collect
```
``CollectorError`` derives from ``Exception``, not ``nocd.errors.NocdError``: ``collectors``
imports nothing from ``nocd`` (the import-direction test enforces it).
Every error keeps the original pysnmp cause as ``__cause__`` (``raise … from exc``) and carries
``.host`` so the poller can log and count it per device without parsing the message.
"""

from __future__ import annotations

__all__ = ["CollectorError", "DeviceUnreachable", "SnmpProtocolError", "UnsupportedDevice"]


class CollectorError(Exception):
    """Raised when one device cannot be collected; ``host`` names it."""

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        super().__init__(f"{host}: {message}")


class DeviceUnreachable(CollectorError):
    """Raised when the agent gives no usable answer: timeout, no route, or USM auth/priv failure."""

    def __init__(self, host: str, reason: str) -> None:
        self.reason = reason
        super().__init__(host, reason)


class SnmpProtocolError(CollectorError):
    """Raised when the agent answers with a non-zero errorStatus nocd cannot work around."""

    def __init__(self, host: str, status: str, index: int, oid: str | None) -> None:
        self.status = status
        self.index = index
        self.oid = oid
        where = f" at varbind {index} ({oid})" if oid else ""
        super().__init__(host, f"SNMP error {status}{where}")


class UnsupportedDevice(CollectorError):
    """Raised by discovery when neither the sysObjectID nor any probed MIB table is usable."""

    def __init__(self, host: str, sys_object_id: str | None) -> None:
        self.sys_object_id = sys_object_id
        super().__init__(
            host,
            f"unsupported device (sysObjectID {sys_object_id or 'unknown'}): "
            "no profile matches and no known MIB table answers",
        )
