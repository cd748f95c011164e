"""Typed settings, read from ``HOSPES_*`` environment variables or an optional ``.env``-style file.

Built by the entry points (CLI, ASGI factory) and passed down; never a module-level global, so tests can
run several apps with different settings in one process.
"""

from __future__ import annotations

from pathlib import Path

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
    housekeeping_interval_seconds: float = Field(300.0, gt=0, description="Interval of purge/prune jobs.")

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return value.rstrip("/")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hospes.db').as_posix()}"


def load_settings(env_file: str | None = None) -> Settings:
    """Environment variables win over the optional file (``KEY=value`` lines, same ``HOSPES_`` names)."""
    return Settings(_env_file=env_file) if env_file else Settings()
