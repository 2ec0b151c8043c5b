# shellcheck shell=bash
# The pub/sub and blocking-pop mode of bench.sh (`scripts/bench.sh pubsub`);
# bench.sh sources this file after its setup and calls pubsub_main. Not run
# on its own.
#
# Two loads that push to many connections, which redis-benchmark cannot
# make, run by their own tools (benches/src/bin/):
#
#   fan-out  pubsubbench: S subscribers (one connection each, SUBSCRIBE to
#            one channel) and one publisher pipelining PUBLISH of 16-byte
#            messages to it, $PS_PIPELINE per batch; for each S in $PS_SUBS. Every
#            subscriber reads and counts its messages and checks their
#            sequence numbers (each one once, in order), and every PUBLISH
#            must count S receivers.
#   blpop    blpopbench: $PS_WORKERS workers, each looping `BLPOP queue 0`
#            on its own connection, and one producer pipelining LPUSH of
#            numbered items to `queue`, 16 per batch; every item must be
#            consumed exactly once and the list be empty at the end.
#
# For kevy --cores 1, kevy --cores 2 and redis-server in turn ($ROUNDS
# rounds, a fresh server per run), it reports the medians of
#
#   msg/s    messages delivered per second: received by all subscribers
#            together (fan-out) or items consumed (blpop), over the time
#            from the first PUBLISH / LPUSH to the last message read
#   us/msg   server CPU per delivered message (item): utime+stime of the
#            whole process (/proc/PID/stat, all threads) from the first
#            PUBLISH / LPUSH until all was read, / delivered
#   tool%    the load tool's own CPU time over the run's wall time: near
#            100 % the tool, on its one CPU, limits msg/s
#   latency  fan-out only: p50 and p99 of each message's delivery, from
#            the publisher's send of its batch to the return of the
#            subscriber's read that brought it
#
# and how much CPU everything else on the machine took during the runs
# (/proc/stat's busy time less the server's and the tool's). On a shared
# box a run beside a compiler is slower: each run waits for a quiet second
# first, a run that others took more than $PS_OTHER_MAX % of a CPU from
# anyway counts as disturbed, and a cell's medians leave disturbed runs
# out when it has undisturbed ones (the table says how many runs each
# median stands on).
#
# and the ratios against the issue's targets: kevy --cores 1 over Redis
# (fan-out: >= 1.5x the rate at <= 0.5x the CPU per message; blpop: >= 1.2x
# the rate) and --cores 2 over --cores 1 (at least the rate). A run that
# lost, repeated or reordered anything is counted under "runs with loss"
# and its figures still enter the medians; the tool's messages are in
# $OUT/pubsub-*.err.
#
# The server is not pinned (kevy pins its reactor threads itself: --cores 1
# to the first CPU, --cores 2 to both); the tool runs on CPU
# $PS_CLIENT_CPU, publisher (producer) and readers alike, one reader thread
# for all the sockets. kevy accepts on one SO_REUSEPORT listener per shard,
# so the kernel spreads connections over the shards by a hash of their
# address and port; the table shows how the first round's connections
# (subscribers or workers, plus the publisher or producer) split over the
# epoll instances of the server, i.e. kevy's shards.
#
# Env (besides bench.sh's BENCH_ROUNDS):
#   BENCH_PUBSUB_SUBS        subscriber counts of the fan-out runs  ["50 500"]
#   BENCH_PUBSUB_PIPELINE    PUBLISH commands per publisher batch   [16]
#   BENCH_PUBSUB_DELIVERIES  messages delivered per fan-out run:    [20000000]
#                            it publishes this / S messages (CPU
#                            time comes in 10 ms ticks, so runs
#                            must last a second or more)
#   BENCH_PUBSUB_WARM_UP     deliveries published first in each     [2000000]
#                            fan-out run and read before the clock
#                            and CPU time start (pubsubbench
#                            --warm-up): kevy --cores 2 moves the
#                            subscribers off the core the tool takes
#                            in its first tenth of a second, which a
#                            run should not mostly measure
#   BENCH_BLPOP_WORKERS      BLPOP workers                          [50]
#   BENCH_BLPOP_ITEMS        items per blpop run                    [200000]
#   BENCH_PUBSUB_WORKLOADS   fanout, blpop or both                  [fanout,blpop]
#   BENCH_CLIENT_CPU         CPU of the load tool                   [1]
#   BENCH_OTHER_MAX          a run during which other processes     [20]
#                            took more than this % of a CPU is
#                            "disturbed"
#   BENCH_BASE               (bench.sh's) another kevy-server: it   [unset]
#                            runs too, --cores 1 and 2, each right
#                            after kevy's run of the same core
#                            count, in a table of its own
#   BENCH_WAIT_QUIET         before each run, wait up to this many  [60]
#                            seconds for a second in which other
#                            processes stay under BENCH_OTHER_MAX
#   BENCH_PUBSUB_NEIGHBOUR   per cent of CPU BENCH_NEIGHBOUR_CPU    [0]
#                            that another process (benches' neighbour:
#                            busy that share of every 10 ms) takes
#                            during every run, of every server: a
#                            tenant of a shared machine beside the
#                            server's first core (kevy --cores 1's
#                            only one), while the tool takes
#                            BENCH_CLIENT_CPU. A run is then disturbed
#                            past BENCH_OTHER_MAX plus this share
#   BENCH_NEIGHBOUR_CPU      the neighbour's CPU                    [0]

PS_SUBS=${BENCH_PUBSUB_SUBS:-"50 500"}
PS_DELIVERIES=${BENCH_PUBSUB_DELIVERIES:-20000000}
PS_WARM_UP=${BENCH_PUBSUB_WARM_UP:-2000000}
PS_PIPELINE=${BENCH_PUBSUB_PIPELINE:-16}
PS_WORKERS=${BENCH_BLPOP_WORKERS:-50}
PS_ITEMS=${BENCH_BLPOP_ITEMS:-200000}
PS_WORKLOADS=${BENCH_PUBSUB_WORKLOADS:-fanout,blpop}
PS_CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
PS_OTHER_MAX=${BENCH_OTHER_MAX:-20}
PS_WAIT_QUIET=${BENCH_WAIT_QUIET:-60}
PS_NEIGHBOUR=${BENCH_PUBSUB_NEIGHBOUR:-0}
PS_NEIGHBOUR_CPU=${BENCH_NEIGHBOUR_CPU:-0}
# Other processes' CPU above which a run counts as disturbed: the
# neighbour's share is expected.
PS_RUN_OTHER_MAX=$((PS_OTHER_MAX + PS_NEIGHBOUR))
PS_SERVERS=(kevy:1 kevy:2 redis)
# With BENCH_BASE, that build runs too (--cores 1 and 2), in the same
# rounds, right after kevy of the same core count.
if [[ -n $BASE ]]; then PS_SERVERS=(kevy:1 base:1 kevy:2 base:2 redis); fi
CLK_TCK=$(getconf CLK_TCK)

# The runs of one server, by name: fanout<S>..., blpop.
PS_WLS=()
if [[ ,$PS_WORKLOADS, == *,fanout,* ]]; then
    for _subs in $PS_SUBS; do PS_WLS+=("fanout$_subs"); done
fi
if [[ ,$PS_WORKLOADS, == *,blpop,* ]]; then PS_WLS+=(blpop); fi

# fmt FORMAT VALUE: VALUE in FORMAT, or "-" right-aligned alike.
fmt() {
    awk -v f="$1" -v v="$2" 'BEGIN {
        w = f; sub(/^%/, "", w); sub(/[.a-z].*/, "", w)
        if (v == "-" || v == "") printf "%" w "s", "-"; else printf f, v
    }'
}

ps_describe() {
    case $1 in
    fanout*) echo "fan-out ${1#fanout} subs" ;;
    blpop) echo "BLPOP $PS_WORKERS workers" ;;
    esac
}

# busy_ticks: the machine's busy CPU time so far, all CPUs, in clock ticks
# (user nice system irq softirq steal of /proc/stat).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# wait_quiet: waits, at most $PS_WAIT_QUIET s, for a second in which the
# machine (no server runs now) stays under $PS_OTHER_MAX % of a CPU busy.
wait_quiet() {
    local b0 b1 waited=0
    while ((waited < PS_WAIT_QUIET)); do
        b0=$(busy_ticks)
        sleep 1
        b1=$(busy_ticks)
        if (((b1 - b0) * 100 < PS_OTHER_MAX * CLK_TCK)); then return; fi
        waited=$((waited + 1))
    done
    echo "  (the machine stayed busy for ${PS_WAIT_QUIET}s; running anyway)" >&2
}

# ps_run WORKLOAD SERVER ROUND: one measured run on a fresh server; appends
# "workload server round rate delivered expected secs server_ticks
# tool_ticks other_ticks bad spread" to $OUT/pubsub.tsv.
ps_run() {
    local wl=$1 server=$2 round=$3 log cmd=() rc=0 line
    log="$OUT/pubsub-$wl-${server/:/}-round$round"
    case $wl in
    fanout*)
        local subs=${wl#fanout}
        cmd=("$PUBSUBBENCH" -s "$subs" -n $((PS_DELIVERIES / subs)) -P "$PS_PIPELINE" -d 16
            --warm-up $((PS_WARM_UP / subs)))
        ;;
    blpop) cmd=("$BLPOPBENCH" -w "$PS_WORKERS" -n "$PS_ITEMS" -P 16) ;;
    esac
    wait_quiet
    start "$server" ""
    local neighbour=""
    if ((PS_NEIGHBOUR > 0)); then
        pin_prefix "$PS_NEIGHBOUR_CPU"
        "${PIN[@]}" "$NEIGHBOUR" --share "$PS_NEIGHBOUR" &
        neighbour=$!
    fi
    pin_prefix "$PS_CLIENT_CPU"
    echo "  round $round/$ROUNDS  $server  $(ps_describe "$wl")" >&2
    "${PIN[@]}" timeout 600 "${cmd[@]}" -p "$PORT" --server-pid "$SERVER_PID" -q \
        >"$log.txt" 2>"$log.err" || rc=$?
    if [[ -n $neighbour ]]; then
        kill "$neighbour"
        wait "$neighbour" 2>/dev/null || true
    fi
    stop_server
    # Status 2: the run finished but lost something; it says what in .err.
    if ((rc != 0 && rc != 2)); then
        echo "${cmd[0]##*/} failed against $server:" >&2
        cat "$log.err" >&2
        exit 1
    fi
    if ((rc == 2)); then
        echo "  LOSS: $(tail -n1 "$log.err")" >&2
    fi
    read -r line <"$log.txt"
    printf '%s\t%s\t%s\t%s\n' "$wl" "${server/:/}" "$round" "$line" >>"$OUT/pubsub.tsv"
}

# pmed WORKLOAD SERVER WHAT: the median over the rounds of WHAT: rate
# (msg/s), cpu (server us per message), tool (the tool's CPU %), other
# (every other process's CPU %, of one CPU) or n (how many runs the
# medians stand on). Disturbed runs are left out when there are others.
pmed() {
    awk -F'\t' -v w="$1" -v s="$2" -v what="$3" -v hz="$CLK_TCK" -v max="$PS_RUN_OTHER_MAX" '
        $1 == w && $2 == s && $8 != "-" {
            n++
            row[n] = $0
            calm[n] = $10 / hz / $7 * 100 <= max
            ncalm += calm[n]
        }
        END {
            for (i = 1; i <= n; i++) {
                if (ncalm > 0 && !calm[i]) continue
                split(row[i], f, "\t")
                if (what == "rate") print f[4]
                else if (what == "cpu") print f[8] * 1e6 / hz / (f[5] > 0 ? f[5] : 1)
                else if (what == "tool") print f[9] / hz / f[7] * 100
                else if (what == "other") print f[10] / hz / f[7] * 100
                else if (what == "p50") { if (f[13] != "") print f[13] }
                else if (what == "p99") { if (f[14] != "") print f[14] }
                else kept++
            }
            if (what == "n") print kept + 0
        }' "$OUT/pubsub.tsv" | median
}

ps_rate() { pmed "$1" "$2" rate; }
ps_cpu() { pmed "$1" "$2" cpu; }
ps_tool() { pmed "$1" "$2" tool; }

# verdict VALUE OP LIMIT: "met" or "MISSED" (or "-" without a value).
verdict() {
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        if (v == "-" || v == "") { print "-"; exit }
        ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0)
        print ok ? "met" : "MISSED"
    }'
}

ps_table() {
    local wl s r1 c1 r2 rr
    echo
    echo "pubsub mode: server unpinned (kevy pins its own threads), load tool on CPU $PS_CLIENT_CPU;" \
        "medians of the $ROUNDS rounds' undisturbed runs (n of them)"
    echo "fan-out: 1 publisher, PUBLISH of 16 bytes -P $PS_PIPELINE, $PS_DELIVERIES deliveries per run" \
        "after $PS_WARM_UP unmeasured;" \
        "BLPOP: $PS_WORKERS workers, 1 producer LPUSH -P 16, $PS_ITEMS items per run"
    echo "msg/s: messages received by all subscribers (items consumed) per second;" \
        "us/msg: server utime+stime / messages; tool%: load tool CPU / wall time;" \
        "n: runs with other processes under $PS_RUN_OTHER_MAX % of a CPU (all runs when none was)"
    if ((PS_NEIGHBOUR > 0)); then
        echo "a neighbour process took $PS_NEIGHBOUR % of CPU $PS_NEIGHBOUR_CPU during every run" \
            "(counted among the other processes)"
    fi
    redis-server --version | head -n1
    printf '%-20s | %-27s | %-27s | %-27s | %-13s | %s\n' "" "kevy --cores 1" "kevy --cores 2" \
        "redis-server" "c1/redis" "c2/c1"
    printf '%-20s |' workload
    for s in 1 2 3; do printf ' %10s %7s %5s %2s |' msg/s us/msg tool% n; done
    printf ' %6s %6s | %6s\n' rate CPU rate
    for wl in "${PS_WLS[@]}"; do
        printf '%-20s |' "$(ps_describe "$wl")"
        for s in kevy1 kevy2 redis; do
            printf ' %s %s %s %2s |' "$(fmt %10.0f "$(ps_rate "$wl" "$s")")" \
                "$(fmt %7.3f "$(ps_cpu "$wl" "$s")")" "$(fmt %5.0f "$(ps_tool "$wl" "$s")")" \
                "$(pmed "$wl" "$s" n)"
        done
        printf ' %6s %6s | %6s\n' "$(ratio "$(ps_rate "$wl" kevy1)" "$(ps_rate "$wl" redis)")" \
            "$(ratio "$(ps_cpu "$wl" kevy1)" "$(ps_cpu "$wl" redis)")" \
            "$(ratio "$(ps_rate "$wl" kevy2)" "$(ps_rate "$wl" kevy1)")"
    done

    if [[ -n $BASE ]]; then
        echo
        echo "BENCH_BASE ($BASE), same rounds:"
        printf '%-20s | %-27s | %-27s | %-13s\n' "" "base --cores 1" "base --cores 2" "kevy/base rate"
        for wl in "${PS_WLS[@]}"; do
            printf '%-20s |' "$(ps_describe "$wl")"
            for s in base1 base2; do
                printf ' %s %s %s %2s |' "$(fmt %10.0f "$(ps_rate "$wl" "$s")")" \
                    "$(fmt %7.3f "$(ps_cpu "$wl" "$s")")" "$(fmt %5.0f "$(ps_tool "$wl" "$s")")" \
                    "$(pmed "$wl" "$s" n)"
            done
            printf ' c1 %5s c2 %5s   base c2/redis %5s\n' \
                "$(ratio "$(ps_rate "$wl" kevy1)" "$(ps_rate "$wl" base1)")" \
                "$(ratio "$(ps_rate "$wl" kevy2)" "$(ps_rate "$wl" base2)")" \
                "$(ratio "$(ps_rate "$wl" base2)" "$(ps_rate "$wl" redis)")"
        done
    fi

    echo
    echo "fan-out delivery latency (us, from the publisher's send of a batch to the subscriber's read;" \
        "medians of the runs' p50 and p99):"
    printf '%-20s |' ""
    for s in kevy1 kevy2 redis; do printf ' %8s %8s |' "$s p50" p99; done
    echo
    for wl in "${PS_WLS[@]}"; do
        [[ $wl == fanout* ]] || continue
        printf '%-20s |' "$(ps_describe "$wl")"
        for s in kevy1 kevy2 redis; do
            printf ' %s %s |' "$(fmt %8.0f "$(pmed "$wl" "$s" p50)")" "$(fmt %8.0f "$(pmed "$wl" "$s" p99)")"
        done
        echo
    done

    echo
    echo "targets (issue): fan-out kevy --cores 1 >= 1.50x Redis's msg/s at <= 0.50x its us/msg," \
        "--cores 2 >= --cores 1; BLPOP >= 1.20x Redis's items/s"
    for wl in "${PS_WLS[@]}"; do
        r1=$(ps_rate "$wl" kevy1)
        r2=$(ps_rate "$wl" kevy2)
        rr=$(ps_rate "$wl" redis)
        c1=$(ratio "$(ps_cpu "$wl" kevy1)" "$(ps_cpu "$wl" redis)")
        case $wl in
        fanout*)
            printf '%-20s  c1/redis rate %5s %-6s  c1/redis CPU %5s %-6s  c2/c1 rate %5s %s\n' \
                "$(ps_describe "$wl")" "$(ratio "$r1" "$rr")" "$(verdict "$(ratio "$r1" "$rr")" '>=' 1.5)" \
                "$c1" "$(verdict "$c1" '<=' 0.5)" "$(ratio "$r2" "$r1")" \
                "$(verdict "$(ratio "$r2" "$r1")" '>=' 1.0)"
            ;;
        blpop)
            printf '%-20s  c1/redis rate %5s %-6s  c2/redis rate %5s %s\n' "$(ps_describe "$wl")" \
                "$(ratio "$r1" "$rr")" "$(verdict "$(ratio "$r1" "$rr")" '>=' 1.2)" \
                "$(ratio "$r2" "$rr")" "$(verdict "$(ratio "$r2" "$rr")" '>=' 1.2)"
            ;;
        esac
    done

    echo
    local losses
    losses=$(awk -F'\t' '$11 > 0' "$OUT/pubsub.tsv" | wc -l)
    if ((losses == 0)); then
        echo "every run delivered each message (item) exactly as expected:" \
            "delivered = published x subscribers, in order; items consumed exactly once"
    else
        echo "runs with loss: $losses (see $OUT/pubsub-*.err):"
        awk -F'\t' -v OFS='\t' '$11 > 0 {print "  " $1, $2, "round " $3, "delivered " $5 " of " $6}' \
            "$OUT/pubsub.tsv"
    fi
    # Other users of a shared machine take CPU from the runs; say how much.
    awk -F'\t' -v hz="$CLK_TCK" -v lim="$PS_RUN_OTHER_MAX" '
        {o = $10 / hz / $7 * 100; if (o > max) max = o; if (o > lim) busy++}
        END {printf "other processes during the runs: up to %.0f %% of a CPU; %d of %d runs" \
            " disturbed (above %d %%)\n", max, busy, NR, lim}' "$OUT/pubsub.tsv"
    echo "connections per server epoll instance (kevy: per shard), round 1:"
    for wl in "${PS_WLS[@]}"; do
        printf '  %-20s' "$(ps_describe "$wl")"
        for s in "${PS_SERVERS[@]}"; do
            s=${s/:/}
            printf '  %s %s' "$s" "$(awk -F'\t' -v w="$wl" -v s="$s" '$1==w && $2==s && $3==1 {print $12}' \
                "$OUT/pubsub.tsv")"
        done
        echo
    done
}

pubsub_main() {
    : >"$OUT/pubsub.tsv"
    local round server wl
    for round in $(seq "$ROUNDS"); do
        for server in "${PS_SERVERS[@]}"; do
            for wl in "${PS_WLS[@]}"; do
                ps_run "$wl" "$server" "$round"
            done
        done
    done
    ps_table
    echo
    echo "raw results: $OUT (pubsub.tsv: workload server round msg/s delivered expected" \
        "secs server_ticks tool_ticks other_ticks bad spread)"
}
