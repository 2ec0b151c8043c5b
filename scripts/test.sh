#!/usr/bin/env bash
# Everything CI checks, in order: formatting, lints, the test suite (unit,
# integration, and the differential tests against a real redis-server), then
# a smoke run of redis-benchmark against a release build of kevy-server.
#
# Needs redis-server, redis-cli and redis-benchmark (Debian: redis-server and
# redis-tools) and Python's prometheus_client (python3-prometheus-client);
# installs them with apt when run as root.
#
# Env: SMOKE_N (requests per benchmark test, default 20000),
#      SKIP_SMOKE=1 to stop after the test suite,
#      PROPTEST_RNG_SEED (fixed on CI unless set; see "cargo test" below).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\n==> %s\n' "$*"; }

# --- tools -----------------------------------------------------------------

missing=()
for tool in redis-server redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing redis-server redis-tools (missing: ${missing[*]})"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q redis-server redis-tools
        # apt may start a redis-server service on 6379. Tests use their own
        # free ports, but a stray server only costs memory and CPU.
        service redis-server stop >/dev/null 2>&1 || true
    else
        echo "missing: ${missing[*]}" >&2
        echo "install them with: sudo apt-get install -y redis-server redis-tools" >&2
        exit 1
    fi
fi

# The metrics test parses the Prometheus page with Python's prometheus_client.
if ! python3 -c 'import prometheus_client' >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing python3-prometheus-client"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q python3-prometheus-client ||
            { apt-get update -q && apt-get install -y -q python3-prometheus-client; }
    fi
    if ! python3 -c 'import prometheus_client' >/dev/null 2>&1 &&
        ! /usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1; then
        python3 -m pip install -q prometheus_client ||
            { echo "install prometheus_client: pip install prometheus_client" >&2; exit 1; }
    fi
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
        rustup component add rustfmt clippy
    else
        echo "cargo fmt and cargo clippy are needed (rustup component add rustfmt clippy)" >&2
        exit 1
    fi
fi

# --- checks ----------------------------------------------------------------

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo test"
# Property tests draw new cases on every run, which is how they find bugs
# here; on CI (CI set) they draw the same ones each time, so a run checks
# the change and not the draw. Failures found locally are kept in the
# crates' proptest-regressions files, which every run replays first.
if [[ -n "${CI:-}" ]]; then
    export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261205}"
fi
cargo test --workspace

if [[ ${SKIP_SMOKE:-0} == 1 ]]; then
    log "done (smoke benchmark skipped)"
    exit 0
fi

# --- smoke benchmark ---------------------------------------------------------
# Not a measurement (scripts/bench.sh is): this only checks that every
# redis-benchmark test runs to the end without an error against kevy.

log "cargo build --release -p kevy-server"
cargo build --release -p kevy-server
KEVY="$ROOT/target/release/kevy-server"

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
on_exit() { if [[ -n ${WORK:-} ]]; then rm -rf "$WORK"; fi; }
WORK=$(mktemp -d)

# start_kevy CORES: starts kevy on a free port, sets SERVER_PID and PORT.
start_kevy() {
    PORT=$(pick_port)
    nosave_args "$KEVY" "$WORK"
    "$KEVY" --port "$PORT" --bind 127.0.0.1 --cores "$1" "${NOSAVE[@]}" >"$WORK/kevy.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 200); do
        if [[ $(redis-cli -p "$PORT" PING 2>/dev/null) == PONG ]]; then
            return
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "kevy-server --cores $1 exited during startup:" >&2
            cat "$WORK/kevy.log" >&2
            exit 1
        fi
        sleep 0.05
    done
    echo "kevy-server --cores $1 did not answer PING within 10 s" >&2
    cat "$WORK/kevy.log" >&2
    exit 1
}


# Every test of redis-benchmark 7.0's default run, then XADD (which that
# version's suite lacks) as a custom command.
SMOKE_TESTS="ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange,mset"
SMOKE_N=${SMOKE_N:-20000}
for cores in 1 2; do
    log "redis-benchmark smoke run against kevy-server --cores $cores"
    start_kevy "$cores"
    out="$WORK/bench-$cores.txt"
    status=0
    # redis-benchmark exits non-zero on the first error reply; timeout
    # catches a server that stops replying.
    timeout 300 redis-benchmark -p "$PORT" -q -t "$SMOKE_TESTS" \
        -n "$SMOKE_N" -c 50 -P 16 -r 100000 >"$out" 2>&1 || status=$?
    # -q redraws progress with \r; keep the lines that matter. (Captured in
    # variables: `producer | grep -q` under pipefail can fail on SIGPIPE.)
    text=$(tr '\r' '\n' <"$out")
    results=$(grep 'requests per second' <<<"$text" || true)
    errors=$(grep -E 'Error|ERR' <<<"$text" || true)
    echo "$results"
    if ((status != 0)) || [[ -n $errors ]]; then
        echo "redis-benchmark failed (exit $status) against --cores $cores:" >&2
        echo "$errors" >&2
        tail -n 20 <<<"$text" >&2
        exit 1
    fi
    for t in PING_INLINE PING_MBULK SET GET INCR LPUSH RPUSH LPOP RPOP SADD HSET \
        SPOP ZADD ZPOPMIN 'LRANGE_100 (first 100 elements)' \
        'LRANGE_300 (first 300 elements)' 'LRANGE_500 (first 500 elements)' \
        'LRANGE_600 (first 600 elements)' 'MSET (10 keys)'; do
        if ! grep -qF "$t: " <<<"$results"; then
            echo "redis-benchmark printed no result for $t against --cores $cores" >&2
            exit 1
        fi
    done
    status=0
    timeout 300 redis-benchmark -p "$PORT" -q -n "$SMOKE_N" -c 50 -P 16 \
        XADD smoke:stream '*' field value >"$out" 2>&1 || status=$?
    text=$(tr '\r' '\n' <"$out")
    result=$(grep -i '^xadd.*requests per second' <<<"$text" || true)
    echo "$result"
    if ((status != 0)) || [[ -z $result ]] || grep -qE 'Error|ERR' <<<"$text"; then
        echo "redis-benchmark XADD failed (exit $status) against --cores $cores:" >&2
        tail -n 20 <<<"$text" >&2
        exit 1
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "kevy-server --cores $cores died during the benchmark:" >&2
        cat "$WORK/kevy.log" >&2
        exit 1
    fi
    stop_server
done

log "all checks passed"
