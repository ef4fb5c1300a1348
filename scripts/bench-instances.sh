#!/usr/bin/env bash
# Several livenames instances on one port (SO_REUSEPORT) serving one Redis Stream, held by
# the project's load tool from several processes (a process may hold at most 20,000 open
# files here). Prints one JSON summary: subscribers connected, fan-out completeness, latency
# and each instance's RSS. Needs `make build`, `cargo build --release -p bench` and
# redis-server. Loopback only; everything started here is stopped by PID at the end.
#
#   SUBSCRIBERS=100000 INSTANCES=6 LOADERS=6 DURATION=30 scripts/bench-instances.sh
#
# LOAD_FLAGS adds flags to every loader, e.g. LOAD_FLAGS=--reuse-connection (each subscriber
# sends GET /healthz, then GET /sse on the same connection, as browsers and proxies do).
set -euo pipefail
cd "$(dirname "$0")/.."

SUBSCRIBERS=${SUBSCRIBERS:-100000}
INSTANCES=${INSTANCES:-6}
LOADERS=${LOADERS:-6}
DURATION=${DURATION:-30}
INTERVAL_MS=${INTERVAL_MS:-3000}
PORT=${PORT:-3900}
LOAD_FLAGS=${LOAD_FLAGS:-}
REDIS_PORT=$((PORT + 1))
SERVER=target/release/server
LOAD=target/release/sse-load

for binary in "$SERVER" "$LOAD"; do
    [ -x "$binary" ] || { echo "no $binary: run make build and cargo build --release -p bench" >&2; exit 1; }
done
command -v redis-server >/dev/null || { echo "no redis-server: run make test-tools" >&2; exit 1; }

work=$(mktemp -d)
started=()
stop_all() {
    [ ${#started[@]} -eq 0 ] || kill "${started[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap stop_all EXIT

wait_for() { # a command that succeeds once the thing is up, within 10 s
    for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "not up in 10 s: $*" >&2
    return 1
}

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    >"$work/redis.log" 2>&1 &
started+=($!)
wait_for redis-cli -p "$REDIS_PORT" ping

servers=()
for i in $(seq "$INSTANCES"); do
    "$SERVER" --addr "127.0.0.1:$PORT" --reuse-port --redis-url "redis://127.0.0.1:$REDIS_PORT/" \
        --interval-ms "$INTERVAL_MS" --max-connections 19500 >"$work/server$i.log" 2>&1 &
    started+=($!)
    servers+=($!)
done
wait_for curl -sf "http://127.0.0.1:$PORT/healthz"
sleep 1
rss_kib() { ps -o rss= -p "$(IFS=,; echo "${servers[*]}")" | tr '\n' ' '; }
rss_before=$(rss_kib)

per_loader=$((SUBSCRIBERS / LOADERS))
loaders=()
for j in $(seq "$LOADERS"); do
    "$LOAD" load --url "http://127.0.0.1:$PORT/sse" --subscribers "$per_loader" \
        --duration-secs "$DURATION" --ramp-per-sec 2000 --source-addrs 16 $LOAD_FLAGS \
        >"$work/load$j.json" 2>"$work/load$j.log" &
    started+=($!)
    loaders+=($!)
done
# Every loader ramps at 2,000/s: sample the instances' RSS in the middle of the window.
sleep $((per_loader / 2000 + 2 + DURATION / 2))
rss_during=$(rss_kib)
for pid in "${loaders[@]}"; do wait "$pid"; done

jq -s --arg before "$rss_before" --arg during "$rss_during" --argjson instances "$INSTANCES" \
    --arg load_flags "$LOAD_FLAGS" '{
    load_flags: $load_flags,
    instances: $instances,
    loaders: length,
    subscribers_requested: (map(.subscribers_requested) | add),
    connected: (map(.connected) | add),
    failed: (map(.failed) | add),
    failure_reasons: (map(.reasons | to_entries) | add
        | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries),
    streams_ended: (map(.streams_ended) | add),
    events_in_window_per_loader: map(.fan_out.events),
    events_missed_by_some_subscriber: (map(.fan_out.events - .fan_out.events_received_by_all) | add),
    deliveries: (map(.fan_out.deliveries) | add),
    latency_p99_ms_per_loader: map(.latency_ms.p99),
    latency_max_ms: (map(.latency_ms.max) | max),
    instance_rss_kib_before: ($before | split(" ") | map(select(. != "") | tonumber)),
    instance_rss_kib_during: ($during | split(" ") | map(select(. != "") | tonumber))
}' "$work"/load*.json
