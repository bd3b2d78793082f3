"""Settings, read from the environment and an optional `.env` file.

Names follow DESIGN.md §3. Where the original system had a name (`PERSONA_SEED_SECRET`,
`TICK_INTERVAL_MS`, …) we keep it without the `MANA_` prefix so existing deployments carry over.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SERVICE_KEY = "mana-dev-service-key"
DEV_DASHBOARD_SECRET = "mana-dev-dashboard-secret"
DEFAULT_SQLITE_PATH = Path(".mana") / "mana.db"


class ProductionConfigError(RuntimeError):
    """A development default is in use while MANA_ENV=production. The message names the variable."""


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MANA_", env_file=".env", extra="ignore", populate_by_name=True
    )

    env: Literal["development", "production"] = "development"
    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    # SQL echo is for debugging only; never on by default (it would print password hashes).
    database_echo: bool = False
    # How long a connect to an unreachable database, or a wait for a free pooled connection,
    # may take before the request is answered 503 `database_unavailable`.
    database_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    database_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    # Larger request bodies are refused with 413 before they are read (auth service).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Shared state of the auth processes (sign-in rate limits): Redis when set, else the
    # database. e.g. redis://127.0.0.1:6379/0
    redis_url: str | None = None
    # Prefix of the rate-limit counters' keys: deployments sharing one Redis keep apart.
    rate_limit_key_prefix: str = Field(default="mana", min_length=1, max_length=40)
    # Peers (CIDRs) whose X-Forwarded-For is believed; everyone else is their socket address.
    trusted_proxies: list[str] = []

    # --- auth service ---
    auth_url: str = "http://localhost:3001"
    jwt_issuer: str = "mana-auth"
    jwt_audience: str = "mana"
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    # How long a rotated-out signing key keeps verifying (it stays in the JWKS meanwhile).
    key_rotation_grace_seconds: int = Field(default=24 * 3600, ge=0)
    # How often a running server re-reads the signing keys (a rotation reaches it within this).
    key_refresh_seconds: float = Field(default=10.0, ge=0)
    # Brute-force limit: sign-in attempts per (client IP, email) within the window.
    login_rate_limit: int = Field(default=10, ge=1)
    # Per client IP, all attempts: generous, because a runner logs in many personas from one IP.
    login_rate_limit_per_client: int = Field(default=600, ge=1)
    login_rate_window_seconds: int = Field(default=60, ge=1)
    service_key: SecretStr = Field(
        default=SecretStr(DEV_SERVICE_KEY), validation_alias=_env("MANA_SERVICE_KEY")
    )
    admin_jwt: str | None = Field(default=None, validation_alias=_env("MANA_ADMIN_JWT"))
    # How long a confirmed admin is trusted before their row is read again (0: every request).
    # A demoted or deleted admin loses access within this (`mana.auth.admin_cache`).
    admin_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    persona_email_domain: str = "mana.test"

    # --- MCP tool server ---
    mcp_url: str = "http://localhost:3069/mcp"
    # DNS-rebinding protection: Host and Origin values the MCP server accepts.
    mcp_allowed_hosts: list[str] = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    mcp_allowed_origins: list[str] = ["http://127.0.0.1:*", "http://localhost:*"]
    # A session nobody has used for this long is closed (its id then answers 404). It must
    # outlast the longest pause a brain takes between two tool calls of one tick.
    mcp_session_idle_timeout_seconds: float = Field(default=1800.0, gt=0)
    mcp_max_sessions: int = Field(default=10_000, ge=1)
    # JWKS cache: refetch at most this often on an unknown kid; refresh the set at this age.
    mcp_jwks_min_refetch_seconds: float = Field(default=5.0, ge=0)
    mcp_jwks_max_age_seconds: float = Field(default=300.0, gt=0)
    # How long a confirmed space membership is trusted before it is read again (0: never
    # cached). Leaving a space takes effect within this time.
    mcp_membership_cache_seconds: float = Field(default=5.0, ge=0)
    # Largest request body the MCP endpoint reads; a bigger one is refused with 413 before it
    # is read (Content-Length) or as soon as the stream passes the limit (chunked).
    mcp_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Development-only fault injection (`mana.mcp.faults`): path to a JSON rules file; empty is
    # off. Refused when MANA_ENV=production.
    faults: str = ""
    # How often a running MCP server looks at the rules file for changes.
    faults_check_seconds: float = Field(default=1.0, ge=0)

    # --- personas / runner (names from the original system, no MANA_ prefix) ---
    persona_seed_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("PERSONA_SEED_SECRET")
    )
    tick_interval_ms: int = Field(default=60_000, ge=100, validation_alias=_env("TICK_INTERVAL_MS"))
    persona_concurrency: int = Field(default=2, ge=1, validation_alias=_env("PERSONA_CONCURRENCY"))
    runner_paused: bool = Field(default=False, validation_alias=_env("RUNNER_PAUSED"))
    tick_timeout_seconds: float = Field(default=600.0, gt=0)
    # The runner service's id (MANA_RUNNER_ID). Unset: host name + a hash of the state folder,
    # stable across restarts, so a restarted runner takes its own leases back at once. Two
    # runners on one host and folder need distinct ids.
    runner_id: str | None = Field(default=None, min_length=1, max_length=120)
    # A claim's lease. A live tick's heartbeat renews it every third of this; a dead runner's
    # personas are free again after it (and tick on the next pass of any runner).
    runner_lease_seconds: int = Field(default=60, ge=10, le=3600)
    # The auth service closes ticks whose lease ran out (`abandoned`) this often, so a tick of a
    # runner that died shows as ended even when no runner claims again. 0: only claims do it.
    stale_tick_sweep_seconds: float = Field(default=60.0, ge=0)
    # Tick records that had not landed when the runner stopped; sent again on the next start.
    runner_spool_dir: Path = Path(".mana") / "spool"
    # A tick posts its audit rows as it goes, every this many calls or seconds (a runner killed
    # mid-tick loses at most the last batch).
    runner_action_batch_calls: int = Field(default=20, ge=1, le=500)
    runner_action_batch_seconds: float = Field(default=5.0, gt=0)
    # Circuit breaker per service: the longest pause between probing ticks during an outage.
    runner_breaker_max_seconds: float = Field(default=60.0, ge=1)
    brain: str = "scripted"
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("ANTHROPIC_API_KEY")
    )

    # --- LLM brains (`anthropic`, `openai`): models, endpoints, limits, prices, budgets ---
    anthropic_model: str = "claude-sonnet-4-6"
    # A proxy or a local test server; unset means the SDK's default (api.anthropic.com).
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=_env("ANTHROPIC_BASE_URL")
    )
    # USD per million tokens; used for the recorded cost and the budgets.
    anthropic_input_usd_per_mtok: float = Field(default=3.0, ge=0)
    anthropic_output_usd_per_mtok: float = Field(default=15.0, ge=0)
    openai_api_key: SecretStr | None = Field(default=None, validation_alias=_env("OPENAI_API_KEY"))
    # Any OpenAI-compatible chat-completions endpoint, e.g. http://127.0.0.1:8080/v1 for a local
    # model server (which needs no API key).
    openai_base_url: str | None = Field(default=None, validation_alias=_env("OPENAI_BASE_URL"))
    openai_model: str = "gpt-5-mini"
    openai_input_usd_per_mtok: float = Field(default=0.25, ge=0)
    openai_output_usd_per_mtok: float = Field(default=2.0, ge=0)
    # Newer OpenAI models refuse `max_tokens`; some older local servers only know `max_tokens`.
    openai_max_tokens_param: Literal["max_completion_tokens", "max_tokens"] = (
        "max_completion_tokens"
    )
    llm_max_turns: int = Field(default=15, ge=1, le=100)
    llm_max_output_tokens: int = Field(default=2048, ge=16)
    llm_timeout_seconds: float = Field(default=120.0, gt=0)
    # Attempts per model call (the first one included) on 429 / 5xx / connection errors.
    llm_max_attempts: int = Field(default=3, ge=1, le=10)
    # No budget (None) means no limit; a tick or day that would exceed it stops before the call.
    tick_budget_usd: float | None = Field(default=0.5, ge=0)
    daily_budget_usd: float | None = Field(default=20.0, ge=0)
    # The daily budget holds across runner processes (a ledger in the auth service's
    # database); false: each process counts its own day.
    shared_llm_budget: bool = True
    # The slice of the daily budget a runner holds at a time (default: a twentieth of it).
    llm_budget_slice_usd: float | None = Field(default=None, gt=0)
    # --- end LLM brains ---

    # --- dashboard (`mana serve dashboard`) ---
    # Encrypts and signs the session cookie (it carries the admin's tokens). Required in
    # production; changing it signs everybody out.
    dashboard_secret: SecretStr = Field(
        default=SecretStr(DEV_DASHBOARD_SECRET), validation_alias=_env("MANA_DASHBOARD_SECRET")
    )
    # A session ends this long after sign-in, however active it is (tokens refresh meanwhile).
    dashboard_session_seconds: int = Field(default=12 * 3600, ge=60)
    # Per request from the dashboard to the auth service's admin API.
    dashboard_api_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR") from None
        return value

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def require_production_secrets(self) -> None:
        """Refuse development fallbacks in production; the error names the variable to set."""
        if not self.is_production:
            return
        self.require_no_faults_in_production()
        key = self.service_key.get_secret_value()
        if not key or key == DEV_SERVICE_KEY:
            raise ProductionConfigError(
                "MANA_SERVICE_KEY must be set to a non-development value when MANA_ENV=production"
            )

    def require_dashboard_secret(self) -> None:
        """The dashboard's cookie key: refused in production while it is the development one."""
        if not self.is_production:
            return
        secret = self.dashboard_secret.get_secret_value()
        if len(secret) < 16 or secret == DEV_DASHBOARD_SECRET:
            raise ProductionConfigError(
                "MANA_DASHBOARD_SECRET must be set to a long random value (16+ characters) "
                "when MANA_ENV=production"
            )

    def require_no_faults_in_production(self) -> None:
        """Fault injection breaks the product on purpose: never in production."""
        if self.is_production and self.faults.strip():
            raise ProductionConfigError(
                "MANA_FAULTS must be empty when MANA_ENV=production "
                "(fault injection is for development only)"
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
