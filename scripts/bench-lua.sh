# shellcheck shell=bash
# The scripting mode of bench.sh (`scripts/bench.sh lua`); bench.sh sources
# this file after its setup and calls lua_main. Not run on its own.
#
# EVALSHA of a small script, `redis.call('INCR', KEYS[1]); return
# redis.call('GET', KEYS[2])`, loaded with SCRIPT LOAD, sent by
# redis-benchmark as a custom command with $CLIENTS clients at -P 16 and
# -P 1:
#
#   same shard   keys {s}:a and {s}:b: redis-server and kevy --cores 1,
#                each pinned to CPU 0, load on CPU 1 (the issue's target:
#                kevy >= 1.2x Redis's req/s)
#   two shards   keys on the two shards of a 2-shard kevy: kevy --cores 2,
#                unpinned, against redis-server with the same keys
#
# Reports the medians over $ROUNDS rounds (a fresh server per round) of
# req/s and the server's CPU per request (utime+stime over the run,
# /proc/PID/stat), and the ratios to Redis.
#
# Env (besides bench.sh's BENCH_ROUNDS, BENCH_CLIENTS):
#   BENCH_LUA_N   requests per run   [300000 at -P 16, a fifth at -P 1]

LUA_N=${BENCH_LUA_N:-300000}
CLK_TCK=$(getconf CLK_TCK)
LUA_SCRIPT="redis.call('INCR', KEYS[1]); return redis.call('GET', KEYS[2])"

lua_ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; }

# lua_run CASE SERVER CPUS ROUND KEY1 KEY2: one server, both pipelines.
lua_run() {
    local case=$1 server=$2 cpus=$3 round=$4 k1=$5 k2=$6 sha p n csv t0 t1 rps
    start "$server" "$cpus"
    sha=$(redis-cli -p "$PORT" SCRIPT LOAD "$LUA_SCRIPT")
    redis-cli -p "$PORT" SET "$k2" hello >/dev/null
    for p in 16 1; do
        n=$LUA_N
        if ((p == 1)); then n=$((LUA_N / 5)); fi
        echo "  round $round/$ROUNDS  $case  $server  -P $p" >&2
        csv="$OUT/lua-$case-${server/:/}-P$p-round$round.csv"
        pin_prefix 1
        t0=$(lua_ticks)
        if ! "${PIN[@]}" timeout 600 redis-benchmark -p "$PORT" -c "$CLIENTS" -n "$n" -P "$p" \
            --csv evalsha "$sha" 2 "$k1" "$k2" >"$csv" 2>"$csv.err"; then
            echo "redis-benchmark failed against $server:" >&2
            cat "$csv.err" "$csv" >&2
            exit 1
        fi
        t1=$(lua_ticks)
        rps=$(sed -n 's/^"[^"]*","\([0-9.]*\)".*/\1/p' "$csv" | tail -n1)
        awk -v OFS='\t' -v c="$case" -v s="${server%%:*}" -v p="$p" -v r="$round" \
            -v rps="$rps" -v dt=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$n" \
            'BEGIN {print c, s, p, r, rps, sprintf("%.3f", dt * 1e6 / hz / n)}' >>"$OUT/lua.tsv"
    done
    # The script ran: the counter holds every request.
    local got want
    got=$(redis-cli -p "$PORT" GET "$k1")
    want=$((LUA_N + LUA_N / 5))
    if [[ $got != "$want" ]]; then
        echo "$server: $k1 is $got after $want scripts" >&2
        exit 1
    fi
    stop_server
}

# lmed CASE SERVER PIPELINE COLUMN: the median over the rounds (5 = req/s,
# 6 = us/req).
lmed() {
    awk -F'\t' -v c="$1" -v s="$2" -v p="$3" -v k="$4" '$1==c && $2==s && $3==p {print $k}' \
        "$OUT/lua.tsv" | median
}

# lratio CASE PIPELINE COLUMN: the median over the rounds of kevy's figure
# over Redis's in the same round (each round runs both back to back, so a
# load swing on the machine moves both sides of a ratio alike).
lratio() {
    awk -F'\t' -v c="$1" -v p="$2" -v k="$3" '$1==c && $3==p {v[$2, $4] = $k; r[$4] = 1}
        END {for (i in r) if (v["redis", i] > 0) print v["kevy", i] / v["redis", i]}' \
        "$OUT/lua.tsv" | median
}

lua_main() {
    : >"$OUT/lua.tsv"
    local a b round
    read -r a _ b _ <<<"$(two_shard_keys lua)"
    for round in $(seq "$ROUNDS"); do
        lua_run same redis 0 "$round" "{s}:a" "{s}:b"
        lua_run same kevy:1 0 "$round" "{s}:a" "{s}:b"
        lua_run two redis "" "$round" "$a" "$b"
        lua_run two kevy:2 "" "$round" "$a" "$b"
    done
    echo
    echo "EVALSHA of INCR KEYS[1] + GET KEYS[2], $CLIENTS clients, median of $ROUNDS rounds;"
    echo "us/req: server utime+stime / requests; ratios: the median of each round's ratio"
    printf '%-22s | %-22s | %-22s | %s\n' "case" "kevy req/s  us/req" "redis req/s  us/req" "kevy/redis req/s  CPU"
    local c p kr ku rr ru
    for c in same two; do
        for p in 16 1; do
            local k=kevy
            kr=$(lmed "$c" "$k" "$p" 5)
            ku=$(lmed "$c" "$k" "$p" 6)
            rr=$(lmed "$c" redis "$p" 5)
            ru=$(lmed "$c" redis "$p" 6)
            local label="$c shard -P $p"
            [[ $c == same ]] && label="same shard, c1 -P $p" || label="two shards, c2 -P $p"
            printf '%-22s | %10.0f  %8.2f | %10.0f  %8.2f | %8.2f  %8.2f\n' "$label" "$kr" "$ku" "$rr" "$ru" \
                "$(lratio "$c" "$p" 5)" "$(lratio "$c" "$p" 6)"
        done
    done
    echo "target (issue 11): same shard, kevy --cores 1 >= 1.2x Redis's req/s; two shards: reported"
    echo "raw results: $OUT (lua.tsv: case server pipeline round req/s us/req)"
}
