# shellcheck shell=bash
# Shared by the scripts that start a server of their own (test.sh, bench.sh,
# memory.sh): free-port picking and stopping the server on exit. Source it;
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
