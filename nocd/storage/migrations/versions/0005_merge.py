"""Merge the branches that were built side by side (KPI, two tiers, alerting, tickets, reports,
traffic) into one head. No schema change.

Revision ID: 0005
Revises: 0003k, 0003t, 0003a, 0003w, 0004r, 0004f
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | Sequence[str] | None = ("0003k", "0003t", "0003a", "0003w", "0004r", "0004f")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
