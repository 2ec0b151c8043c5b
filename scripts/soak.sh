#!/usr/bin/env bash
# Soak and memory checks of kevy-server. Each check prints its numbers and
# PASS or FAIL; the script exits 1 when any check failed. Slow and
# memory-hungry (the flush check loads ~500 MB), so not part of test.sh.
#
# usage: scripts/soak.sh [CHECK...]        CHECKs: soak noread flush keys
#                                          (default: all four, in that order)
#
#   soak    kevy --cores 2 under $SOAK_N mixed cross-shard commands from
#           mixload (GET/SET of random keys; MGET/MSET/DEL/EXISTS of 4
#           random keys; MULTI / SET / GET / DEL / EXEC blocks whose first
#           two keys lie on different shards), in segments of fresh
#           connections. Fails when VmRSS grew more than $SOAK_MAX_GROWTH_MB
#           MB from after the warm-up to the end (both read after the same
#           settling pause).
#   noread  clients that pipeline GETs of a 100 KB value and never read the
#           replies. Each connection alternates two keys that lie on
#           different shards, so whichever shard SO_REUSEPORT hands it to,
#           half its GETs are for the other shard. Fails when VmRSS reaches
#           $NOREAD_LIMIT_MB MB within $NOREAD_SECS s, or when the server
#           does not answer PING once the clients are gone.
#   flush   loads ~500 MB (500k keys x 1000 bytes), FLUSHALL, then polls
#           VmRSS every second; fails unless it is back within
#           $FLUSH_SLACK_MB MB of the RSS before loading within $FLUSH_WAIT s.
#   keys    1M keys with 16-byte values into kevy --cores 1, then into
#           --cores 2; fails unless the bytes per key (VmRSS growth / keys)
#           of --cores 2 are within $KEYS_TOLERANCE_PCT % of --cores 1.
#
# SOAK_SERVER=redis runs soak, noread and flush against redis-server
# instead (keys needs --cores and is skipped), to check the checks: a server
# that frees what it is done with passes soak and flush. (redis-server fails
# noread: by default it does not limit a normal client's output buffer.)
#
# Env (defaults in brackets):
#   SOAK_SERVER          kevy or redis                             [kevy]
#   KEVY_BIN             kevy-server binary   [target/release/kevy-server,
#                                              built if missing]
#   SOAK_N               soak: commands after the warm-up          [5000000]
#   SOAK_WARMUP          soak: commands of the warm-up             [SOAK_N/10]
#   SOAK_SEGMENTS        soak: mixload runs the commands span      [10]
#   SOAK_SETTLE          soak: seconds before each RSS reading     [12]
#   SOAK_MAX_GROWTH_MB   soak: allowed RSS growth                  [5]
#   NOREAD_SECS          noread: seconds of sending                [10]
#   NOREAD_CONNS         noread: connections                       [4]
#   NOREAD_LIMIT_MB      noread: RSS limit                         [64]
#   NOREAD_ABORT_MB      noread: RSS at which the clients give up
#                        at once, so a leak cannot exhaust the box [2048]
#   FLUSH_KEYS           flush: keys loaded                        [500000]
#   FLUSH_VALUE          flush: value bytes                        [1000]
#   FLUSH_WAIT           flush: seconds to wait for the RSS        [30]
#   FLUSH_SLACK_MB       flush: allowed RSS above the start        [20]
#   KEYS_N               keys: keys loaded                         [1000000]
#   KEYS_VALUE           keys: value bytes                         [16]
#   KEYS_SETTLE          keys: seconds before the RSS reading      [12]
#   KEYS_TOLERANCE_PCT   keys: allowed difference                  [10]
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

KEVY=${KEVY_BIN:-$ROOT/target/release/kevy-server}
SERVER=${SOAK_SERVER:-kevy}
MIXLOAD=$ROOT/target/release/mixload
SOAK_N=${SOAK_N:-5000000}
SOAK_WARMUP=${SOAK_WARMUP:-$((SOAK_N / 10))}
SOAK_SEGMENTS=${SOAK_SEGMENTS:-10}
SOAK_SETTLE=${SOAK_SETTLE:-12}
SOAK_MAX_GROWTH_MB=${SOAK_MAX_GROWTH_MB:-5}
NOREAD_SECS=${NOREAD_SECS:-10}
NOREAD_CONNS=${NOREAD_CONNS:-4}
NOREAD_LIMIT_MB=${NOREAD_LIMIT_MB:-64}
NOREAD_ABORT_MB=${NOREAD_ABORT_MB:-2048}
FLUSH_KEYS=${FLUSH_KEYS:-500000}
FLUSH_VALUE=${FLUSH_VALUE:-1000}
FLUSH_WAIT=${FLUSH_WAIT:-30}
FLUSH_SLACK_MB=${FLUSH_SLACK_MB:-20}
KEYS_N=${KEYS_N:-1000000}
KEYS_VALUE=${KEYS_VALUE:-16}
KEYS_SETTLE=${KEYS_SETTLE:-12}
KEYS_TOLERANCE_PCT=${KEYS_TOLERANCE_PCT:-10}

CHECKS=("$@")
if ((${#CHECKS[@]} == 0)); then CHECKS=(soak noread flush keys); fi
case $SERVER in
kevy | redis) ;;
*)
    echo "SOAK_SERVER must be kevy or redis, not $SERVER" >&2
    exit 1
    ;;
esac
for c in "${CHECKS[@]}"; do
    case $c in
    soak | noread | flush | keys) ;;
    *)
        echo "unknown check $c; usage: scripts/soak.sh [soak] [noread] [flush] [keys]" >&2
        exit 1
        ;;
    esac
done

tools=(redis-cli python3)
if [[ $SERVER == redis ]]; then tools+=(redis-server); fi
for tool in "${tools[@]}"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$tool not found (redis-cli: apt-get install -y redis-tools)" >&2
        exit 1
    fi
done

if [[ ! -x $KEVY ]]; then
    echo "==> cargo build --release -p kevy-server" >&2
    cargo build --release -p kevy-server >&2
fi
if [[ ! -x $MIXLOAD ]]; then
    echo "==> cargo build --release -p kevy-benches --bin mixload" >&2
    cargo build --release -p kevy-benches --bin mixload >&2
fi
if [[ $SERVER == kevy ]]; then
    echo "kevy-server: $KEVY ($(date -r "$KEVY" '+%F %T'))" >&2
else
    redis-server --version | head -n1 >&2
fi

OUT="$ROOT/target/soak/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# start CORES: a fresh kevy-server --cores CORES (or redis-server, which
# ignores CORES) on a free port; sets SERVER_PID and PORT.
start() {
    PORT=$(pick_port)
    if [[ $SERVER == redis ]]; then
        redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no --dir "$OUT" --logfile "$OUT/redis.log" &
    else
        nosave_args "$KEVY" "$OUT"
        "$KEVY" --port "$PORT" --bind 127.0.0.1 --cores "$1" "${NOSAVE[@]}" >>"$OUT/kevy.log" 2>&1 &
    fi
    SERVER_PID=$!
    for _ in $(seq 200); do
        if [[ $(redis-cli -p "$PORT" PING 2>/dev/null) == PONG ]]; then
            return
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "$SERVER exited during startup; see $OUT" >&2
            exit 1
        fi
        sleep 0.05
    done
    echo "$SERVER did not answer PING within 10 s" >&2
    exit 1
}

# VmRSS of the server in kB; 0 once it is gone.
# label CORES: what runs, for the headings.
label() { if [[ $SERVER == redis ]]; then echo redis-server; else echo "kevy --cores $1"; fi; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

FAILED=()
verdict() {
    local check=$1 ok=$2 what=${*:3}
    if ((ok)); then
        echo "PASS $check: $what"
    else
        echo "FAIL $check: $what"
        FAILED+=("$check")
    fi
}

# SETs of keys PREFIX0 .. PREFIX<N-1> with VALUE-byte values, as RESP.
# shellcheck disable=SC2016 # the $ are RESP's, in Python
SETS_PY='
import sys
prefix, n, size = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3])
value = b"v" * size
head = b"*3\r\n$3\r\nSET\r\n"
tail = b"$%d\r\n%s\r\n" % (size, value)
out = sys.stdout.buffer
buf = []
for i in range(n):
    k = prefix + b"%d" % i
    buf.append(head + b"$%d\r\n%s\r\n" % (len(k), k) + tail)
    if len(buf) == 10000:
        out.write(b"".join(buf))
        buf = []
out.write(b"".join(buf))
'

# load PREFIX N SIZE LOG: sets N keys through redis-cli --pipe; fails the
# script on any error.
load() {
    if ! python3 -c "$SETS_PY" "$1" "$2" "$3" | redis-cli -p "$PORT" --pipe >"$4" 2>&1 ||
        ! grep -q 'errors: 0,' "$4"; then
        echo "loading $2 keys failed; see $4" >&2
        exit 1
    fi
}

# The never-reading clients: CONNS connections, each with a small receive
# buffer so that the replies back up into the server soon, pipelining
# GET KEY_A / GET KEY_B alternately as fast as the server takes them, and
# never reading. Samples the server's VmRSS every 0.5 s and prints it each
# second; gives up early past ABORT_MB. Prints "MAX_RSS_KB" last.
# shellcheck disable=SC2016 # the $ are RESP's, in Python
NOREAD_PY='
import socket, sys, time
port, pid, conns, secs, abort_mb = (int(x) for x in sys.argv[1:6])
keys = sys.argv[6:8]
def rss_kb():
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
def get(k):
    k = k.encode()
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)
chunk = (get(keys[0]) + get(keys[1])) * 500
socks = []
for _ in range(conns):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    socks.append([s, memoryview(chunk)])
sent = 0
peak = rss_kb()
t0 = time.monotonic()
next_sample = t0
next_print = t0 + 1
while True:
    now = time.monotonic()
    if now >= next_sample:
        peak = max(peak, rss_kb())
        next_sample = now + 0.5
        if peak > abort_mb * 1024:
            print("  RSS %.1f MB > %d MB: giving up early" % (peak / 1024, abort_mb), flush=True)
            break
    if now >= next_print:
        print("  t=%4.1fs  sent %8.1f MB of GETs (%d commands)  server RSS %7.1f MB"
              % (now - t0, sent / 2**20, sent * 1000 // len(chunk), rss_kb() / 1024), flush=True)
        next_print += 1
    if now - t0 >= secs:
        break
    moved = False
    for entry in socks:
        s, rest = entry
        try:
            n = s.send(rest)
        except BlockingIOError:
            continue
        sent += n
        moved = True
        rest = rest[n:]
        entry[1] = rest if len(rest) else memoryview(chunk)
    if not moved:
        time.sleep(0.01)
peak = max(peak, rss_kb())
for s, _ in socks:
    s.close()
print(peak)
'

# ------------------------------------------------------------------ soak

check_soak() {
    echo
    echo "==> soak: $(label 2), $SOAK_WARMUP warm-up + $SOAK_N mixed commands"
    local mix=get=40,set=20,mget=8,mset=8,del=4,exists=8,tx=4
    local per=$((SOAK_N / SOAK_SEGMENTS)) seg warm end log="$OUT/soak-mixload.log"
    start 2
    local args=(-p "$PORT" --no-prefill --mix "$mix" --multi-keys 4 --keys 100000
        --value-size 32 -q)
    echo "  start             RSS $(mb "$(rss_kb)") MB"
    if ! "$MIXLOAD" -p "$PORT" --prefill-only --keys 100000 --value-size 32 -q >>"$log" 2>&1 ||
        ! "$MIXLOAD" "${args[@]}" -n "$SOAK_WARMUP" --seed 0 >>"$log" 2>&1; then
        echo "mixload failed; see $log" >&2
        exit 1
    fi
    echo "  after warm-up     RSS $(mb "$(rss_kb)") MB"
    sleep "$SOAK_SETTLE"
    warm=$(rss_kb)
    echo "  settled ${SOAK_SETTLE}s       RSS $(mb "$warm") MB   <- baseline"
    for seg in $(seq "$SOAK_SEGMENTS"); do
        local t0=$SECONDS
        if ! "$MIXLOAD" "${args[@]}" -n "$per" --seed "$seg" >>"$log" 2>&1; then
            echo "mixload failed; see $log" >&2
            exit 1
        fi
        printf '  segment %2d/%d      RSS %s MB   (%d commands, %s req/s, %d s)\n' "$seg" \
            "$SOAK_SEGMENTS" "$(mb "$(rss_kb)")" "$per" "$(tail -n1 "$log" | cut -f1)" \
            $((SECONDS - t0))
    done
    sleep "$SOAK_SETTLE"
    end=$(rss_kb)
    echo "  settled ${SOAK_SETTLE}s       RSS $(mb "$end") MB   keys: $(redis-cli -p "$PORT" DBSIZE)"
    local grew=$((end - warm))
    verdict soak $((grew <= SOAK_MAX_GROWTH_MB * 1024)) \
        "RSS grew $(mb "$grew") MB after warm-up (limit $SOAK_MAX_GROWTH_MB MB)"
    stop_server
}

# ---------------------------------------------------------------- noread

check_noread() {
    echo
    echo "==> noread: $NOREAD_CONNS never-reading clients, GETs of 100 KB values, $NOREAD_SECS s"
    local key_a slot_a key_b slot_b before peak after pong ok=1 log="$OUT/noread.log"
    read -r key_a slot_a key_b slot_b < <(two_shard_keys big)
    start 2
    python3 -c 'import sys; sys.stdout.write("v" * 102400)' | redis-cli -p "$PORT" -x SET "$key_a" >/dev/null
    python3 -c 'import sys; sys.stdout.write("v" * 102400)' | redis-cli -p "$PORT" -x SET "$key_b" >/dev/null
    echo "  keys $key_a (slot $slot_a) and $key_b (slot $slot_b), $(redis-cli -p "$PORT" STRLEN "$key_a") bytes each"
    before=$(rss_kb)
    echo "  before            RSS $(mb "$before") MB"
    python3 -c "$NOREAD_PY" "$PORT" "$SERVER_PID" "$NOREAD_CONNS" "$NOREAD_SECS" \
        "$NOREAD_ABORT_MB" "$key_a" "$key_b" | tee "$log" | sed '$d'
    peak=$(tail -n1 "$log")
    # The clients are gone; the server must notice and keep serving.
    pong=$(timeout 10 redis-cli -p "$PORT" PING 2>&1 || true)
    sleep 2
    after=$(rss_kb)
    echo "  peak RSS $(mb "$peak") MB; after disconnect: PING -> ${pong:-nothing}, RSS $(mb "$after") MB"
    ((peak < NOREAD_LIMIT_MB * 1024)) || ok=0
    [[ $pong == PONG ]] || ok=0
    verdict noread "$ok" "peak RSS $(mb "$peak") MB (limit $NOREAD_LIMIT_MB MB), PING after: ${pong:-nothing}"
    stop_server
}

# ----------------------------------------------------------------- flush

check_flush() {
    echo
    echo "==> flush: $FLUSH_KEYS keys x $FLUSH_VALUE bytes into $(label 2), FLUSHALL"
    local base loaded now limit t ok=0
    start 2
    sleep 1
    base=$(rss_kb)
    limit=$((base + FLUSH_SLACK_MB * 1024))
    echo "  start             RSS $(mb "$base") MB"
    load fill: "$FLUSH_KEYS" "$FLUSH_VALUE" "$OUT/flush-load.log"
    loaded=$(rss_kb)
    echo "  loaded            RSS $(mb "$loaded") MB   keys: $(redis-cli -p "$PORT" DBSIZE)"
    echo "  FLUSHALL -> $(redis-cli -p "$PORT" FLUSHALL)   keys: $(redis-cli -p "$PORT" DBSIZE)"
    for t in $(seq 0 "$FLUSH_WAIT"); do
        now=$(rss_kb)
        echo "  t=${t}s             RSS $(mb "$now") MB"
        if ((now <= limit)); then
            ok=1
            break
        fi
        if ((t < FLUSH_WAIT)); then sleep 1; fi
    done
    verdict flush "$ok" "RSS $(mb "$now") MB at t=${t}s after FLUSHALL; start $(mb "$base") MB +" \
        "$FLUSH_SLACK_MB MB = $(mb "$limit") MB (loaded: $(mb "$loaded") MB)"
    stop_server
}

# ------------------------------------------------------------------ keys

# per_key CORES: sets PER_KEY to the bytes of RSS growth per key after
# loading $KEYS_N keys into kevy --cores CORES.
per_key() {
    local before after
    start "$1"
    sleep 1
    before=$(rss_kb)
    load k: "$KEYS_N" "$KEYS_VALUE" "$OUT/keys-$1.log"
    sleep "$KEYS_SETTLE"
    after=$(rss_kb)
    PER_KEY=$(awk -v a="$after" -v b="$before" -v n="$KEYS_N" 'BEGIN {printf "%.1f", (a - b) * 1024 / n}')
    echo "  --cores $1: RSS $(mb "$before") -> $(mb "$after") MB," \
        "keys: $(redis-cli -p "$PORT" DBSIZE), $PER_KEY bytes/key"
    stop_server
}

check_keys() {
    echo
    echo "==> keys: $KEYS_N keys x $KEYS_VALUE-byte values, --cores 1 vs --cores 2"
    if [[ $SERVER == redis ]]; then
        echo "  skipped: redis-server has no --cores"
        return
    fi
    local one two ok
    per_key 1
    one=$PER_KEY
    per_key 2
    two=$PER_KEY
    ok=$(awk -v a="$one" -v b="$two" -v p="$KEYS_TOLERANCE_PCT" \
        'BEGIN {d = b / a - 1; if (d < 0) d = -d; print (a > 0 && d * 100 <= p) ? 1 : 0}')
    verdict keys "$ok" "--cores 2 $two bytes/key vs --cores 1 $one bytes/key:" \
        "$(awk -v a="$one" -v b="$two" 'BEGIN {printf "%+.1f %%", (b / a - 1) * 100}')" \
        "(limit ±$KEYS_TOLERANCE_PCT %)"
}

T0=$SECONDS
for c in "${CHECKS[@]}"; do
    "check_$c"
done
echo
echo "checks: ${CHECKS[*]}; $((SECONDS - T0)) s; logs: $OUT"
if ((${#FAILED[@]})); then
    echo "FAILED: ${FAILED[*]}"
    exit 1
fi
echo "all passed"
