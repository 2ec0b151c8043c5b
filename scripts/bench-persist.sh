# shellcheck shell=bash
# The persistence modes of bench.sh (`scripts/bench.sh aof`, `scripts/bench.sh
# bgsave`); bench.sh sources this file after its setup and calls
# persist_main. Not run on its own. Modes kevy cannot run yet print "kevy:
# not supported yet" in their place.
#
# aof: what the append-only log costs. SET of random keys from
#      redis-benchmark, -P 16 and -P 1 (50 clients, where each reply waits
#      for its write to reach the log, so group commit counts most), against
#      kevy and redis-server each with no log, appendfsync everysec and
#      appendfsync always, a fresh server and directory per run, $ROUNDS
#      rounds alternating. Server on CPU 0 (kevy --cores 1), redis-benchmark
#      on CPU 1. Reports the medians of req/s and server CPU per request
#      (utime+stime of /proc/PID/stat over the run, all threads; redis's
#      forked children are not counted, and there are none in this mode),
#      each log setting's req/s over the same server without a log (the
#      targets for kevy: everysec >= 0.9, always >= 0.5), and kevy over
#      redis.
#
# bgsave: a snapshot under load. Loads $BGSAVE_KEYS keys of 32 bytes, then
#      runs mixload (GET:SET $BGSAVE_RATIO, 25 connections, -P 16) for
#      $BGSAVE_SECS s twice: once alone, once with BGSAVE started again
#      whenever none runs, so the whole run is "during a save". Reports
#      req/s and p99 of both (the target for kevy: p99 with saves <= 2x
#      without), and the peak memory against the RSS before the run: the
#      server's VmRSS plus, for a forking server, its children's private
#      pages (Private_Clean + Private_Dirty of /proc/CHILD/smaps_rollup:
#      the pages copy-on-write gave the child alone; the shared ones are
#      already in the parent's RSS); the child's whole VmRSS is shown too.
#      The target for kevy: growth <= 10 %. Then the load time of a dump.rdb
#      of those keys (written by redis-server with SAVE; the same file for
#      both servers): from exec to the first PONG (PING answers -LOADING
#      before), median of $ROUNDS starts, beside the start time on an empty
#      directory.
#
# Env (besides bench.sh's BENCH_ROUNDS, BENCH_CLIENTS, BENCH_KEYSPACE):
#   BENCH_N              aof: requests per run                    [200000]
#   BENCH_AOF_PIPELINES  aof: -P values                           ["16 1"]
#   BENCH_AOF_CORES      aof: kevy --cores                        [1]
#   BENCH_BGSAVE_KEYS    bgsave: keys                             [1000000]
#   BENCH_BGSAVE_SECS    bgsave: seconds per mixload run          [5]
#   BENCH_BGSAVE_RATIO   bgsave: GET:SET of the load              [1:1]
#   BENCH_BGSAVE_CORES   bgsave: kevy --cores                     [2]

P_N=${BENCH_N:-200000}
AOF_PIPELINES=${BENCH_AOF_PIPELINES:-"16 1"}
AOF_CORES=${BENCH_AOF_CORES:-1}
BGSAVE_KEYS=${BENCH_BGSAVE_KEYS:-1000000}
BGSAVE_SECS=${BENCH_BGSAVE_SECS:-5}
BGSAVE_RATIO=${BENCH_BGSAVE_RATIO:-1:1}
BGSAVE_CORES=${BENCH_BGSAVE_CORES:-2}
CLK_TCK=$(getconf CLK_TCK)

# fmt FORMAT VALUE: VALUE in FORMAT, or "-" right-aligned alike.
fmt() {
    awk -v f="$1" -v v="$2" 'BEGIN {
        w = f; sub(/^%/, "", w); sub(/[.a-z].*/, "", w)
        if (v == "-" || v == "") printf "%" w "s", "-"; else printf f, v
    }'
}

# pstart SERVER CPUS DIR ARGS...: starts a fresh SERVER (kevy:<cores> or
# redis) on a free port with its working directory and --dir DIR, and
# ARGS; sets SERVER_PID and PORT, and START_MS to the milliseconds from
# exec to the first PONG. Returns 1 when the server exits during startup
# (a parameter kevy does not take yet, say).
pstart() {
    local name=$1 cpus=$2 dir=$3 t0
    shift 3
    PORT=$(pick_port)
    pin_prefix "$cpus"
    mkdir -p "$dir"
    t0=$(date +%s%N)
    case $name in
    redis)
        (cd "$dir" && exec "${PIN[@]}" redis-server --port "$PORT" --bind 127.0.0.1 \
            --daemonize no --dir "$dir" --logfile "$OUT/redis.log" "$@") &
        ;;
    kevy:*)
        (cd "$dir" && exec "${PIN[@]}" "$KEVY" --port "$PORT" --bind 127.0.0.1 \
            --cores "${name#kevy:}" --dir "$dir" "$@") >>"$OUT/kevy.log" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
    local reply
    for _ in $(seq 12000); do
        reply=$(redis-cli -p "$PORT" PING 2>/dev/null || true)
        if [[ $reply == PONG ]]; then
            START_MS=$((($(date +%s%N) - t0) / 1000000))
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=""
            return 1
        fi
        sleep 0.01
    done
    echo "$name did not answer PING within 120 s; see $OUT" >&2
    exit 1
}

# ticks: utime+stime of the server in clock ticks (all threads).
ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; }

# ---------------------------------------------------------------- aof

# log_args FSYNC: the server arguments of a log setting.
log_args() {
    case $1 in
    none) echo "--appendonly no --save" ;;
    *) echo "--appendonly yes --appendfsync $1 --save" ;;
    esac
}

aof_run() {
    local server=$1 fsync=$2 round=$3 dir p csv t0 t1 rps args
    dir="$OUT/aof-data"
    rm -rf "$dir"
    read -r -a args <<<"$(log_args "$fsync")"
    if ! pstart "$server" 0 "$dir" "${args[@]}" ''; then
        echo "$server ($fsync) exited during startup; see $OUT" >&2
        exit 1
    fi
    for p in $AOF_PIPELINES; do
        csv="$OUT/aof-${server/:/}-$fsync-P$p-round$round.csv"
        echo "  round $round/$ROUNDS  $server  appendfsync $fsync  -P $p" >&2
        pin_prefix 1
        t0=$(ticks)
        if ! "${PIN[@]}" timeout 600 redis-benchmark -p "$PORT" -c "$CLIENTS" -r "$KEYSPACE" \
            -n "$P_N" -P "$p" -t set --csv >"$csv" 2>"$csv.err"; then
            echo "redis-benchmark failed against $server ($fsync, -P $p):" >&2
            cat "$csv.err" "$csv" >&2
            exit 1
        fi
        t1=$(ticks)
        rps=$(sed -n 's/^"[^"]*","\([0-9.]*\)".*/\1/p' "$csv" | tail -n1)
        awk -v OFS='\t' -v s="${server%%:*}" -v f="$fsync" -v p="$p" -v r="$round" \
            -v rps="$rps" -v dt=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$P_N" \
            'BEGIN {print s, f, p, r, rps, sprintf("%.3f", dt * 1e6 / hz / n)}' >>"$OUT/aof.tsv"
    done
    stop_server
    rm -rf "$dir"
}

# amed SERVER FSYNC PIPELINE COLUMN: the median over the rounds (5 = req/s,
# 6 = us/req).
amed() {
    awk -F'\t' -v s="$1" -v f="$2" -v p="$3" -v c="$4" '$1==s && $2==f && $3==p {print $c}' \
        "$OUT/aof.tsv" | median
}

aof_main() {
    local fsyncs=(none everysec always) kevy_log=1 round server fsync p
    if ! kevy_has_appendonly "$KEVY"; then kevy_log=0; fi
    : >"$OUT/aof.tsv"
    for round in $(seq "$ROUNDS"); do
        for fsync in "${fsyncs[@]}"; do
            for server in redis "kevy:$AOF_CORES"; do
                if [[ $server == kevy:* && $fsync != none ]] && ((!kevy_log)); then continue; fi
                aof_run "$server" "$fsync" "$round"
            done
        done
    done

    echo
    echo "aof: SET, redis-benchmark -c $CLIENTS -r $KEYSPACE -n $P_N; server on CPU 0" \
        "(kevy --cores $AOF_CORES), redis-benchmark on CPU 1; median of $ROUNDS rounds"
    echo "us/req: server utime+stime / requests; /nolog: req/s over the same server" \
        "without a log (kevy targets: everysec >= 0.90, always >= 0.50)"
    redis-server --version | head -n1
    printf '%-7s %-10s' server appendfsync
    for p in $AOF_PIPELINES; do printf ' | %-28s' "-P $p: req/s us/req /nolog"; done
    echo
    for server in kevy redis; do
        for fsync in "${fsyncs[@]}"; do
            printf '%-7s %-10s' "$server" "$fsync"
            if [[ $server == kevy && $fsync != none ]] && ((!kevy_log)); then
                echo " | kevy: not supported yet"
                continue
            fi
            for p in $AOF_PIPELINES; do
                printf ' | %10s %7s %8s' "$(fmt %10.0f "$(amed "$server" "$fsync" "$p" 5)")" \
                    "$(fmt %7.2f "$(amed "$server" "$fsync" "$p" 6)")" \
                    "$(ratio "$(amed "$server" "$fsync" "$p" 5)" "$(amed "$server" none "$p" 5)")"
            done
            echo
        done
    done
    echo
    printf '%-18s' "kevy/redis req/s"
    for p in $AOF_PIPELINES; do printf ' | %-28s' "-P $p"; done
    echo
    for fsync in "${fsyncs[@]}"; do
        printf '%-18s' "$fsync"
        for p in $AOF_PIPELINES; do
            if [[ $fsync != none ]] && ((!kevy_log)); then
                printf ' | %-28s' "kevy: not supported yet"
            else
                printf ' | %-28s' "$(ratio "$(amed kevy "$fsync" "$p" 5)" "$(amed redis "$fsync" "$p" 5)")"
            fi
        done
        echo
    done
}

# ------------------------------------------------------------- bgsave

# Samples the server's memory every 20 ms for SECS seconds and, with
# "save", starts BGSAVE whenever INFO persistence says none runs. Prints
# "PEAK_TOTAL_KB PEAK_PARENT_KB PEAK_CHILD_PRIVATE_KB PEAK_CHILD_RSS_KB
# SAVES_DONE SAVE_MS_MEAN BGSAVE_ERROR" (TOTAL = parent VmRSS + children's
# private pages, at one sample; BGSAVE_ERROR "-" or the first error reply).
# shellcheck disable=SC2016 # the $ are RESP's, in Python
SAMPLER_PY='
import socket, sys, time
port, pid, secs, mode = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def status_kb(p, field):
    try:
        with open("/proc/%d/status" % p) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
def private_kb(p):
    kb = 0
    try:
        with open("/proc/%d/smaps_rollup" % p) as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    kb += int(line.split()[1])
    except OSError:
        pass
    return kb
def children(p):
    out = []
    try:
        import os
        for t in os.listdir("/proc/%d/task" % p):
            with open("/proc/%d/task/%s/children" % (p, t)) as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out
s = socket.create_connection(("127.0.0.1", port))
buf = b""
def call(*args):
    global buf
    msg = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    s.sendall(msg)
    while True:
        if buf[:1] in (b"+", b"-", b":") and b"\r\n" in buf:
            line, buf = buf.split(b"\r\n", 1)
            return line
        if buf[:1] == b"$" and b"\r\n" in buf:
            head, rest = buf.split(b"\r\n", 1)
            n = int(head[1:])
            if n < 0:
                buf = rest
                return b""
            if len(rest) >= n + 2:
                buf = rest[n + 2:]
                return rest[:n]
        buf += s.recv(65536)
peak = [0, 0, 0, 0]
saves, save_ms, started, error = 0, 0.0, None, "-"
t_end = time.monotonic() + secs
while time.monotonic() < t_end:
    if mode == "save":
        running = b"rdb_bgsave_in_progress:1" in call(b"INFO", b"persistence")
        now = time.monotonic()
        if not running:
            if started is not None:
                saves += 1
                save_ms += (now - started) * 1000
                started = None
            r = call(b"BGSAVE")
            if r.startswith(b"-"):
                if error == "-":
                    error = r[1:].decode(errors="replace")
            else:
                started = now
    parent = status_kb(pid, "VmRSS:")
    kids = children(pid)
    priv = sum(private_kb(c) for c in kids)
    krss = sum(status_kb(c, "VmRSS:") for c in kids)
    sample = [parent + priv, parent, priv, krss]
    peak = [max(a, b) for a, b in zip(peak, sample)]
    time.sleep(0.02)
print(*peak, saves, "%.0f" % (save_ms / saves if saves else 0), error.replace(" ", "_"))
'

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }

# bgsave_server SERVER ROUND: one server's two loaded runs; appends
# "server round kind rps p50 p99 p999 base_kb peak_total peak_parent
# peak_child_priv peak_child_rss saves save_ms error" to bgsave.tsv.
bgsave_server() {
    local server=$1 round=$2 dir="$OUT/bgsave-data" kind log base samp
    rm -rf "$dir"
    if ! pstart "$server" "" "$dir" --appendonly no --save ''; then
        echo "$server exited during startup; see $OUT" >&2
        exit 1
    fi
    echo "  round $round/$ROUNDS  $server  loading $BGSAVE_KEYS keys" >&2
    log="$OUT/bgsave-${server/:/}-round$round"
    if ! "$MIXLOAD" -p "$PORT" --prefill-only --keys "$BGSAVE_KEYS" --value-size 32 -q \
        >"$log.prefill" 2>&1; then
        echo "mixload prefill failed against $server; see $log.prefill" >&2
        exit 1
    fi
    for kind in nosave save; do
        sleep 2
        base=$(rss_kb)
        echo "  round $round/$ROUNDS  $server  mixload ${BGSAVE_SECS}s, $kind" >&2
        python3 -c "$SAMPLER_PY" "$PORT" "$SERVER_PID" "$BGSAVE_SECS" "$kind" \
            >"$log-$kind.mem" 2>&1 &
        samp=$!
        if ! timeout 600 "$MIXLOAD" -p "$PORT" --no-prefill --conns 25 --pipeline 16 \
            --keys "$BGSAVE_KEYS" --ratio "$BGSAVE_RATIO" --value-size 32 \
            -t "$BGSAVE_SECS" --seed "$round" -q >"$log-$kind.txt" 2>"$log-$kind.err"; then
            echo "mixload failed against $server:" >&2
            cat "$log-$kind.err" >&2
            exit 1
        fi
        if ! wait "$samp"; then
            echo "memory sampler failed:" >&2
            cat "$log-$kind.mem" >&2
            exit 1
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "${server%%:*}" "$round" "$kind" \
            "$(tr ' ' '\t' <"$log-$kind.txt")" "$base	$(tr ' ' '\t' <"$log-$kind.mem")" \
            >>"$OUT/bgsave.tsv"
    done
    # Wait out a save still running, so the next server has the CPUs.
    while [[ $(redis-cli -p "$PORT" INFO persistence | tr -d '\r' |
        sed -n 's/^rdb_bgsave_in_progress://p') == 1 ]]; do sleep 0.1; done
    if [[ $server == redis && ! -f $OUT/load/dump.rdb ]]; then
        redis-cli -p "$PORT" SAVE >/dev/null
        mkdir -p "$OUT/load"
        cp "$dir/dump.rdb" "$OUT/load/dump.rdb"
    fi
    stop_server
    rm -rf "$dir"
}

# load_time SERVER ROUND: starts SERVER on a copy of the dump and on an
# empty directory; appends "server round load_ms empty_ms keys" to
# load.tsv, or returns 1 when SERVER cannot load it.
load_time() {
    local server=$1 round=$2 dir="$OUT/load-data" load_ms keys
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$OUT/load/dump.rdb" "$dir/"
    sync
    if ! pstart "$server" "" "$dir" --appendonly no --save '' --dbfilename dump.rdb; then
        return 1
    fi
    load_ms=$START_MS
    keys=$(redis-cli -p "$PORT" DBSIZE)
    stop_server
    rm -rf "$dir"
    if ((keys != BGSAVE_KEYS)); then return 1; fi
    pstart "$server" "" "$dir" --appendonly no --save ''
    stop_server
    rm -rf "$dir"
    printf '%s\t%s\t%s\t%s\t%s\n' "${server%%:*}" "$round" "$load_ms" "$START_MS" "$keys" \
        >>"$OUT/load.tsv"
}

# bmed SERVER KIND COLUMN: median over the rounds of a bgsave.tsv column.
bmed() {
    awk -F'\t' -v s="$1" -v k="$2" -v c="$3" '$1==s && $3==k && $c != "-" {print $c}' \
        "$OUT/bgsave.tsv" | median
}

bgsave_main() {
    local round server kevy_save=1 kevy_load=1 kevy="kevy:$BGSAVE_CORES"
    : >"$OUT/bgsave.tsv"
    : >"$OUT/load.tsv"
    for round in $(seq "$ROUNDS"); do
        for server in redis "$kevy"; do
            bgsave_server "$server" "$round"
        done
    done
    # A server whose BGSAVE answers an error never saved.
    if awk -F'\t' '$1=="kevy" && $3=="save" && $15 != "-" {bad=1} END {exit !bad}' \
        "$OUT/bgsave.tsv"; then
        kevy_save=0
    fi
    for round in $(seq "$ROUNDS"); do
        echo "  round $round/$ROUNDS  load time of the dump" >&2
        load_time redis "$round" || {
            echo "redis-server did not load its own dump; see $OUT" >&2
            exit 1
        }
        if ((kevy_load)) && ! load_time "$kevy" "$round"; then kevy_load=0; fi
    done

    echo
    echo "bgsave: $BGSAVE_KEYS keys x 32 bytes; mixload GET:SET $BGSAVE_RATIO, 25 conns, -P 16," \
        "${BGSAVE_SECS}s per run (kevy --cores $BGSAVE_CORES); median of $ROUNDS rounds"
    echo "save: BGSAVE started again whenever none runs, for the whole run." \
        "mem: peak of VmRSS + children's private pages, over the RSS before the run"
    echo "(kevy targets: p99 save/nosave <= 2.00, growth <= 10 %)"
    redis-server --version | head -n1
    printf '%-6s %-7s %10s %8s %8s %9s %9s %9s %8s %9s %6s %8s\n' server run req/s p50us \
        p99us p99.9us "base MB" "peak MB" growth "child MB" saves "save ms"
    local kind
    for server in kevy redis; do
        for kind in nosave save; do
            printf '%-6s %-7s' "$server" "$kind"
            if [[ $server == kevy && $kind == save ]] && ((!kevy_save)); then
                echo " kevy: not supported yet ($(awk -F'\t' '$1=="kevy" && $3=="save" {print $15; exit}' \
                    "$OUT/bgsave.tsv" | tr '_' ' '))"
                continue
            fi
            local b p
            b=$(bmed "$server" "$kind" 8)
            p=$(bmed "$server" "$kind" 9)
            printf ' %s %s %s %s %s %s %s %s %s %s\n' "$(fmt %10.0f "$(bmed "$server" "$kind" 4)")" \
                "$(fmt %8.1f "$(bmed "$server" "$kind" 5)")" "$(fmt %8.1f "$(bmed "$server" "$kind" 6)")" \
                "$(fmt %9.1f "$(bmed "$server" "$kind" 7)")" "$(fmt %9.1f "$(awk -v k="$b" 'BEGIN {print k / 1024}')")" \
                "$(fmt %9.1f "$(awk -v k="$p" 'BEGIN {print k / 1024}')")" \
                "$(awk -v a="$p" -v b="$b" 'BEGIN {if (b > 0) printf "%+7.1f %%", (a / b - 1) * 100; else printf "%9s", "-"}')" \
                "$(fmt %9.1f "$(awk -v k="$(bmed "$server" "$kind" 11)" 'BEGIN {print k / 1024}')")" \
                "$(fmt %6.0f "$(bmed "$server" "$kind" 13)")" "$(fmt %8.0f "$(bmed "$server" "$kind" 14)")"
        done
        if [[ $server == redis ]] || ((kevy_save)); then
            echo "       p99 save/nosave: $(ratio "$(bmed "$server" save 6)" "$(bmed "$server" nosave 6)")"
        fi
    done
    echo "(child MB: peak private pages of the forked child; its whole VmRSS, shared pages" \
        "included, peaked at $(awk -v k="$(bmed redis save 12)" 'BEGIN {printf "%.1f", k / 1024}') MB for redis)"
    echo
    echo "load of a $BGSAVE_KEYS-key dump.rdb ($(du -h "$OUT/load/dump.rdb" | cut -f1), written by" \
        "redis-server): ms from exec to the first PONG; median of $ROUNDS starts"
    printf '%-6s %10s %12s %8s\n' server "load ms" "empty dir ms" keys
    for server in kevy redis; do
        if [[ $server == kevy ]] && ((!kevy_load)); then
            printf '%-6s kevy: not supported yet\n' kevy
            continue
        fi
        printf '%-6s %10s %12s %8s\n' "$server" \
            "$(awk -F'\t' -v s="$server" '$1==s {print $3}' "$OUT/load.tsv" | median)" \
            "$(awk -F'\t' -v s="$server" '$1==s {print $4}' "$OUT/load.tsv" | median)" \
            "$(awk -F'\t' -v s="$server" '$1==s {print $5}' "$OUT/load.tsv" | median)"
    done
    if ((kevy_load)); then
        echo "kevy/redis load time: $(ratio "$(awk -F'\t' '$1=="kevy" {print $3}' "$OUT/load.tsv" | median)" \
            "$(awk -F'\t' '$1=="redis" {print $3}' "$OUT/load.tsv" | median)")"
    fi
}

persist_main() {
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 not found (the bgsave mode samples memory with it)" >&2
        exit 1
    fi
    case $MODE in
    aof) aof_main ;;
    bgsave) bgsave_main ;;
    esac
    echo
    echo "raw results: $OUT"
}
