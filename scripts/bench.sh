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
# Phases 3 and 4: transactions, which redis-benchmark cannot send: txbench
#          (benches/src/bin/txbench.rs) pipelines MULTI / SET k1 / SET k2 /
#          EXEC blocks and reports transactions/s, with k1 and k2 in one slot
#          (tx_same_shard) or on two different shards of the phase's kevy
#          (tx_two_shards; redis gets the same key names). Phase 3 is pinned
#          with kevy --cores 1 like phase 1 (one shard, so tx_two_shards only
#          means two slots there); phase 4 is kevy --cores
#          $BENCH_MULTI_CORES, unpinned, like phase 2.
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
#   BENCH_TX           transaction phases 3 and 4, 0 to skip [1]
#   BENCH_TX_N         transactions per txbench run          [$BENCH_N]
#   BENCH_TX_THREADS   txbench --threads, phase 4            [1]
#   BENCH_BASE         another kevy-server binary (say, a build of an
#                      earlier commit) run alternately with the other two
#                      in every phase, to compare two builds' ratios in one
#                      run; adds "base" columns                [unset]
#
# `scripts/bench.sh cpu` (or BENCH_MODE=cpu) runs the CPU mode instead: the
# server's CPU time and syscalls per request, and req/s, of kevy --cores 1,
# kevy --cores 2 and redis-server on a set of workloads, plus a mixed
# GET/SET load with latency percentiles; see scripts/bench-cpu.sh.
#
# `scripts/bench.sh aof` measures what the append-only log costs (SET
# req/s and server CPU per request, -P 16 and -P 1, of kevy and redis-server
# with no log, appendfsync everysec and always), and `scripts/bench.sh
# bgsave` a snapshot of 1 M keys under load (p99 and memory growth with
# BGSAVE running against without, and the load time of the dump.rdb); see
# scripts/bench-persist.sh.
#
# `scripts/bench.sh pubsub` measures loads that push to many connections,
# which redis-benchmark cannot make: pub/sub fan-out (one publisher, 50 and
# 500 subscribers of one channel; pubsubbench) and a BLPOP worker pool (50
# workers, one LPUSH producer; blpopbench), reporting messages delivered per
# second and server CPU per message of kevy --cores 1, kevy --cores 2 and
# redis-server, with every message counted; see scripts/bench-pubsub.sh.
#
# `scripts/bench.sh lua` measures EVALSHA of a small script (INCR one key,
# GET another) at -P 16 and -P 1: kevy --cores 1 against redis-server with
# both keys on one shard, and kevy --cores 2 with the keys on two shards;
# see scripts/bench-lua.sh.
#
# `scripts/bench.sh types` measures streams, HyperLogLog, bitmaps and geo
# (XADD, XRANGE of 10, PFADD, PFCOUNT, SETBIT, BITCOUNT of 1 MB, GEOADD,
# GEOSEARCH of 1 km in 100k members) at -P 16 with cmdbench, kevy --cores 1
# against redis-server: req/s and server CPU per request; and the memory of
# 1 M stream entries of 5 fields; see scripts/bench-types.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

MODE=${1:-${BENCH_MODE:-throughput}}
case $MODE in
throughput | cpu | aof | bgsave | pubsub | lua | types) ;;
*)
    echo "usage: scripts/bench.sh [throughput | cpu | aof | bgsave | pubsub | lua | types]  (default: throughput)" >&2
    exit 1
    ;;
esac

N=${BENCH_N:-100000}
ROUNDS=${BENCH_ROUNDS:-3}
# redis-benchmark 7.0's default suite minus inline PING. The lists,
# sets and sorted sets are single keys (mylist, myset, ...), so with
# --cores > 1 each of those tests runs on one shard. Selecting an lrange_*
# test makes redis-benchmark fill mylist with an extra LPUSH run first.
TESTS=${TESTS:-ping_mbulk,get,set,incr,mset,lpush,rpush,lpop,rpop,sadd,spop,hset,zadd,zpopmin,lrange_100,lrange_300,lrange_500,lrange_600}
PIPELINES=${BENCH_PIPELINES:-"16 1"}
CLIENTS=${BENCH_CLIENTS:-50}
KEYSPACE=${BENCH_KEYSPACE:-100000}
MULTI_CORES=${BENCH_MULTI_CORES:-2}
THREADS=${BENCH_THREADS:-}
TX=${BENCH_TX:-1}
if [[ $MODE != throughput ]]; then TX=0; fi
TX_N=${BENCH_TX_N:-$N}
TX_THREADS=${BENCH_TX_THREADS:-1}
BASE=${BENCH_BASE:-}

for tool in redis-server redis-benchmark redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$tool not found; install with: apt-get install -y redis-server redis-tools" >&2
        exit 1
    fi
done

echo "==> cargo build --release -p kevy-server" >&2
cargo build --release -p kevy-server >&2
# BENCH_KEVY_ARGS: more kevy-server options, e.g. "--server_cpulist 0-1"
# to let the kernel place the shards instead of pinning one per core.
# BENCH_KEVY: run another kevy-server binary (an earlier build, say).
KEVY=${BENCH_KEVY:-$ROOT/target/release/kevy-server}
if ((TX)); then
    echo "==> cargo build --release -p kevy-benches --bin txbench" >&2
    cargo build --release -p kevy-benches --bin txbench >&2
fi
TXBENCH="$ROOT/target/release/txbench"
if [[ $MODE == cpu || $MODE == bgsave ]]; then
    echo "==> cargo build --release -p kevy-benches --bin mixload" >&2
    cargo build --release -p kevy-benches --bin mixload >&2
fi
MIXLOAD="$ROOT/target/release/mixload"
if [[ $MODE == pubsub ]]; then
    echo "==> cargo build --release -p kevy-benches --bin pubsubbench --bin blpopbench --bin neighbour" >&2
    cargo build --release -p kevy-benches --bin pubsubbench --bin blpopbench --bin neighbour >&2
fi
PUBSUBBENCH="$ROOT/target/release/pubsubbench"
BLPOPBENCH="$ROOT/target/release/blpopbench"
NEIGHBOUR="$ROOT/target/release/neighbour"
if [[ $MODE == types ]]; then
    echo "==> cargo build --release -p kevy-benches --bin cmdbench" >&2
    cargo build --release -p kevy-benches --bin cmdbench >&2
fi
CMDBENCH="$ROOT/target/release/cmdbench"

OUT="$ROOT/target/bench/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
# Run copies, so that a rebuild during the run cannot swap the binaries
# between rounds.
cp "$KEVY" "$OUT/kevy-server"
KEVY="$OUT/kevy-server"
if ((TX)); then
    cp "$TXBENCH" "$OUT/txbench"
    TXBENCH="$OUT/txbench"
fi
if [[ $MODE == cpu || $MODE == bgsave ]]; then
    cp "$MIXLOAD" "$OUT/mixload"
    MIXLOAD="$OUT/mixload"
fi
if [[ $MODE == pubsub ]]; then
    cp "$PUBSUBBENCH" "$BLPOPBENCH" "$NEIGHBOUR" "$OUT/"
    PUBSUBBENCH="$OUT/pubsubbench"
    BLPOPBENCH="$OUT/blpopbench"
    NEIGHBOUR="$OUT/neighbour"
fi
if [[ $MODE == types ]]; then
    cp "$CMDBENCH" "$OUT/cmdbench"
    CMDBENCH="$OUT/cmdbench"
fi
if [[ -n $BASE ]]; then
    cp "$BASE" "$OUT/kevy-server-base"
    BASE="$OUT/kevy-server-base"
fi

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
        nosave_args "$KEVY" "$OUT"
        # shellcheck disable=SC2086 # BENCH_KEVY_ARGS is a list of words
        "${PIN[@]}" "$KEVY" --port "$PORT" --bind 127.0.0.1 --cores "${name#kevy:}" \
            "${NOSAVE[@]}" ${BENCH_KEVY_ARGS:-} >>"$OUT/kevy.log" 2>&1 &
        ;;
    base:*)
        nosave_args "$BASE" "$OUT"
        "${PIN[@]}" "$BASE" --port "$PORT" --bind 127.0.0.1 --cores "${name#base:}" \
            "${NOSAVE[@]}" >>"$OUT/kevy-base.log" 2>&1 &
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


# alternate PHASE SERVER_CPUS KEVY_NAME FN ARGS...: $ROUNDS rounds of a fresh
# redis then a fresh KEVY_NAME server, each on SERVER_CPUS; while each runs,
# calls FN PHASE SERVER ROUND ARGS... .
alternate() {
    local phase=$1 scpus=$2 kevy=$3 fn=$4
    shift 4
    local round server servers=(redis "$kevy")
    if [[ -n $BASE ]]; then servers+=("base:${kevy#kevy:}"); fi
    for round in $(seq "$ROUNDS"); do
        for server in "${servers[@]}"; do
            start "$server" "$scpus"
            "$fn" "$phase" "$server" "$round" "$@"
            stop_server
        done
    done
}

# result PHASE SERVER PIPELINE TEST RATE: one line of $OUT/results.tsv.
result() {
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "${2%%:*}" "$3" "$4" "$5" >>"$OUT/results.tsv"
}

# redis_benchmark PHASE SERVER ROUND CLIENT_CPUS EXTRA_BENCH_ARGS...: the
# redis-benchmark suite against the running server, for each pipeline.
redis_benchmark() {
    local phase=$1 server=$2 round=$3 ccpus=$4
    shift 4
    local p csv
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
                result "$phase" "$server" "$p" "$test" "$rps"
            done
    done
}

# run_phase PHASE SERVER_CPUS CLIENT_CPUS KEVY_NAME EXTRA_BENCH_ARGS...
# Appends "phase<TAB>server<TAB>pipeline<TAB>test<TAB>rps" lines to $OUT/results.tsv.
run_phase() {
    local phase=$1 scpus=$2 ccpus=$3 kevy=$4
    shift 4
    alternate "$phase" "$scpus" "$kevy" redis_benchmark "$ccpus" "$@"
}

# txbench PHASE SERVER ROUND CLIENT_CPUS SHARDS THREADS: both transaction
# modes against the running server, for each pipeline. A failed run (say, a
# server without MULTI) is reported and leaves its cell of the table empty.
TX_FAILED=0
txbench() {
    local phase=$1 server=$2 round=$3 ccpus=$4 shards=$5 threads=$6
    local mode p log tps
    for mode in same-shard two-shards; do
        for p in $PIPELINES; do
            log="$OUT/$phase-$server-$mode-P$p-round$round.txt"
            echo "  round $round/$ROUNDS  $server  txbench --$mode -P $p" >&2
            pin_prefix "$ccpus"
            if tps=$("${PIN[@]}" timeout 600 "$TXBENCH" -p "$PORT" -c "$CLIENTS" -n "$TX_N" \
                -P "$p" --"$mode" --shards "$shards" --threads "$threads" --quiet 2>"$log"); then
                result "$phase" "$server" "$p" "tx_${mode//-/_}" "$tps"
            else
                echo "txbench failed against $server (--$mode -P $p): $(tail -n1 "$log")" >&2
                TX_FAILED=1
            fi
        done
    done
}

# run_tx_phase PHASE SERVER_CPUS CLIENT_CPUS KEVY_CORES THREADS
run_tx_phase() {
    local phase=$1 scpus=$2 ccpus=$3 cores=$4 threads=$5
    alternate "$phase" "$scpus" "kevy:$cores" txbench "$ccpus" "$cores" "$threads"
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

# rate RATE: RATE as a whole number in 14 columns, or "-" when there is none.
rate() {
    if [[ $1 == - ]]; then printf '%14s' -; else printf '%14.0f' "$1"; fi
}

# ratio A B: A/B with two decimals, or "-".
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {if (a>0 && b>0) printf "%.2f", a/b; else print "-"}'
}

# med PHASE SERVER PIPELINE TEST: the median rate of those rounds.
med() {
    awk -F'\t' -v ph="$1" -v s="$2" -v p="$3" -v t="$4" \
        '$1==ph && $2==s && $3==p && $4==t {print $5}' "$OUT/results.tsv" | median
}

# table PHASE TITLE [UNIT]
table() {
    local phase=$1 title=$2 unit=${3:-rps} p test r k b
    echo
    echo "$title"
    printf '%-16s %8s %14s %14s %10s' test pipeline "redis $unit" "kevy $unit" kevy/redis
    if [[ -n $BASE ]]; then printf ' %14s %10s' "base $unit" base/redis; fi
    echo
    for p in $PIPELINES; do
        awk -F'\t' -v ph="$phase" -v p="$p" '$1==ph && $3==p {print $4}' "$OUT/results.tsv" |
            awk '!seen[$0]++' |
            while IFS= read -r test; do
                r=$(med "$phase" redis "$p" "$test")
                k=$(med "$phase" kevy "$p" "$test")
                printf '%-16s %8s %s %s %10s' "$test" "$p" "$(rate "$r")" "$(rate "$k")" \
                    "$(ratio "$k" "$r")"
                if [[ -n $BASE ]]; then
                    b=$(med "$phase" base "$p" "$test")
                    printf ' %s %10s' "$(rate "$b")" "$(ratio "$b" "$r")"
                fi
                echo
            done
    done
}

if [[ $MODE == cpu ]]; then
    # shellcheck source=scripts/bench-cpu.sh
    source "$ROOT/scripts/bench-cpu.sh"
    cpu_main
    exit 0
fi
if [[ $MODE == aof || $MODE == bgsave ]]; then
    # shellcheck source=scripts/bench-persist.sh
    source "$ROOT/scripts/bench-persist.sh"
    persist_main
    exit 0
fi
if [[ $MODE == pubsub ]]; then
    # shellcheck source=scripts/bench-pubsub.sh
    source "$ROOT/scripts/bench-pubsub.sh"
    pubsub_main
    exit 0
fi
if [[ $MODE == lua ]]; then
    # shellcheck source=scripts/bench-lua.sh
    source "$ROOT/scripts/bench-lua.sh"
    lua_main
    exit 0
fi
if [[ $MODE == types ]]; then
    # shellcheck source=scripts/bench-types.sh
    source "$ROOT/scripts/bench-types.sh"
    types_main
    exit 0
fi

: >"$OUT/results.tsv"
echo "==> phase 1: one core each (server on CPU 0, redis-benchmark on CPU 1)" >&2
run_phase single 0 1 kevy:1
if ((MULTI_CORES > 0)); then
    echo "==> phase 2: kevy --cores $MULTI_CORES, nothing pinned" >&2
    extra=()
    if [[ -n $THREADS ]]; then extra=(--threads "$THREADS"); fi
    run_phase multi "" "" "kevy:$MULTI_CORES" "${extra[@]}"
fi
if ((TX)); then
    echo "==> phase 3: transactions, one core each (server on CPU 0, txbench on CPU 1)" >&2
    run_tx_phase txsingle 0 1 1 1
    if ((MULTI_CORES > 0)); then
        echo "==> phase 4: transactions, kevy --cores $MULTI_CORES, nothing pinned" >&2
        run_tx_phase txmulti "" "" "$MULTI_CORES" "$TX_THREADS"
    fi
fi

echo
echo "redis-benchmark -c $CLIENTS -r $KEYSPACE -n $N -t $TESTS; median of $ROUNDS rounds"
redis-server --version | head -n1
table single "Phase 1: redis-server vs kevy-server --cores 1, pinned"
if ((MULTI_CORES > 0)); then
    table multi "Phase 2: redis-server vs kevy-server --cores $MULTI_CORES, unpinned"
fi
if ((TX)); then
    echo
    echo "txbench -c $CLIENTS -n $TX_N: MULTI / SET k1 / SET k2 / EXEC per transaction; median of $ROUNDS rounds"
    table txsingle "Phase 3: transactions, redis-server vs kevy-server --cores 1 (one shard), pinned" tx/s
    if ((MULTI_CORES > 0)); then
        table txmulti "Phase 4: transactions, redis-server vs kevy-server --cores $MULTI_CORES, unpinned" tx/s
    fi
    if ((TX_FAILED)); then
        echo "(-: txbench failed; see $OUT/tx*.txt)"
    fi
fi
echo
echo "raw results: $OUT"
