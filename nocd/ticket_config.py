"""``[tickets]`` settings: timer and delivery schedules, incident tickets, webhook retries.

[tickets]
timer_interval_s = 30            # how often SLA timers are checked for breaches
incident_severities = ["critical", "major"]   # incidents that open a fault ticket
webhook_interval_s = 2           # how often the webhook outbox is drained
webhook_max_attempts = 12        # then the delivery is dead (kept in the log)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from alerting.model import Severity
from alerting.notify.webhooks import RetryPolicy

__all__ = ["TicketSettings"]


class TicketSettings(BaseModel):
    """``[tickets]``: the ticket service of the central (or all-in-one) nocd."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    timer_interval_s: float = Field(default=30.0, gt=0)
    incident_tickets: bool = True  # one fault ticket per new incident from alerting
    incident_interval_s: float = Field(default=30.0, gt=0)
    incident_severities: list[Severity] = [Severity.CRITICAL, Severity.MAJOR]
    stale_sample_s: int = Field(default=900, ge=60)  # older line samples are "no data"
    history_window_s: int = Field(default=86_400, ge=3600)  # retrains counted over this
    metrics_window_days: int = Field(default=30, ge=1)  # on-time / callback ratios over this
    webhook_interval_s: float = Field(default=2.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_retry_base_s: float = Field(default=10.0, gt=0)
    webhook_retry_max_s: float = Field(default=3600.0, gt=0)
    webhook_max_attempts: int = Field(default=12, ge=1, le=100)
    idempotency_retention_h: float = Field(default=72.0, gt=0)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            base_s=self.webhook_retry_base_s,
            max_s=self.webhook_retry_max_s,
            max_attempts=self.webhook_max_attempts,
        )
