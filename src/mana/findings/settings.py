"""Alert thresholds and delivery, from the environment (`MANA_ALERT_*`, or a `.env` file).

Kept beside the findings instead of in `mana.config` so the rules and their knobs read as one
piece; README lists every variable with its default.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SEVERE_OBSERVATION_KINDS = ("missing", "changed", "not_applied", "unexpected_item")


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MANA_ALERT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # Slack-compatible webhook; unset means alerts are stored and served, not pushed.
    webhook_url: str | None = Field(
        default=None, validation_alias=AliasChoices("MANA_ALERT_WEBHOOK_URL", "webhook_url")
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_attempts: int = Field(default=6, ge=1, le=20)
    # Exponential backoff between attempts: initial, doubling, capped at max.
    webhook_backoff_seconds: float = Field(default=1.0, ge=0)
    webhook_backoff_max_seconds: float = Field(default=60.0, ge=0)
    # The outbox is also read this often (notifications another auth process stored, or whose
    # delivering process died); a change in this process wakes the notifier at once.
    webhook_poll_seconds: float = Field(default=5.0, gt=0)

    # Evaluation runs after a tick finishes, at most once per this many seconds per process.
    debounce_seconds: float = Field(default=10.0, ge=0)
    # ... and on this period regardless, so an alert resolves on time when nothing ticks (a
    # paused runner, a quiet night). 0 turns the periodic evaluation off.
    evaluate_interval_seconds: float = Field(default=300.0, ge=0)

    # Windows: the recent window is compared with the baseline window just before it.
    recent_days: int = Field(default=3, ge=1, le=30)
    baseline_days: int = Field(default=14, ge=1, le=90)
    # An open alert resolves once its condition has been clear for this long.
    resolve_after_hours: float = Field(default=24.0, ge=0)

    # rating_drop: mean falls by `margin` AND enough ratings on both sides AND Mann–Whitney U
    # says recent ratings are stochastically lower with p < alpha (one-sided).
    rating_margin: float = Field(default=0.5, gt=0)
    rating_min_recent: int = Field(default=8, ge=2)
    rating_min_baseline: int = Field(default=20, ge=2)
    # Strict on purpose: ~7 modules are tested at every evaluation (multiple comparisons).
    rating_alpha: float = Field(default=0.001, gt=0, lt=1)

    # error_rate: recent rate ≥ baseline + jump AND ≥ factor × baseline, with enough calls.
    error_rate_jump: float = Field(default=0.15, gt=0, le=1)
    error_rate_factor: float = Field(default=2.0, ge=1)
    min_calls: int = Field(default=20, ge=1)

    # latency_p95: recent p95 ≥ factor × baseline p95 AND at least `min_ms` slower AND at
    # least `min_calls` calls on each side. The ratio alone fires on noise: in-process services
    # on a loaded machine measure the machine (a clean embedded simulation saw p95 257–309 ms
    # against baselines of 119–139 ms: ×2.2, +140–170 ms), and a p95 over 20 calls is the
    # second-slowest call, which one stalled tick sets. A fault users feel is slower than that.
    latency_factor: float = Field(default=2.0, gt=1)
    latency_min_ms: int = Field(default=250, ge=0)
    latency_min_calls: int = Field(default=40, ge=1)

    # new_cluster: a failure fingerprint absent from the baseline, on a tool that had at least
    # `min_calls` calls there (a tool that used to work), seen at least this often by at least
    # this many personas recently (a rare ordinary mistake showing up late is not a regression).
    new_cluster_min_count: int = Field(default=5, ge=1)
    new_cluster_min_personas: int = Field(default=3, ge=1)
    # new_observation: these kinds, on a module that was used in the baseline without them,
    # reported by at least this many personas. A product fault shows to everyone who uses the
    # module; a clean 14-day simulation of the catalog had one hourly persona report
    # `unexpected_item` on four modules (its own old items, forgotten), and nobody else.
    observation_kinds: list[str] = Field(default=list(SEVERE_OBSERVATION_KINDS))
    new_observation_min_personas: int = Field(default=2, ge=1)
