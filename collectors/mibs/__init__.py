"""Pure MIB parsers: OID constants, ``COLUMNS`` to walk, and ``parse_*`` from plain values."""
