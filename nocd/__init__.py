"""nocd: broadband network-operations monitoring daemon."""

__version__ = "0.1.0"
