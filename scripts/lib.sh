# shellcheck shell=bash
# Shared by the scripts that start a server of their own (test.sh, bench.sh,
# memory.sh, soak.sh): free-port picking, stopping the server on exit, and
# key names on chosen shards. Source it;
# the caller sets SERVER_PID when it starts a server.

SERVER_PID=""

# Stops the running server, if any.
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

# Extra work for the exit trap (a script may set it, e.g. to remove files).
on_exit() { :; }
trap 'stop_server; on_exit' EXIT

# nosave_args BIN DIR: sets NOSAVE to the flags that keep kevy-server BIN
# from saving on exit (Redis's default save points make it save on SIGTERM,
# into the working directory, and load that file on the next start) and
# that give it DIR as its working directory, so that it does not load a
# dump.rdb some other run left in this one's; empty for a build that
# predates them.
nosave_args() {
    # A build that takes any parameter as a flag says so in its --help
    # (given alone: a later --help is a config directive, as in Redis).
    if "$1" --help 2>/dev/null | grep -q -- '--<name> <value>'; then
        NOSAVE=(--save '' --dir "$2")
    else
        NOSAVE=()
    fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free port below the kernel's ephemeral range (32768-60999 by default), so
# no client connection's local port can take it between the check and bind.
pick_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 12000))
        if port_free "$p"; then
            echo "$p"
            return
        fi
    done
    echo "no free port found" >&2
    exit 1
}

# kevy_has_appendonly BIN: whether kevy-server BIN starts with
# --appendonly yes. kevy refuses a parameter it does not implement at
# startup, before it listens, so a server still running after a moment took
# it.
kevy_has_appendonly() {
    local dir pid
    dir=$(mktemp -d)
    (cd "$dir" && exec "$1" --port "$(pick_port)" --bind 127.0.0.1 --appendonly yes) >"$dir/out" 2>&1 &
    pid=$!
    for _ in $(seq 40); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            if ! grep -q "is not supported" "$dir/out"; then
                echo "$1 --appendonly yes exited:" >&2
                cat "$dir/out" >&2
            fi
            rm -rf "$dir"
            return 1
        fi
        sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
    return 0
}

# two_shard_keys PREFIX: prints "PREFIX:0 SLOT PREFIX:N SLOT", two key names
# on different shards of a 2-shard kevy (shard = slot % 2). Slots are Redis
# Cluster's, as kevy_rt::slot: CRC16 (XMODEM) of the key or its hash tag,
# mod 16384.
two_shard_keys() {
    python3 - "$1" <<'PY'
import sys
def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc
def slot(key):
    k = key.encode()
    o = k.find(b"{")
    if o >= 0:
        c = k.find(b"}", o + 1)
        if c > o + 1:
            k = k[o + 1:c]
    return crc16(k) % 16384
assert crc16(b"123456789") == 0x31C3 and slot("foo") == 12182
p = sys.argv[1]
a = p + ":0"
b = next("%s:%d" % (p, i) for i in range(1, 1000) if slot("%s:%d" % (p, i)) % 2 != slot(a) % 2)
print(a, slot(a), b, slot(b))
PY
}
