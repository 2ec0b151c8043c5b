# shellcheck shell=bash
# The CPU mode of bench.sh (`scripts/bench.sh cpu` or BENCH_MODE=cpu); bench.sh
# sources this file after its setup and calls cpu_main. Not run on its own.
#
# What a request costs the server rather than how many it serves: for each
# workload, kevy --cores 1, kevy --cores 2 and redis-server each in turn
# ($ROUNDS rounds, a fresh server per round), it reports the medians of
#
#   us/req   server CPU per request: utime+stime of the whole process
#            (/proc/PID/stat fields 14 and 15, all threads, clock ticks),
#            delta over the run / requests
#   sys/req  server syscalls per request, delta over the run / requests:
#            every syscall of every server thread, counted by
#            `perf stat -e raw_syscalls:sys_enter -p PID`. Without perf (or
#            with BENCH_SYSCALLS=proc) it is syscr+syscw of /proc/PID/io
#            instead, which counts read/write-family calls only: kevy's
#            sockets use recv/send, which it misses, and redis's use
#            read/write, which it counts, so then it only compares builds
#            of one server. Both figures land in cpu.tsv.
#   req/s    the load generator's throughput
#
# The server is not pinned (kevy pins its reactor threads itself: --cores 1
# to the first CPU, --cores 2 to both); the load generator is pinned to
# CPU $CPU_CLIENT_CPU, which the server may use too.
#
# Workloads, $CLIENTS clients, -P 16, keys from a space of $KEYSPACE:
#   get       GET of random keys (all set beforehand)
#   set       SET of random keys
#   incr      INCR of random counters
#   mget2     MGET of 2 random keys
#   mset10    MSET of 10 random keys (redis-benchmark -t mset)
#   mget_hot  MGET of the same 2 keys, from every client; the keys lie on
#             different shards of a 2-shard kevy
#   mset_hot  MSET of those 2 keys, from every client: writers of the same
#             keys on two shards, which take their locks one after another
#   (each server first serves an unmeasured warm-up, cpu_warm_up below)
#   mixed     mixload (benches/src/bin/mixload.rs): one thread, 25
#             connections, pipelines of 16, GET:SET 10:1 over 100k keys of
#             32 bytes; adds a latency table (p50/p99/p99.9)
#
# Env (besides bench.sh's BENCH_ROUNDS, BENCH_CLIENTS, BENCH_KEYSPACE):
#   BENCH_N              requests per run                  [1000000 in this
#                                                           mode; CPU time
#                                                           comes in 10 ms
#                                                           ticks, so runs
#                                                           must be long]
#   BENCH_MIX_N          requests per mixload run          [$BENCH_N]
#   BENCH_HOT_N          requests per mget_hot and mset_hot
#                        run                               [$BENCH_N]
#   BENCH_WARM_N         GETs of an unmeasured warm-up before the
#                        workloads of each server, 0 for none  [2000000]
#   BENCH_CPU_WORKLOADS  comma-separated subset of the above, in this order
#                                                          [all]
#   BENCH_CLIENT_CPU     CPU of the load generator         [1]
#   BENCH_SYSCALLS       perf or proc (see sys/req)        [perf if it works]

CPU_N=${BENCH_N:-1000000}
MIX_N=${BENCH_MIX_N:-$CPU_N}
# As many as the others: with two shards, a starved shard hands the hot
# keys' slots to the other within the first tenth of a second or so
# (kevy-rt's crate doc, "Moving slots to the cores that have time"), and
# the run measures what follows, not mostly the hand-over.
HOT_N=${BENCH_HOT_N:-$CPU_N}
WARM_N=${BENCH_WARM_N:-2000000}
CPU_WORKLOADS=${BENCH_CPU_WORKLOADS:-get,set,incr,mget2,mset10,mget_hot,mset_hot,mixed}
CPU_CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
CPU_SERVERS=(kevy:1 kevy:2 redis)
CLK_TCK=$(getconf CLK_TCK)

describe_workload() {
    case $1 in
    get) echo "GET -P16" ;;
    set) echo "SET -P16" ;;
    incr) echo "INCR -P16" ;;
    mget2) echo "MGET 2 random -P16" ;;
    mset10) echo "MSET 10 random -P16" ;;
    mget_hot) echo "MGET 2 hot keys -P16" ;;
    mset_hot) echo "MSET 2 hot keys -P16" ;;
    mixed) echo "mixed GET:SET 10:1" ;;
    *) echo "$1" ;;
    esac
}

# choose_syscall_counter: sets SYSCOUNT to perf when `perf stat` can count
# syscall tracepoints here (it needs perf_event access), else to proc.
choose_syscall_counter() {
    SYSCOUNT=${BENCH_SYSCALLS:-}
    if [[ -z $SYSCOUNT || $SYSCOUNT == perf ]]; then
        if command -v perf >/dev/null 2>&1 &&
            perf stat -x ',' -e raw_syscalls:sys_enter -- true 2>&1 >/dev/null |
            grep -q '^[0-9]*,.*raw_syscalls:sys_enter'; then
            SYSCOUNT=perf
        elif [[ $SYSCOUNT == perf ]]; then
            echo "BENCH_SYSCALLS=perf, but perf cannot count raw_syscalls:sys_enter here" >&2
            exit 1
        else
            echo "warning: no usable perf; sys/req is /proc/PID/io syscr+syscw" \
                "(read/write-family calls only)" >&2
            SYSCOUNT=proc
        fi
    elif [[ $SYSCOUNT != proc ]]; then
        echo "BENCH_SYSCALLS must be perf or proc, not $SYSCOUNT" >&2
        exit 1
    fi
}

# Prefill: every key:<12 digits> that redis-benchmark -r $KEYSPACE can pick,
# with its default 3-byte value, and the two hot keys.
PREFILL_PY='
import sys
n, hot = int(sys.argv[1]), sys.argv[2:]
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)
buf = [cmd(b"SET", k.encode(), b"xxx") for k in hot]
for i in range(n):
    buf.append(cmd(b"SET", b"key:%012d" % i, b"xxx"))
    if len(buf) >= 10000:
        out.write(b"".join(buf))
        buf = []
out.write(b"".join(buf))
'

cpu_prefill() {
    local log="$OUT/prefill.log"
    if ! python3 -c "$PREFILL_PY" "$KEYSPACE" "$HOT_A" "$HOT_B" |
        redis-cli -p "$PORT" --pipe >"$log" 2>&1 || ! grep -q 'errors: 0,' "$log"; then
        echo "prefill failed; see $log" >&2
        exit 1
    fi
    if [[ ,$CPU_WORKLOADS, == *,mixed,* ]] &&
        ! "$MIXLOAD" -p "$PORT" --prefill-only --keys 100000 --value-size 32 -q \
            >>"$log" 2>&1; then
        echo "mixload prefill failed; see $log" >&2
        exit 1
    fi
}

# cpu_warm_up: $WARM_N GETs of the load's shape, not measured, so the runs
# measure the server as it serves a lasting load: kevy --cores 2 spends
# the first second or so of a load that starves its second
# shard (the load generator shares that core) moving connections and
# slots to the first (kevy-rt's crate doc, "Moving slots to the cores that
# have time"), which the first workload would otherwise mostly measure.
cpu_warm_up() {
    ((WARM_N > 0)) || return 0
    pin_prefix "$CPU_CLIENT_CPU"
    if ! "${PIN[@]}" timeout 600 redis-benchmark -p "$PORT" -c "$CLIENTS" \
        -r "$KEYSPACE" -n "$WARM_N" -P 16 -q -t get >/dev/null 2>"$OUT/warm-up.err"; then
        echo "warm-up failed; see $OUT/warm-up.err" >&2
        exit 1
    fi
}

# proc_sample: "TICKS SYSCALLS TASK_SYSCALLS" of the server now. TICKS is
# utime+stime in clock ticks of /proc/PID/stat, which at the process level
# sums all threads; the fields are counted after the ")" that ends the
# command name. SYSCALLS is syscr+syscw of /proc/PID/io, which at the
# process level sums all threads too; TASK_SYSCALLS is the same summed over
# /proc/PID/task/*/io, to check that (cpu_run warns when the deltas differ).
proc_sample() {
    local t io tio
    t=$(sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}')
    io=$(awk '/^sysc[rw]:/ {s += $2} END {print s + 0}' "/proc/$SERVER_PID/io")
    tio=$(cat "/proc/$SERVER_PID"/task/*/io | awk '/^sysc[rw]:/ {s += $2} END {print s + 0}')
    echo "$t $io $tio"
}

# cpu_run WORKLOAD SERVER ROUND: one measured run of WORKLOAD against the
# running server; appends a line to $OUT/cpu.tsv:
# workload server round requests rps us/req sys/req(perf) sys/req(proc)
# ticks p50 p99 p999 (latencies from mixload only, else "-").
cpu_run() {
    local wl=$1 server=$2 round=$3 n=$CPU_N log perf_out before after
    local rps p50=- p99=- p999=- perf_count=- load=()
    log="$OUT/cpu-$wl-${server/:/}-round$round"
    perf_out="$log.perf"
    case $wl in
    get | set | incr) load=(-t "$wl") ;;
    mset10) load=(-t mset) ;;
    mget2) load=(MGET 'key:__rand_int__' 'key:__rand_int__') ;;
    mget_hot)
        load=(MGET "$HOT_A" "$HOT_B")
        n=$HOT_N
        ;;
    mset_hot)
        load=(MSET "$HOT_A" xxx "$HOT_B" xxx)
        n=$HOT_N
        ;;
    mixed) n=$MIX_N ;;
    *)
        echo "unknown workload $wl (BENCH_CPU_WORKLOADS)" >&2
        exit 1
        ;;
    esac
    local wrap=()
    if [[ $SYSCOUNT == perf ]]; then
        wrap=(perf stat -x ',' -e raw_syscalls:sys_enter -p "$SERVER_PID" -o "$perf_out" --)
    fi
    pin_prefix "$CPU_CLIENT_CPU"
    echo "  round $round/$ROUNDS  $server  $wl" >&2
    before=$(proc_sample)
    if [[ $wl == mixed ]]; then
        if ! "${wrap[@]}" "${PIN[@]}" timeout 600 "$MIXLOAD" -p "$PORT" --no-prefill \
            --conns 25 --pipeline 16 --keys 100000 --ratio 10:1 --value-size 32 \
            --shards 2 -n "$n" -q >"$log.txt" 2>"$log.err"; then
            echo "mixload failed against $server:" >&2
            cat "$log.err" >&2
            exit 1
        fi
        read -r rps p50 p99 p999 <"$log.txt"
    else
        if ! "${wrap[@]}" "${PIN[@]}" timeout 600 redis-benchmark -p "$PORT" -c "$CLIENTS" \
            -r "$KEYSPACE" -n "$n" -P 16 --csv "${load[@]}" >"$log.csv" 2>"$log.err"; then
            echo "redis-benchmark failed against $server ($wl):" >&2
            cat "$log.err" "$log.csv" >&2
            exit 1
        fi
        rps=$(sed -n 's/^"[^"]*","\([0-9.]*\)".*/\1/p' "$log.csv" | tail -n1)
    fi
    after=$(proc_sample)
    if [[ $SYSCOUNT == perf ]]; then
        perf_count=$(awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$perf_out")
    fi
    local t0 io0 tio0 t1 io1 tio1
    read -r t0 io0 tio0 <<<"$before"
    read -r t1 io1 tio1 <<<"$after"
    # The two are read a moment apart, so a syscall or two of the server
    # may fall between them; more than that would mean they disagree.
    local gap=$(((io1 - io0) - (tio1 - tio0)))
    gap=${gap#-}
    if ((gap > 10 && gap * 1000 > io1 - io0)); then
        echo "warning: /proc/$SERVER_PID/io grew by $((io1 - io0)) syscalls," \
            "its threads' by $((tio1 - tio0))" >&2
    fi
    awk -v OFS='\t' -v wl="$wl" -v s="${server/:/}" -v r="$round" -v n="$n" \
        -v rps="${rps:--}" -v hz="$CLK_TCK" -v dt=$((t1 - t0)) -v dio=$((io1 - io0)) \
        -v pc="$perf_count" -v p50="$p50" -v p99="$p99" -v p999="$p999" 'BEGIN {
            sysperf = (pc ~ /^[0-9]+$/) ? sprintf("%.4f", pc / n) : "-"
            print wl, s, r, n, rps, sprintf("%.4f", dt * 1e6 / hz / n), sysperf,
                sprintf("%.4f", dio / n), dt, p50, p99, p999
        }' >>"$OUT/cpu.tsv"
}

# cmed WORKLOAD SERVER COLUMN: the median of COLUMN (1-based, of cpu.tsv)
# over the rounds.
cmed() {
    awk -F'\t' -v w="$1" -v s="$2" -v c="$3" '$1==w && $2==s && $c != "-" {print $c}' \
        "$OUT/cpu.tsv" | median
}

# cratio WORKLOAD SERVER_A SERVER_B COLUMN: the median over the rounds of
# A's COLUMN over B's in the same round. A round runs the three servers
# back to back, so a load swing on the machine moves both sides of a
# round's ratio alike; a ratio of medians would mix rounds.
cratio() {
    awk -F'\t' -v w="$1" -v a="$2" -v b="$3" -v c="$4" '$1==w && $c != "-" {v[$2, $3] = $c; r[$3] = 1}
        END {for (i in r) if ((a, i) in v && (b, i) in v && v[b, i] > 0) print v[a, i] / v[b, i]}' \
        "$OUT/cpu.tsv" | median | awk '{if ($1 == "-") print "-"; else printf "%.2f\n", $1}'
}

# fmt FORMAT VALUE: VALUE in FORMAT, or "-" (right-aligned alike).
fmt() {
    awk -v f="$1" -v v="$2" 'BEGIN {
        w = f; sub(/^%/, "", w); sub(/[.a-z].*/, "", w)
        if (v == "-" || v == "") printf "%" w "s", "-"; else printf f, v
    }'
}

cpu_table() {
    local wl s
    local sys_label="all syscalls, perf raw_syscalls:sys_enter" sys_col=7
    if [[ $SYSCOUNT == proc ]]; then
        sys_label="/proc/PID/io syscr+syscw: read/write-family calls only, not recv/send"
        sys_col=8
    fi
    echo
    echo "CPU mode: server unpinned (kevy pins its own threads), load generator on CPU $CPU_CLIENT_CPU;"
    echo "$CLIENTS clients (mixload: 25), -P 16; requests per run: $CPU_N, mget_hot and mset_hot $HOT_N, mixed $MIX_N;" \
        "median of $ROUNDS rounds (ratios: median of each round's ratio)"
    echo "us/req: server utime+stime / requests; sys/req: server syscalls / requests ($sys_label)"
    redis-server --version | head -n1
    printf '%-22s | %-26s | %-26s | %-26s | %6s %8s\n' "" "kevy --cores 1" "kevy --cores 2" \
        "redis-server" "c2/c1" "c2/redis"
    printf '%-22s |' workload
    for s in 1 2 3; do printf ' %7s %7s %10s |' us/req sys/req req/s; done
    printf ' %6s %8s\n' CPU req/s
    IFS=',' read -r -a wls <<<"$CPU_WORKLOADS"
    for wl in "${wls[@]}"; do
        printf '%-22s |' "$(describe_workload "$wl")"
        for s in kevy1 kevy2 redis; do
            printf ' %s %s %s |' "$(fmt %7.2f "$(cmed "$wl" "$s" 6)")" \
                "$(fmt %7.3f "$(cmed "$wl" "$s" "$sys_col")")" "$(fmt %10.0f "$(cmed "$wl" "$s" 5)")"
        done
        printf ' %6s' "$(cratio "$wl" kevy2 kevy1 6)"
        printf ' %8s\n' "$(cratio "$wl" kevy2 redis 5)"
    done
    if [[ ,$CPU_WORKLOADS, == *,mixed,* ]]; then
        echo
        echo "mixed (mixload: 1 thread, 25 conns, -P 16, GET:SET 10:1, 100k keys, 32-byte values);"
        echo "latency = pipeline sent to reply read, in us; median of $ROUNDS rounds"
        printf '%-16s %10s %9s %9s %9s %10s %10s\n' server req/s p50 p99 p99.9 \
            "req/s/redis" "p99/redis"
        for s in kevy1 kevy2 redis; do
            local label=$s
            case $s in
            kevy1) label="kevy --cores 1" ;;
            kevy2) label="kevy --cores 2" ;;
            redis) label="redis-server" ;;
            esac
            printf '%-16s %s %s %s %s %10s %10s\n' "$label" \
                "$(fmt %10.0f "$(cmed mixed "$s" 5)")" "$(fmt %9.1f "$(cmed mixed "$s" 10)")" \
                "$(fmt %9.1f "$(cmed mixed "$s" 11)")" "$(fmt %9.1f "$(cmed mixed "$s" 12)")" \
                "$(cratio mixed "$s" redis 5)" "$(cratio mixed "$s" redis 11)"
        done
    fi
}

cpu_main() {
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 not found (needed to prefill and to place the hot keys)" >&2
        exit 1
    fi
    choose_syscall_counter
    read -r HOT_A slot_a HOT_B slot_b < <(two_shard_keys hot)
    echo "==> CPU mode: hot keys $HOT_A (slot $slot_a) and $HOT_B (slot $slot_b);" \
        "syscalls counted by $SYSCOUNT" >&2
    IFS=',' read -r -a wls <<<"$CPU_WORKLOADS"
    : >"$OUT/cpu.tsv"
    local round server wl
    for round in $(seq "$ROUNDS"); do
        for server in "${CPU_SERVERS[@]}"; do
            start "$server" ""
            cpu_prefill
            cpu_warm_up
            for wl in "${wls[@]}"; do
                cpu_run "$wl" "$server" "$round"
            done
            stop_server
        done
    done
    cpu_table
    echo
    echo "raw results: $OUT (cpu.tsv: workload server round requests rps us/req" \
        "sys/req(perf) sys/req(proc io) ticks p50 p99 p99.9)"
}
