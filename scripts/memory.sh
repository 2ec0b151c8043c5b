#!/usr/bin/env bash
# Memory of kevy-server against redis-server for the same data: each dataset
# is loaded into a fresh redis-server, then into a fresh kevy-server
# --cores 1, one server at a time, with `redis-cli --pipe` fed by a RESP
# generator. Reports the growth of the process's resident set (VmRSS in
# /proc/<pid>/status after loading minus before) and the ratio kevy/redis.
#
# RSS is what the machine pays, allocator overhead and fragmentation
# included; it is not INFO's used_memory.
#
# Datasets (N = MEM_N):
#   hash         one hash with N fields     (field f:<i>, value v:<i>)
#   set          one set with N members     (member m:<i>)
#   zset         one sorted set, N members  (member m:<i>, score i)
#   smallhashes  N hashes of 10 fields each (key h:<i>, fields f0..f9,
#                values v<j>)
#
# Env (defaults in brackets):
#   MEM_N         elements per dataset               [1000000]
#   MEM_DATASETS  comma-separated datasets to run    [hash,set,zset,smallhashes]
#   MEM_SETTLE    seconds to wait after loading before reading RSS [12]
#   KEVY_BIN      kevy-server binary                 [target/release/kevy-server,
#                                                     built if missing]
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

N=${MEM_N:-1000000}
DATASETS=${MEM_DATASETS:-hash,set,zset,smallhashes}
SETTLE=${MEM_SETTLE:-12}
KEVY=${KEVY_BIN:-$ROOT/target/release/kevy-server}

for tool in redis-server redis-cli python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$tool not found (redis: apt-get install -y redis-server redis-tools)" >&2
        exit 1
    fi
done

if [[ ! -x $KEVY ]]; then
    echo "==> cargo build --release -p kevy-server" >&2
    cargo build --release -p kevy-server >&2
fi

OUT="$ROOT/target/memory/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# start NAME: starts a fresh redis or kevy on a free port; sets SERVER_PID
# and PORT.
start() {
    local name=$1
    PORT=$(pick_port)
    case $name in
    redis)
        redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no --dir "$OUT" --logfile "$OUT/redis.log" &
        ;;
    kevy)
        nosave_args "$KEVY" "$OUT"
        "$KEVY" --port "$PORT" --bind 127.0.0.1 --cores 1 "${NOSAVE[@]}" >>"$OUT/kevy.log" 2>&1 &
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


rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }

# The generator: writes DATASET's commands for N elements as RESP to
# stdout. Collections go in batches of 1000 elements per command.
GEN='
import sys
ds, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
BATCH = 1000

def cmd(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)

def batches(make):
    for lo in range(0, n, BATCH):
        yield make(range(lo, min(n, lo + BATCH)))

if ds == "hash":
    def make(r):
        a = [b"HSET", b"hash"]
        for i in r:
            a += [b"f:%d" % i, b"v:%d" % i]
        return a
elif ds == "set":
    def make(r):
        return [b"SADD", b"set"] + [b"m:%d" % i for i in r]
elif ds == "zset":
    def make(r):
        a = [b"ZADD", b"zset"]
        for i in r:
            a += [b"%d" % i, b"m:%d" % i]
        return a
elif ds == "smallhashes":
    fields = []
    for j in range(10):
        fields += [b"f%d" % j, b"v%d" % j]
    buf = []
    for i in range(n):
        buf.append(cmd([b"HSET", b"h:%d" % i] + fields))
        if len(buf) == 10000:
            out.write(b"".join(buf))
            buf = []
    out.write(b"".join(buf))
    sys.exit(0)
else:
    sys.exit("unknown dataset " + ds)

for args in batches(make):
    out.write(cmd(args))
'

# measure NAME DATASET: sets RESULT to the RSS growth in kB, or "-" when
# loading failed (e.g. kevy does not know the command yet). Runs in this
# shell, not a subshell, so the EXIT trap always sees the server.
measure() {
    local name=$1 ds=$2 before after log
    log="$OUT/$ds-$name.pipe.log"
    start "$name"
    sleep 0.2
    before=$(rss_kb)
    RESULT="-"
    if python3 -c "$GEN" "$ds" "$N" | redis-cli -p "$PORT" --pipe >"$log" 2>&1 &&
        grep -q 'errors: 0,' "$log"; then
        # Steady state, not the loading peak: both allocators return pages
        # freed by rehashing and reallocation in the background.
        sleep "$SETTLE"
        after=$(rss_kb)
        RESULT=$((after - before))
        echo "  $name: $((RESULT / 1024)) MB" >&2
    else
        echo "  $name: loading $ds failed; see $log" >&2
    fi
    stop_server
}

mb() { awk -v k="$1" 'BEGIN {if (k == "-") print "-"; else printf "%.1f", k / 1024}'; }

ratio() { awk -v r="$1" -v k="$2" 'BEGIN {if (r == "-" || k == "-" || r <= 0) print "-"; else printf "%.2f", k / r}'; }

describe() {
    case $1 in
    hash) echo "1 hash, $N fields" ;;
    set) echo "1 set, $N members" ;;
    zset) echo "1 zset, $N members" ;;
    smallhashes) echo "$N hashes x 10 fields" ;;
    *) echo "$1" ;;
    esac
}

declare -A REDIS KEVY_KB
IFS=',' read -r -a list <<<"$DATASETS"
for ds in "${list[@]}"; do
    echo "==> $ds" >&2
    measure redis "$ds"
    REDIS[$ds]=$RESULT
    measure kevy "$ds"
    KEVY_KB[$ds]=$RESULT
done

echo
echo "RSS growth after loading (VmRSS after - before, MB = 2^20 bytes)"
redis-server --version | head -n1
printf '%-28s %10s %10s %11s\n' dataset "redis MB" "kevy MB" kevy/redis
for ds in "${list[@]}"; do
    printf '%-28s %10s %10s %11s\n' "$(describe "$ds")" "$(mb "${REDIS[$ds]}")" \
        "$(mb "${KEVY_KB[$ds]}")" "$(ratio "${REDIS[$ds]}" "${KEVY_KB[$ds]}")"
done
echo
echo "logs: $OUT"
