#!/usr/bin/env bash
# kevy-server against redis-server with redis-benchmark, on this machine, one
# server at a time, alternating (redis, kevy, redis, kevy, ...) so drift in
# the machine's speed hits both alike. Reports the median requests/s of each
# and the ratio kevy/redis; the ratio is the number that counts.
#
# Phase 1: one core each. The server is pinned to CPU 0 and redis-benchmark
#          to CPU 1 (taskset), kevy runs with --cores 1.
# Phase 2: kevy --cores $BENCH_MULTI_CORES against the same redis, nothing
#          pinned (on a small box the servers share CPUs with the load
#          generator; compare ratios, not absolute numbers).
#
# Env (defaults in brackets):
#   BENCH_N            requests per test                    [100000]
#   BENCH_ROUNDS       alternations per server               [3]
#   TESTS              redis-benchmark -t list               [see TESTS below]
#   BENCH_PIPELINES    -P values                             ["16 1"]
#   BENCH_CLIENTS      -c                                    [50]
#   BENCH_KEYSPACE     -r                                    [100000]
#   BENCH_MULTI_CORES  kevy --cores in phase 2, 0 to skip    [2]
#   BENCH_THREADS      redis-benchmark --threads, phase 2    [unset: one thread]
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

N=${BENCH_N:-100000}
ROUNDS=${BENCH_ROUNDS:-3}
# redis-benchmark's default suite minus inline PING and XADD. The lists,
# sets and sorted sets are single keys (mylist, myset, ...), so with
# --cores > 1 each of those tests runs on one shard. Selecting an lrange_*
# test makes redis-benchmark fill mylist with an extra LPUSH run first.
TESTS=${TESTS:-ping_mbulk,get,set,incr,mset,lpush,rpush,lpop,rpop,sadd,spop,hset,zadd,zpopmin,lrange_100,lrange_300,lrange_500,lrange_600}
PIPELINES=${BENCH_PIPELINES:-"16 1"}
CLIENTS=${BENCH_CLIENTS:-50}
KEYSPACE=${BENCH_KEYSPACE:-100000}
MULTI_CORES=${BENCH_MULTI_CORES:-2}
THREADS=${BENCH_THREADS:-}

for tool in redis-server redis-benchmark redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$tool not found; install with: apt-get install -y redis-server redis-tools" >&2
        exit 1
    fi
done

echo "==> cargo build --release -p kevy-server" >&2
cargo build --release -p kevy-server >&2
KEVY="$ROOT/target/release/kevy-server"

OUT="$ROOT/target/bench/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

CAN_PIN=0
if command -v taskset >/dev/null 2>&1 && (($(nproc) >= 2)); then
    CAN_PIN=1
else
    echo "warning: fewer than 2 CPUs or no taskset; phase 1 runs unpinned" >&2
fi

# pin_prefix CPUS: sets PIN to the command prefix that runs something on
# CPUS (empty when pinning is off or CPUS is empty). A prefix rather than a
# function, so that `"${PIN[@]}" server &` leaves the server's own pid in $!.
pin_prefix() {
    PIN=()
    if ((CAN_PIN)) && [[ -n $1 ]]; then PIN=(taskset -c "$1"); fi
}

# start NAME CPUS: starts a fresh server (redis, or kevy:<cores>) on a free
# port; sets SERVER_PID and PORT.
start() {
    local name=$1 cpus=$2
    PORT=$(pick_port)
    pin_prefix "$cpus"
    case $name in
    redis)
        "${PIN[@]}" redis-server --port "$PORT" --bind 127.0.0.1 --save '' \
            --appendonly no --daemonize no --dir "$OUT" --logfile "$OUT/redis.log" &
        ;;
    kevy:*)
        "${PIN[@]}" "$KEVY" --port "$PORT" --bind 127.0.0.1 --cores "${name#kevy:}" \
            >>"$OUT/kevy.log" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 200); do
        if [[ $(redis-cli -p "$PORT" PING 2>/dev/null) == PONG ]]; then
            return
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "$name exited during startup; see $OUT" >&2
            exit 1
        fi
        sleep 0.05
    done
    echo "$name did not answer PING within 10 s" >&2
    exit 1
}


# run_phase PHASE SERVER_CPUS CLIENT_CPUS KEVY_NAME EXTRA_BENCH_ARGS...
# Appends "phase<TAB>server<TAB>pipeline<TAB>test<TAB>rps" lines to $OUT/results.tsv.
run_phase() {
    local phase=$1 scpus=$2 ccpus=$3 kevy=$4
    shift 4
    local round server p csv
    for round in $(seq "$ROUNDS"); do
        for server in redis "$kevy"; do
            start "$server" "$scpus"
            for p in $PIPELINES; do
                csv="$OUT/$phase-$server-P$p-round$round.csv"
                echo "  round $round/$ROUNDS  $server  -P $p" >&2
                pin_prefix "$ccpus"
                if ! "${PIN[@]}" timeout 600 redis-benchmark -p "$PORT" -c "$CLIENTS" \
                    -r "$KEYSPACE" -n "$N" -P "$p" -t "$TESTS" --csv "$@" >"$csv" 2>"$csv.err"; then
                    echo "redis-benchmark failed against $server (-P $p):" >&2
                    cat "$csv.err" "$csv" >&2
                    exit 1
                fi
                # "TEST","rps",... ; the first line is the header. The LPUSH
                # that fills the list for LRANGE is not a result, and names
                # lose their description ("LRANGE_100 (first 100 elements)").
                sed -n 's/^"\([^"]*\)","\([0-9.]*\)".*/\1\t\2/p' "$csv" |
                    grep -v -e '^test' -e 'needed to benchmark' |
                    sed 's/ ([^)]*)\t/\t/' |
                    while IFS=$'\t' read -r test rps; do
                        printf '%s\t%s\t%s\t%s\t%s\n' "$phase" "${server%%:*}" "$p" "$test" "$rps"
                    done >>"$OUT/results.tsv"
            done
            stop_server
        done
    done
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

# table PHASE TITLE
table() {
    local phase=$1 title=$2 p test r k
    echo
    echo "$title"
    printf '%-16s %8s %14s %14s %10s\n' test pipeline "redis rps" "kevy rps" kevy/redis
    for p in $PIPELINES; do
        awk -F'\t' -v ph="$phase" -v p="$p" '$1==ph && $3==p {print $4}' "$OUT/results.tsv" |
            awk '!seen[$0]++' |
            while IFS= read -r test; do
                r=$(awk -F'\t' -v ph="$phase" -v p="$p" -v t="$test" \
                    '$1==ph && $2=="redis" && $3==p && $4==t {print $5}' "$OUT/results.tsv" | median)
                k=$(awk -F'\t' -v ph="$phase" -v p="$p" -v t="$test" \
                    '$1==ph && $2=="kevy" && $3==p && $4==t {print $5}' "$OUT/results.tsv" | median)
                printf '%-16s %8s %14.0f %14.0f %10s\n' "$test" "$p" "$r" "$k" \
                    "$(awk -v r="$r" -v k="$k" 'BEGIN {if (r>0) printf "%.2f", k/r; else print "-"}')"
            done
    done
}

: >"$OUT/results.tsv"
echo "==> phase 1: one core each (server on CPU 0, redis-benchmark on CPU 1)" >&2
run_phase single 0 1 kevy:1
if ((MULTI_CORES > 0)); then
    echo "==> phase 2: kevy --cores $MULTI_CORES, nothing pinned" >&2
    extra=()
    if [[ -n $THREADS ]]; then extra=(--threads "$THREADS"); fi
    run_phase multi "" "" "kevy:$MULTI_CORES" "${extra[@]}"
fi

echo
echo "redis-benchmark -c $CLIENTS -r $KEYSPACE -n $N -t $TESTS; median of $ROUNDS rounds"
echo "$(redis-server --version | head -n1)"
table single "Phase 1: redis-server vs kevy-server --cores 1, pinned"
if ((MULTI_CORES > 0)); then
    table multi "Phase 2: redis-server vs kevy-server --cores $MULTI_CORES, unpinned"
fi
echo
echo "raw results: $OUT"
