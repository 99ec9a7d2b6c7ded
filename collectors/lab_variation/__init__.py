"""The lab's snmpsim variation module, shipped as package data: snmpsim execs it, nocd never."""

from __future__ import annotations

from pathlib import Path

__all__ = ["MODULE_NAME", "MODULE_PATH"]

MODULE_NAME = "nocdlab"  # the record tag suffix: ``65:nocdlab|ctr:…``
MODULE_PATH = Path(__file__).with_name(f"{MODULE_NAME}.py")
