# shellcheck shell=bash
# The data-types mode of bench.sh (`scripts/bench.sh types`); bench.sh
# sources this file after its setup and calls types_main. Not run on its
# own.
#
# Streams, HyperLogLog, bitmaps and geo at -P 16, kevy --cores 1 against
# redis-server. Each round starts a fresh redis-server, then a fresh kevy
# (alternating, $ROUNDS rounds), each pinned to CPU 0, prefills it (below)
# and runs every workload in turn with cmdbench (benches/src/bin/cmdbench.rs)
# pinned to CPU 1: $CLIENTS connections, 16 commands in flight on each, and
# `__rand__` in an argument replaced by a random integer written without
# leading zeros (redis-benchmark's `__rand_int__` is zero-padded, which
# Redis refuses as a bit offset or a stream id, and cannot make spread
# coordinates). cmdbench's random sequence is the same every run, so both
# servers get the same commands. An error reply aborts the run.
#
# Reported per workload, medians over the rounds: req/s, the server's CPU
# per request (utime+stime of the whole process from /proc/PID/stat, delta
# over the run / requests; steadier than req/s on a busy machine) and the
# ratios kevy/redis of req/s and redis/kevy of CPU (both > 1 when kevy is
# ahead; the target of issue 13 is >= 1.5).
#
# Workloads (the keys are prefilled once per server, before the first run):
#   xadd       XADD xadd * f v: appends to one stream (the append-only case
#              streams are built for), which grows by every request
#   xrange10   XRANGE xr <rand> + COUNT 10: ten entries from a random
#              point of a stream of 100,000 entries (ids <i>-1, one field
#              f v each), so every request seeks
#   pfadd      PFADD pfadd e:<rand>: random elements (out of 10^9) into one
#              HLL that starts empty, so it goes sparse, then dense
#   pfcount    PFCOUNT hll1: one dense HLL of 100,000 elements. Its
#              cardinality is cached in the value (both servers use
#              Redis's representation), so this measures the cached path
#   pfcount2   PFCOUNT hll1 hll2: the union of two such HLLs, which Redis
#              never caches: the register merge and the estimator run on
#              every request (what a PFCOUNT after a PFADD that changed a
#              register costs, without the PFADD)
#   setbit     SETBIT bits <rand> 1: random offsets below 2^23, a 1 MB
#              string (grows on the first requests)
#   bitcount   BITCOUNT big: a 1 MB string of random bytes
#   geoadd     GEOADD geoadd 13.<rand> 52.<rand> m:<rand>: random points
#              (one 1 x 1 degree cell) into one geo set that starts empty
#   geosearch  GEOSEARCH geo FROMLONLAT 13.<rand> 52.<rand> BYRADIUS 1 km:
#              a geo set of 100,000 members spread uniformly over lon
#              12..14, lat 51..53 (~30,000 km2), so a 1 km circle holds ~10
#              of them (the run prints the count at one centre)
# Memory: after the rounds, a fresh redis-server, then a fresh kevy, each
# gets $TYPES_MEM_ENTRIES entries of 5 fields (name, user, ts, value,
# status; ids `*`) in one stream; reported are the growth of INFO's
# used_memory (the allocator's allocated bytes: both servers use jemalloc)
# and of VmRSS after $TYPES_MEM_SETTLE s, and kevy/redis of each (target:
# used_memory <= 1.0x).
#
# Env (besides bench.sh's BENCH_ROUNDS, BENCH_CLIENTS):
#   BENCH_N               requests of the cheap workloads per run  [500000];
#                         xrange10 and geoadd run N/2, geosearch N/5,
#                         pfcount2 N/25, bitcount N/50 (CPU time comes in
#                         10 ms ticks, so a run should last a second or more)
#   BENCH_TYPES_WORKLOADS comma-separated subset, in this order     [all]
#   BENCH_TYPES_MEM       1 to run the memory check, 0 to skip      [1]
#   BENCH_TYPES_MEM_ENTRIES  stream entries of the memory check     [1000000]
#   BENCH_TYPES_MEM_SETTLE   seconds before reading VmRSS           [3]
#   BENCH_TYPES_CALLGRIND 1 to add a pass under callgrind (valgrind):
#                         server instructions per request of each
#                         workload, which the machine's noise leaves
#                         alone; see types_cg                       [0]
#   BENCH_TYPES_CG_DIV    its runs are N/this and 3x that            [50]

TYPES_N=${BENCH_N:-500000}
TYPES_WORKLOADS=${BENCH_TYPES_WORKLOADS:-xadd,xrange10,pfadd,pfcount,pfcount2,setbit,bitcount,geoadd,geosearch}
TYPES_MEM=${BENCH_TYPES_MEM:-1}
TYPES_MEM_ENTRIES=${BENCH_TYPES_MEM_ENTRIES:-1000000}
TYPES_MEM_SETTLE=${BENCH_TYPES_MEM_SETTLE:-3}
TYPES_CG=${BENCH_TYPES_CALLGRIND:-0}
TYPES_CG_DIV=${BENCH_TYPES_CG_DIV:-50}
CLK_TCK=$(getconf CLK_TCK)

# The prefill, as RESP on stdout for redis-cli --pipe: `bench PARTS` (a
# comma-separated list of xr, hll, big, geo) or `mem ENTRIES`.
# Deterministic, so both servers hold the same data.
TYPES_PREFILL_PY='
import random, sys
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)
what = sys.argv[1]
buf = []
def flush(force=False):
    global buf
    if force or len(buf) >= 1000:
        out.write(b"".join(buf))
        buf = []
parts = sys.argv[2].split(",") if what == "bench" else []
if "xr" in parts:
    for i in range(1, 100001):
        buf.append(cmd("XADD", "xr", "%d-1" % i, "f", "v"))
        flush()
if "hll" in parts:
    for key in ("hll1", "hll2"):
        for i in range(0, 100000, 100):
            buf.append(cmd("PFADD", key, *("%s:%d" % (key, j) for j in range(i, i + 100))))
            flush()
if "big" in parts:
    rng = random.Random(13)
    buf.append(cmd("SET", "big", rng.randbytes(1 << 20)))
if "geo" in parts:
    rng = random.Random(14)
    for i in range(0, 100000, 100):
        args = []
        for j in range(i, i + 100):
            args += ["%.6f" % rng.uniform(12, 14), "%.6f" % rng.uniform(51, 53), "m:%d" % j]
        buf.append(cmd("GEOADD", "geo", *args))
        flush()
if what == "mem":
    rng = random.Random(15)
    for i in range(int(sys.argv[2])):
        buf.append(cmd("XADD", "mem", "*", "name", "event-%d" % (i % 100),
                       "user", "%d" % rng.randrange(10000), "ts", "%d" % (1733380000000 + i),
                       "value", "%.2f" % rng.uniform(0, 100), "status", "ok"))
        flush()
flush(True)
'

types_describe() {
    case $1 in
    xadd) echo "XADD s * f v" ;;
    xrange10) echo "XRANGE COUNT 10" ;;
    pfadd) echo "PFADD random" ;;
    pfcount) echo "PFCOUNT 1 key (cached)" ;;
    pfcount2) echo "PFCOUNT 2 keys (union)" ;;
    setbit) echo "SETBIT random" ;;
    bitcount) echo "BITCOUNT 1 MB" ;;
    geoadd) echo "GEOADD random" ;;
    geosearch) echo "GEOSEARCH 1 km in 100k" ;;
    *) echo "$1" ;;
    esac
}

# types_load WORKLOAD: sets N_REQ, RANGE and LOAD (the command) for it.
types_load() {
    RANGE=1000000
    N_REQ=$TYPES_N
    case $1 in
    xadd) LOAD=(XADD xadd '*' f v) ;;
    xrange10)
        LOAD=(XRANGE xr __rand__ + COUNT 10)
        RANGE=100000
        N_REQ=$((TYPES_N / 2))
        ;;
    pfadd)
        LOAD=(PFADD pfadd e:__rand__)
        RANGE=1000000000
        ;;
    pfcount) LOAD=(PFCOUNT hll1) ;;
    pfcount2)
        LOAD=(PFCOUNT hll1 hll2)
        N_REQ=$((TYPES_N / 25))
        ;;
    setbit)
        LOAD=(SETBIT bits __rand__ 1)
        RANGE=$((1 << 23))
        ;;
    bitcount)
        LOAD=(BITCOUNT big)
        N_REQ=$((TYPES_N / 50))
        ;;
    geoadd)
        LOAD=(GEOADD geoadd 13.__rand__ 52.__rand__ m:__rand__)
        N_REQ=$((TYPES_N / 2))
        ;;
    geosearch)
        LOAD=(GEOSEARCH geo FROMLONLAT 13.__rand__ 52.__rand__ BYRADIUS 1 km)
        N_REQ=$((TYPES_N / 5))
        ;;
    *)
        echo "unknown workload $1 (BENCH_TYPES_WORKLOADS)" >&2
        exit 1
        ;;
    esac
}

types_ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; }

# types_pipe WHAT [ARGS]: the prefill WHAT into the running server.
types_pipe() {
    local log="$OUT/prefill-$1.log"
    if ! python3 -c "$TYPES_PREFILL_PY" "$@" | redis-cli -p "$PORT" --pipe >"$log" 2>&1 ||
        ! grep -q 'errors: 0,' "$log"; then
        echo "prefill $1 failed; see $log" >&2
        exit 1
    fi
}

# types_parts WORKLOADS...: the prefill parts they read.
types_parts() {
    local wl parts=()
    for wl in "$@"; do
        case $wl in
        xrange10) parts+=(xr) ;;
        pfcount | pfcount2) [[ " ${parts[*]} " == *" hll "* ]] || parts+=(hll) ;;
        bitcount) parts+=(big) ;;
        geosearch) parts+=(geo) ;;
        esac
    done
    local IFS=,
    echo "${parts[*]}"
}

# types_check SERVER: the prefill is what the workloads expect.
types_check() {
    local xlen card n
    xlen=$(redis-cli -p "$PORT" XLEN xr)
    card=$(redis-cli -p "$PORT" ZCARD geo)
    # grep -c exits 1 when it counts none (no geo prefill).
    n=$(redis-cli -p "$PORT" GEOSEARCH geo FROMLONLAT 13.5 52.5 BYRADIUS 1 km | grep -c . || true)
    if [[ ,$TYPES_PARTS, == *,xr,* && $xlen != 100000 ]] ||
        [[ ,$TYPES_PARTS, == *,geo,* && $card != 100000 ]]; then
        echo "$1: prefill holds XLEN xr $xlen, ZCARD geo $card (want 100000 each)" >&2
        exit 1
    fi
    echo "  $1: prefilled $TYPES_PARTS; PFCOUNT hll1 $(redis-cli -p "$PORT" PFCOUNT hll1)," \
        "GEOSEARCH 1 km at 13.5 52.5: $n members" >&2
}

# types_run WORKLOAD SERVER ROUND: one measured run; appends
# "workload server round requests req/s us/req" to $OUT/types.tsv.
types_run() {
    local wl=$1 server=$2 round=$3 log t0 t1 rps
    types_load "$wl"
    log="$OUT/types-$wl-${server/:/}-round$round"
    echo "  round $round/$ROUNDS  $server  $wl ($N_REQ requests)" >&2
    pin_prefix 1
    t0=$(types_ticks)
    if ! rps=$("${PIN[@]}" timeout 600 "$CMDBENCH" -p "$PORT" -c "$CLIENTS" -P 16 -n "$N_REQ" \
        -r "$RANGE" "${LOAD[@]}" 2>"$log.err"); then
        echo "cmdbench failed against $server ($wl):" >&2
        cat "$log.err" >&2
        exit 1
    fi
    t1=$(types_ticks)
    awk -v OFS='\t' -v wl="$wl" -v s="${server%%:*}" -v r="$round" -v n="$N_REQ" \
        -v rps="$rps" -v dt=$((t1 - t0)) -v hz="$CLK_TCK" \
        'BEGIN {print wl, s, r, n, rps, sprintf("%.4f", dt * 1e6 / hz / n)}' >>"$OUT/types.tsv"
}

# tmed WORKLOAD SERVER COLUMN: the median over the rounds (5 = req/s,
# 6 = us/req).
tmed() {
    awk -F'\t' -v w="$1" -v s="$2" -v c="$3" '$1==w && $2==s {print $c}' "$OUT/types.tsv" | median
}

# types_info_field FIELD: a field of the running server's INFO memory.
types_info_field() {
    redis-cli -p "$PORT" INFO memory | tr -d '\r' | awk -F: -v f="$1" '$1==f {print $2}'
}

types_rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$SERVER_PID/status"; }

# types_mem SERVER: the memory check on a fresh server; appends
# "server used_before used_after rss_before rss_after" to $OUT/types-mem.tsv.
types_mem() {
    local server=$1 u0 u1 r0 r1 xlen
    start "$server" 0
    echo "  memory  $server  $TYPES_MEM_ENTRIES stream entries" >&2
    u0=$(types_info_field used_memory)
    r0=$(types_rss)
    types_pipe mem "$TYPES_MEM_ENTRIES"
    xlen=$(redis-cli -p "$PORT" XLEN mem)
    if [[ $xlen != "$TYPES_MEM_ENTRIES" ]]; then
        echo "$server: XLEN mem is $xlen after $TYPES_MEM_ENTRIES XADDs" >&2
        exit 1
    fi
    sleep "$TYPES_MEM_SETTLE"
    u1=$(types_info_field used_memory)
    r1=$(types_rss)
    printf '%s\t%s\t%s\t%s\t%s\n' "${server%%:*}" "$u0" "$u1" "$r0" "$r1" >>"$OUT/types-mem.tsv"
    stop_server
}

# types_cg SERVER: the callgrind pass on a fresh SERVER under valgrind
# (pinned to CPU 0): for each workload, an unmeasured run of N1 = N/$TYPES_CG_DIV
# requests, then runs of N1 and 3 x N1 with the counters zeroed before and
# dumped after each; appends "workload server instructions/request" (the
# difference of the two runs over 2 x N1 requests, which cancels connection
# setup) to $OUT/types-cg.tsv. The measured runs draw their random numbers
# from other ranges than the first run (RANGE-7, RANGE-13), so that PFADD
# and GEOADD add new elements rather than repeat the first run's.
types_cg() {
    local server=$1 wl n1 f i1 i2 cg_out="$OUT/cg-${1%%:*}"
    mkdir -p "$cg_out"
    PORT=$(pick_port)
    local vg=(taskset -c 0 valgrind --tool=callgrind --dump-instr=no
        "--callgrind-out-file=$cg_out/callgrind.out.%p")
    case $server in
    redis)
        "${vg[@]}" redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no --dir "$OUT" --logfile "$OUT/redis-cg.log" 2>"$cg_out/valgrind.log" &
        ;;
    kevy:*)
        nosave_args "$KEVY" "$OUT"
        "${vg[@]}" "$KEVY" --port "$PORT" --bind 127.0.0.1 --cores 1 "${NOSAVE[@]}" \
            >>"$OUT/kevy-cg.log" 2>"$cg_out/valgrind.log" &
        ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 600); do
        if [[ $(redis-cli -p "$PORT" PING 2>/dev/null) == PONG ]]; then break; fi
        sleep 0.1
    done
    echo "  callgrind  $server" >&2
    types_pipe bench "$TYPES_PARTS"
    # cg_run N RANGE: one cmdbench run, counters zeroed before and dumped
    # after; prints the dump's instruction total.
    cg_run() {
        callgrind_control -z "$SERVER_PID" >/dev/null
        "${PIN[@]}" "$CMDBENCH" -p "$PORT" -c "$CLIENTS" -P 16 -n "$1" -r "$2" "${LOAD[@]}" >/dev/null
        callgrind_control -d "$SERVER_PID" >/dev/null
        f=$(find "$cg_out" -name "callgrind.out.$SERVER_PID.*" -printf '%T@ %p\n' | sort -n | tail -n1 | cut -d' ' -f2)
        awk '/^summary:/ {print $2; exit}' "$f"
    }
    for wl in "${wls[@]}"; do
        types_load "$wl"
        n1=$((N_REQ / TYPES_CG_DIV))
        echo "  callgrind  $server  $wl ($n1 and $((3 * n1)) requests)" >&2
        pin_prefix 1
        "${PIN[@]}" "$CMDBENCH" -p "$PORT" -c "$CLIENTS" -P 16 -n "$n1" -r "$RANGE" "${LOAD[@]}" >/dev/null
        i1=$(cg_run "$n1" $((RANGE - 7)))
        i2=$(cg_run $((3 * n1)) $((RANGE - 13)))
        printf '%s\t%s\t%s\n' "$wl" "${server%%:*}" $(((i2 - i1) / (2 * n1))) >>"$OUT/types-cg.tsv"
    done
    stop_server
}

types_main() {
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 not found (needed to prefill)" >&2
        exit 1
    fi
    IFS=',' read -r -a wls <<<"$TYPES_WORKLOADS"
    TYPES_PARTS=$(types_parts "${wls[@]}")
    : >"$OUT/types.tsv"
    : >"$OUT/types-mem.tsv"
    local round server wl load
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    for round in $(seq "$ROUNDS"); do
        for server in redis kevy:1; do
            start "$server" 0
            types_pipe bench "$TYPES_PARTS"
            types_check "$server"
            for wl in "${wls[@]}"; do
                types_run "$wl" "$server" "$round"
            done
            stop_server
        done
    done
    if ((TYPES_CG)); then
        : >"$OUT/types-cg.tsv"
        for server in redis kevy:1; do
            types_cg "$server"
        done
    fi
    if ((TYPES_MEM)); then
        for server in redis kevy:1; do
            types_mem "$server"
        done
    fi
    echo
    echo "types mode: server pinned to CPU 0 (kevy --cores 1), cmdbench on CPU 1;" \
        "$CLIENTS clients, -P 16; median of $ROUNDS rounds"
    echo "us/req: server utime+stime / requests; load average at start $load," \
        "at end $(cut -d' ' -f1-3 /proc/loadavg)"
    redis-server --version | head -n1
    printf '%-24s %9s | %10s %8s | %10s %8s | %8s %8s\n' workload requests "kevy req/s" us/req \
        "redis req/s" us/req "req/s k/r" "CPU r/k"
    local kr ku rr ru
    for wl in "${wls[@]}"; do
        types_load "$wl"
        kr=$(tmed "$wl" kevy 5)
        ku=$(tmed "$wl" kevy 6)
        rr=$(tmed "$wl" redis 5)
        ru=$(tmed "$wl" redis 6)
        printf '%-24s %9s | %10.0f %8.3f | %10.0f %8.3f | %8s %8s\n' "$(types_describe "$wl")" \
            "$N_REQ" "$kr" "$ku" "$rr" "$ru" "$(ratio "$kr" "$rr")" "$(ratio "$ru" "$ku")"
    done
    if ((TYPES_MEM)); then
        echo
        echo "memory: $TYPES_MEM_ENTRIES stream entries of 5 fields, one stream, fresh server each;"
        echo "growth of used_memory (allocated bytes) and of VmRSS (after ${TYPES_MEM_SETTLE} s)"
        awk -F'\t' '
            {u[$1] = ($3 - $2) / 1048576; r[$1] = ($5 - $4) / 1048576}
            END {
                printf "%-8s %16s %16s\n", "server", "used_memory MB", "VmRSS MB"
                printf "%-8s %16.2f %16.2f\n", "kevy", u["kevy"], r["kevy"]
                printf "%-8s %16.2f %16.2f\n", "redis", u["redis"], r["redis"]
                printf "%-8s %16.3f %16.3f\n", "k/r", u["kevy"] / u["redis"], r["kevy"] / r["redis"]
            }' "$OUT/types-mem.tsv"
    fi
    if ((TYPES_CG)); then
        echo
        echo "callgrind: server instructions per request (user space only), runs of N/$TYPES_CG_DIV" \
            "and 3x that; (I2 - I1) / (N2 - N1)"
        printf '%-24s %12s %12s %10s\n' workload kevy redis "redis/kevy"
        local ki ri
        for wl in "${wls[@]}"; do
            ki=$(awk -F'\t' -v w="$wl" '$1==w && $2=="kevy" {print $3}' "$OUT/types-cg.tsv")
            ri=$(awk -F'\t' -v w="$wl" '$1==w && $2=="redis" {print $3}' "$OUT/types-cg.tsv")
            printf '%-24s %12s %12s %10s\n' "$(types_describe "$wl")" "$ki" "$ri" "$(ratio "$ri" "$ki")"
        done
    fi
    echo "targets (issue 13): req/s and CPU >= 1.5x Redis on each, memory <= 1.0x"
    echo "raw results: $OUT (types.tsv: workload server round requests req/s us/req;" \
        "types-mem.tsv: server used_before used_after rss_before rss_after;" \
        "types-cg.tsv: workload server instructions/request)"
}
