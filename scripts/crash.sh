#!/usr/bin/env bash
# The kill -9 crash test of persistence: crashtest (benches/src/bin/crashtest.rs)
# starts the server with --appendonly yes on a fresh directory, runs writers
# on many connections and shards (INCR, SET, RPUSH, SADD, and MULTI/EXEC and
# MSET groups spanning shards), SIGKILLs the server at a random moment,
# restarts it on the same directory and checks every key against what was
# acknowledged: under `always` nothing acknowledged may be missing, under
# `everysec` only what was acknowledged within the last --max-loss-ms, and a
# transaction group must be entirely present or entirely absent. Each round
# continues from the state read back.
#
# usage: scripts/crash.sh [long | short] [-- CRASHTEST_ARGS...]
#
#   long   (default) every scenario for $CRASH_ROUNDS rounds [100]
#   short  every scenario for 5 rounds (kevy-server's crash test runs a
#          shorter form of the first one in `cargo test`)
#
# Scenarios ($CRASH_SCENARIOS, FSYNC:JOB, space-separated):
#   always:none          the plain kill -9 test
#   everysec:none        losses reported, bounded by --max-loss-ms
#   always:bgrewriteaof  BGREWRITEAOF kept running in the moments before the
#                        kill, over $CRASH_FILL extra keys
#   always:bgsave        the same with BGSAVE
#
# The server is kevy-server (release build) restarted with --cores cycling
# through $CRASH_CORES, so each restart loads the data into another shard
# count; CRASH_SERVER=redis runs the same against redis-server (no --cores),
# which checks the harness.
#
# Env (defaults in brackets):
#   CRASH_SERVER     kevy or redis                                  [kevy]
#   CRASH_KEVY       kevy-server binary      [target/release/kevy-server, built]
#   CRASH_ROUNDS     rounds per scenario in the long form           [100]
#   CRASH_SCENARIOS  see above                   [all four, in that order]
#   CRASH_CORES      kevy's --cores of successive starts            [1,2,3]
#   CRASH_FILL       extra keys for the bgsave/bgrewriteaof scenarios [200000]
#   CRASH_SEED       random seed                                    [the clock]
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

FORM=long
if (($#)) && [[ $1 != -- ]]; then
    FORM=$1
    shift
fi
if (($#)) && [[ $1 == -- ]]; then shift; fi
EXTRA=("$@")
case $FORM in
long) ROUNDS=${CRASH_ROUNDS:-100} ;;
short) ROUNDS=5 ;;
*)
    echo "usage: scripts/crash.sh [long | short] [-- CRASHTEST_ARGS...]" >&2
    exit 1
    ;;
esac

SERVER=${CRASH_SERVER:-kevy}
SCENARIOS=${CRASH_SCENARIOS:-"always:none everysec:none always:bgrewriteaof always:bgsave"}
CORES=${CRASH_CORES:-1,2,3}
FILL=${CRASH_FILL:-200000}
SEED=${CRASH_SEED:-$(date +%s%N)}

echo "==> cargo build --release -p kevy-benches --bin crashtest" >&2
cargo build --release -p kevy-benches --bin crashtest >&2
CRASHTEST=$ROOT/target/release/crashtest
case $SERVER in
kevy)
    if [[ -z ${CRASH_KEVY:-} ]]; then
        echo "==> cargo build --release -p kevy-server" >&2
        cargo build --release -p kevy-server >&2
    fi
    BIN=${CRASH_KEVY:-$ROOT/target/release/kevy-server}
    SERVER_OPTS=(--cores "$CORES")
    ;;
redis)
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "redis-server not found; install with: apt-get install -y redis-server" >&2
        exit 1
    fi
    BIN=$(command -v redis-server)
    SERVER_OPTS=()
    ;;
*)
    echo "CRASH_SERVER must be kevy or redis, not $SERVER" >&2
    exit 1
    ;;
esac

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
if [[ $SERVER == kevy ]] && ! kevy_has_appendonly "$BIN"; then
    echo "kevy: not supported yet ($BIN refuses --appendonly yes); nothing to test"
    exit 0
fi

OUT="$ROOT/target/crash/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
# Run copies, so that a rebuild during the run cannot swap the binaries
# between rounds.
cp "$CRASHTEST" "$OUT/crashtest"
if [[ $SERVER == kevy ]]; then
    cp "$BIN" "$OUT/kevy-server"
    BIN=$OUT/kevy-server
fi

FAILED=()
T0=$SECONDS
for sc in $SCENARIOS; do
    fsync=${sc%%:*}
    job=${sc#*:}
    args=(--server "$BIN" --rounds "$ROUNDS" --fsync "$fsync" --during "$job" --seed "$SEED")
    if [[ $job != none ]]; then args+=(--fill "$FILL"); fi
    echo
    echo "==> $sc: $SERVER, $ROUNDS rounds"
    log="$OUT/$fsync-$job.log"
    set +e
    "$OUT/crashtest" "${args[@]}" --dir "$OUT/$fsync-$job" "${SERVER_OPTS[@]}" "${EXTRA[@]}" 2>&1 |
        tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    if ((status != 0)); then FAILED+=("$sc"); fi
done

echo
echo "$SERVER ($BIN), $FORM form, seed $SEED, $((SECONDS - T0)) s; logs: $OUT"
if ((${#FAILED[@]})); then
    echo "FAILED: ${FAILED[*]}"
    exit 1
fi
echo "all passed"
