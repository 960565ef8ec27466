"""Runtime configuration: environment variables prefixed `ACME_` (or a `.env` file).

Nothing here is needed for the embedded default (embedded NATS + one SQLite file per data
store under `data_dir`); external servers are chosen by URL only, so no code differs between
brokers or databases.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from acme.runtime.errors import ConfigurationError

__all__ = ["BrokerKind", "Settings", "broker_kind"]

BrokerKind = Literal["nats", "rabbit", "redis", "kafka"]

_SCHEMES: dict[str, BrokerKind] = {
    "nats": "nats",
    "tls": "nats",
    "amqp": "rabbit",
    "amqps": "rabbit",
    "redis": "redis",
    "rediss": "redis",
    "kafka": "kafka",
}

# File the supervisor writes when it starts the embedded NATS server, so that commands run
# later (e.g. `acme dlq replay`) find the broker without being told its random port.
EMBEDDED_URL_FILE = "embedded-nats.url"

RUNTIME_STORE = "runtime"


def broker_kind(url: str) -> BrokerKind:
    """The transport adapter a broker URL selects, e.g. `amqp://...` -> "rabbit"."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    try:
        return _SCHEMES[scheme]
    except KeyError:
        known = ", ".join(sorted(_SCHEMES))
        raise ConfigurationError(
            f"ACME_BROKER_URL {url!r}: unknown scheme {scheme!r} (expected one of {known})"
        ) from None


class Settings(BaseSettings):
    """Every knob of the runtime; the defaults run everything on one machine, nothing installed."""

    model_config = SettingsConfigDict(
        env_prefix="ACME_", env_file=".env", extra="ignore", validate_default=True
    )

    data_dir: Path = Field(
        default=Path(".acme"),
        description="SQLite files, JetStream store, JWT dev secret, supervisor state.",
    )
    broker_url: str | None = Field(
        default=None,
        description="nats://, amqp://, redis:// or kafka:// URL; unset = the embedded NATS.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL template with {store}, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/acme_{store}; unset = SQLite files.",
    )
    database_pool_size: int = Field(
        default=5,
        ge=1,
        description="Connections each process keeps per store on a database server "
        "(every process of `acme up` has its own pools: 15 processes with the defaults can "
        "hold more than PostgreSQL's default 100 max_connections).",
    )
    database_max_overflow: int = Field(
        default=10, ge=0, description="Connections beyond the pool size while busy."
    )
    catalog_module: str = Field(
        default="generated.catalog", description="Module holding the generated registry."
    )
    implementations: str = Field(
        default="acme.systems,acme.simulators",
        description="Comma-separated packages searched, in order, for <host>/__init__.py:create.",
    )

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=0, ge=0, le=65535, description="0 = a free port.")
    port: int = Field(default=8080, ge=0, le=65535, description="Gateway port of `acme up`.")

    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 key; unset = a dev secret generated in data_dir."
    )
    jwt_issuer: str = "acme-identity"
    jwt_ttl_seconds: int = Field(default=3600, gt=0)

    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_attempts: int = Field(default=5, ge=1, description="Handler attempts before dead letter.")
    retry_base_delay: float = Field(default=0.2, ge=0)
    retry_max_delay: float = Field(default=5.0, ge=0)
    consumer_concurrency: int = Field(
        default=8, ge=1, description="In-flight messages per subscription."
    )
    ack_wait_seconds: float = Field(
        default=60.0, gt=0, description="Unacked messages are redelivered after this."
    )
    request_timeout: float = Field(default=10.0, gt=0)
    relay_poll_interval: float = Field(default=1.0, gt=0)
    relay_batch_size: int = Field(default=200, ge=1)
    relay_retry_max_delay: float = Field(default=30.0, gt=0)
    outbox_retention_seconds: float = Field(default=24 * 3600, ge=0)
    inbox_retention_seconds: float = Field(default=7 * 24 * 3600, ge=0)
    stream_max_age_seconds: float = Field(default=7 * 24 * 3600, gt=0)
    shutdown_timeout: float = Field(default=15.0, gt=0)
    sqlite_inline: bool = Field(
        default=True,
        description="Run SQLite calls on the event loop thread unless they would wait for a "
        "lock (those go to aiosqlite's worker thread, as every call does when false); about "
        "a third less CPU per message. See acme.runtime.db._HybridConnection.",
    )
    group_commit: int = Field(
        default=32,
        ge=1,
        description="Most write transactions of a process on one store committed together "
        "while others wait for it (1: each commits on its own). See acme.runtime.group_commit.",
    )
    log_level: str = "INFO"
    nats_server_bin: Path | None = None

    # Kafka consumer groups (kafka:// only). A stock Kafka broker accepts session timeouts
    # between its group.min.session.timeout.ms (6 s) and group.max.session.timeout.ms (30 min).
    # Tansu holds the first JoinGroup of a group that is forming for about half the session
    # timeout (at least 1 s) to let further members in, so there the timeout is also the
    # price of every process start; it takes any value.
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        description="A consumer not heard of for this long leaves its group; its uncommitted "
        "messages go to another member (redelivery after a crash).",
    )
    kafka_heartbeat_interval_ms: int = Field(
        default=3_000,
        ge=100,
        description="Heartbeats to the group coordinator; below a third of the session timeout.",
    )
    kafka_rebalance_timeout_ms: int | None = Field(
        default=None,
        ge=1_000,
        description="How long the coordinator waits for members to rejoin during a rebalance; "
        "unset = the session timeout.",
    )
    kafka_max_poll_interval_ms: int = Field(
        default=300_000,
        ge=1_000,
        description="A consumer whose handler keeps it from fetching for longer leaves its "
        "group (the message is redelivered); above the slowest handler with its retries.",
    )

    @field_validator("database_url")
    @classmethod
    def _template_has_store(cls, value: str | None) -> str | None:
        if value is not None and "{store}" not in value:
            raise ValueError("ACME_DATABASE_URL must contain '{store}' (a database per store)")
        return value

    @field_validator("broker_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value:
            broker_kind(value)
            return value
        return None

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _kafka_heartbeats_within_session(self) -> Settings:
        if self.kafka_heartbeat_interval_ms >= self.kafka_session_timeout_ms:
            raise ValueError(
                "ACME_KAFKA_HEARTBEAT_INTERVAL_MS must be below ACME_KAFKA_SESSION_TIMEOUT_MS "
                f"({self.kafka_heartbeat_interval_ms} >= {self.kafka_session_timeout_ms})"
            )
        return self

    @property
    def implementation_packages(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.implementations.split(",") if p.strip())

    def store_url(self, store: str) -> str:
        """SQLAlchemy async URL of one data store."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", store):
            raise ConfigurationError(f"data store id {store!r} is not a safe file/database name")
        if self.database_url is None:
            path = (self.data_dir / f"{store}.sqlite3").resolve()
            return f"sqlite+aiosqlite:///{path}"
        # Server databases get snake_case names: dashes need quoting in most SQL dialects.
        return self.database_url.replace("{store}", store.replace("-", "_").replace(".", "_"))

    def resolved_broker_url(self) -> str:
        """ACME_BROKER_URL, else the URL of the embedded NATS that `acme up` started."""
        if self.broker_url:
            return self.broker_url
        url_file = self.data_dir / EMBEDDED_URL_FILE
        try:
            url = url_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigurationError(
                "no broker: set ACME_BROKER_URL, or start the platform with `acme up` "
                f"(it writes the embedded NATS URL to {url_file})"
            ) from None
        if not url:
            raise ConfigurationError(f"{url_file} is empty; restart `acme up`")
        return url
