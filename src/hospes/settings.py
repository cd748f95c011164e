"""Typed settings, read from ``HOSPES_*`` environment variables or an optional ``.env``-style file.

Built by the entry points (CLI, ASGI factory) and passed down; never a module-level global, so tests can
run several apps with different settings in one process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOSPES_", env_file=None, extra="ignore")

    data_dir: Path = Field(Path("data"), description="Folder for the embedded SQLite database and local state.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL. Empty means SQLite at {data_dir}/hospes.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base of every absolute link the server writes (token issuer, nextLink, deltaLink).",
    )
    access_token_lifetime_seconds: int = Field(3600, ge=60, le=86400, description="Lifetime of issued tokens.")
    page_size_default: int = Field(100, ge=1, le=999, description="Default page size of Graph collections.")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest accepted request body.")
    deleted_items_retention_days: int = Field(30, ge=1, description="Soft-deleted objects are purged after this.")
    change_log_retention_days: int = Field(30, ge=1, description="Change-log rows older than this are pruned.")
    delta_page_size: int = Field(
        200,
        ge=1,
        le=999,
        description="Objects per page of /users/delta and /groups/delta (a client may ask for fewer with "
        "'Prefer: odata.maxpagesize=n'). A log window holds 50 times this many change rows.",
    )
    housekeeping_interval_seconds: float = Field(300.0, gt=0, description="Interval of purge/prune jobs.")

    # The HTTP server of 'hospes serve' (uvicorn; hospes.asgi.protocols.HttpProtocol).
    http_header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A connection must send a complete request line and headers within this time of opening (or of "
        "its first byte after a response); a slower one is closed.",
    )
    http_keep_alive_seconds: int = Field(
        5, ge=1, le=300, description="An idle keep-alive connection is closed after this (uvicorn timeout_keep_alive)."
    )
    http_max_header_bytes: int = Field(
        32 * 1024,
        ge=4096,
        le=1024 * 1024,
        description="Largest request line and headers; a connection sending more is closed "
        "(uvicorn h11_max_incomplete_event_size, applied to either HTTP parser).",
    )

    # Operations: logs, metrics, readiness, proxies, pools and replicas (docs/deploy.md).
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines of 'hospes serve' and 'hospes worker': text, or one JSON object a line."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Lowest level logged.")
    access_log: bool = Field(True, description="One log line per HTTP request (logger hospes.access, level INFO).")
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated addresses or networks of the proxies (load balancers) whose Forwarded, "
        "X-Forwarded-For, -Proto and -Host headers, X-Request-Id and traceparent are believed (* = any). From any "
        "other peer they are ignored: the socket's address is the client's.",
    )
    metrics_token: str = Field(
        "",
        description="Bearer token that /metrics requires. Empty: /metrics answers only direct loopback requests "
        "(no proxy in between).",
    )
    drain_seconds: float = Field(
        0.0,
        ge=0,
        le=300,
        description="On SIGTERM, /readyz answers 503 this long before the server stops accepting connections, so "
        "the load balancer takes the node out first; requests in flight then finish.",
    )
    graceful_shutdown_seconds: int = Field(
        30, ge=1, le=3600, description="Longest wait for requests in flight once the server stops accepting."
    )
    db_pool_size: int = Field(20, ge=1, le=1000, description="PostgreSQL connections kept open per process.")
    db_max_overflow: int = Field(20, ge=0, le=1000, description="Further PostgreSQL connections a busy process opens.")
    db_prepared_statements: bool = Field(
        True,
        description="Let psycopg prepare statements it runs often. Off behind PgBouncer in transaction mode "
        "(before 1.21 it cannot keep prepared statements).",
    )
    database_replica_urls: str = Field(
        "",
        description="Comma-separated SQLAlchemy URLs of PostgreSQL streaming replicas. Reads that accept staleness "
        "(Graph requests with 'ConsistencyLevel: eventual', the portal's log pages) go there when within "
        "replica_max_lag_seconds; everything else reads the primary.",
    )
    replica_max_lag_seconds: float = Field(
        5.0, gt=0, le=3600, description="A replica further behind than this is not read (and /readyz says so)."
    )

    # B2B invitations and their email (docs/invitations.md).
    invitation_link_lifetime_days: int = Field(
        30, ge=1, le=365, description="Lifetime of an inviteRedeemUrl ticket (single use; a re-invite rotates it)."
    )
    smtp_host: str = Field("", description="SMTP relay for outgoing email. Empty: email waits in the outbox.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port (587 for starttls, 465 for tls, usually).")
    smtp_security: Literal["none", "starttls", "tls"] = Field("none", description="Transport security to the relay.")
    smtp_username: str = Field("", description="SMTP AUTH user; empty means no authentication.")
    smtp_password: str = Field("", description="SMTP AUTH password.")
    smtp_timeout_seconds: float = Field(30.0, gt=0, description="Socket timeout of one SMTP conversation.")
    mail_from: str = Field("invites@hospes.invalid", description="Platform sender address (From and envelope).")
    mail_platform_name: str = Field("Hospes", description="Platform name shown in From: '<tenant> via <name>'.")
    mail_worker: bool = Field(True, description="Run the outbox delivery worker inside 'hospes serve'.")
    mail_poll_interval_seconds: float = Field(2.0, gt=0, description="How often the worker looks for due email.")
    mail_retry_base_seconds: float = Field(30.0, gt=0, description="First retry delay; doubles on each failure.")
    mail_retry_max_seconds: float = Field(3600.0, gt=0, description="Ceiling of the retry delay.")
    mail_max_attempts: int = Field(10, ge=1, description="After this many failed attempts a message is 'failed'.")
    mail_lease_seconds: float = Field(
        30.0,
        ge=3,
        description="Lease of a claimed message, renewed every third of it while its worker runs: the email of a "
        "crashed worker is retried this long after the crash.",
    )
    mail_batch_size: int = Field(
        10, ge=1, le=1000, description="Messages one worker claims at a time (each with its own renewed lease)."
    )

    # Interactive sign-in, browser sessions, MFA and lockout (docs/web.md).
    secret_key: str = Field(
        "",
        description="Key for secrets at rest (TOTP secrets, provisioning tokens): 64 hex characters. Empty: a key "
        "file {data_dir}/secret.key is created (mode 0600). Several hosts of one deployment must share it.",
    )
    session_idle_minutes: int = Field(30, ge=1, le=1440, description="A browser session ends after this inactivity.")
    session_absolute_hours: int = Field(12, ge=1, le=720, description="A browser session ends this long after sign-in.")
    session_cookie_name: str = Field(
        "",
        description="Empty: '__Host-hospes_session' when public_url is https, 'hospes_session' on plain http "
        "(browsers refuse __Host- cookies without Secure).",
    )
    lockout_account_threshold: int = Field(5, ge=1, description="Failed passwords or codes before an account locks.")
    lockout_address_threshold: int = Field(20, ge=1, description="Failures from one client address before it locks.")
    lockout_base_seconds: int = Field(30, ge=1, description="First lockout; doubles with each further failure.")
    lockout_max_seconds: int = Field(900, ge=1, description="Longest lockout.")

    # Redemption, email one-time passcodes, unsubscribe portal (docs/redemption.md).
    email_otp_lifetime_minutes: int = Field(
        10, ge=1, le=30, description="Email one-time passcodes expire after this (ASVS caps it at 10 minutes)."
    )
    email_otp_sends_per_hour: int = Field(
        5, ge=1, le=100, description="Most passcodes sent to one address (and to one account) per hour."
    )

    # Provisioning engine (docs/provisioning.md).
    outbound_allow: str = Field(
        "",
        description="Hosts and CIDR ranges that outbound SCIM URLs may reach although they are private, loopback or "
        "link-local (comma-separated, e.g. 'scim.intranet,10.0.0.0/8,127.0.0.1'). Empty: public addresses only.",
    )
    provisioning_runner: bool = Field(True, description="Run the provisioning runner inside 'hospes serve'.")
    bulk_worker: bool = Field(
        True, description="Run the portal's bulk-invite worker inside 'hospes serve' ('hospes worker' always does)."
    )
    provisioning_poll_seconds: float = Field(
        0.25, gt=0, le=60, description="How often the runner looks at the change log for new work."
    )
    provisioning_claim_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="How often a runner claims provisioning jobs nobody runs (one statement; at most eight polls).",
    )
    provisioning_lease_seconds: float = Field(
        60.0,
        ge=3,
        le=3600,
        description="How long a runner's claim on a provisioning job lasts without renewal (renewed every third of it "
        "while the job runs): how soon another worker takes over the job of a worker that died.",
    )
    provisioning_jobs_per_worker: int = Field(
        50, ge=1, le=1000, description="Provisioning jobs one runner process works on at most at a time."
    )
    dynamic_groups: bool = Field(
        True,
        description="Process dynamic groups' membership rules inside 'hospes serve' ('hospes worker' always does).",
    )
    dynamic_groups_poll_seconds: float = Field(
        0.25,
        gt=0,
        le=60,
        description="How often dynamic-group processing looks at the change log for changes other processes "
        "committed (a commit of its own process wakes it at once).",
    )
    timers_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often the timer worker looks for due timed actions (expiries, scheduled deletions).",
    )
    timers_lease_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="How long a timer worker holds the timers it claimed before another worker may take them over "
        "(it runs a batch well within this; a worker that died loses them after it).",
    )
    provisioning_reconcile_seconds: float = Field(
        3600.0, gt=0, description="Interval of the reconciliation pass (re-reads scope and group memberships)."
    )
    provisioning_drift_seconds: float = Field(
        2.0,
        gt=0,
        description="How often a cross-tenant job reads its target's change feed to repair what the target's "
        "administrators changed in synchronized users.",
    )
    provisioning_concurrency: int = Field(8, ge=1, le=64, description="Concurrent requests per target.")
    provisioning_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one request to a target.")
    provisioning_escrow_base_seconds: float = Field(
        60.0, gt=0, description="First retry of a failed object; doubles per failure up to a day."
    )
    provisioning_quarantine_retry_seconds: float = Field(
        300.0, gt=0, description="First retry of a quarantined job; doubles up to a day."
    )
    provisioning_log_retention_days: int = Field(30, ge=1, description="Provisioning log rows are kept this long.")

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("mail_from", "mail_platform_name")
    @classmethod
    def _no_header_breaks(cls, value: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("control characters are not allowed in mail header settings")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hospes.db').as_posix()}"


def load_settings(env_file: str | None = None) -> Settings:
    """Environment variables win over the optional file (``KEY=value`` lines, same ``HOSPES_`` names)."""
    return Settings(_env_file=env_file) if env_file else Settings()
