# Shared helpers for peerflow's integration tests (tests/it_*.sh) and benches.
# Source it first thing:   . "$(dirname "$0")/lib.sh"
#
# Environment (set by ctest, see CMakeLists.txt; defaults for a manual run):
#   PF_SRC    source tree              (default: this file's ../)
#   PF_BUILD  build tree               (default: $PF_SRC/build)
#   PF_BIN    the peerflow binary      (default: $PF_BUILD/peerflow)
#   PF_NODE_DIR  WebTorrent install    (default: $PF_SRC/.pf-node)
#   PF_KEEP=1    keep the temp dir (path printed at exit)
#
# Process model: every helper process is started by `spawn NAME CMD...` in its
# own session/process group (setsid), with stdout+stderr in $T/logs/NAME.log.
# The EXIT trap kills every spawned group (TERM, then KILL) and, if the test
# failed, prints the tail of every log. A watchdog (pf_setup's budget) kills
# the whole test when it overruns.
set -euo pipefail

PF_SRC=${PF_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PF_BUILD=${PF_BUILD:-$PF_SRC/build}
PF_BIN=${PF_BIN:-$PF_BUILD/peerflow}
PF_NODE_DIR=${PF_NODE_DIR:-$PF_SRC/.pf-node}
PF_BROWSER_DIR=${PF_BROWSER_DIR:-$PF_SRC/.pf-browser}
export PF_SRC PF_BUILD PF_BIN PF_NODE_DIR PF_BROWSER_DIR
PY=/usr/bin/python3
LT_PEER="$PY $PF_SRC/tests/peers/lt_peer.py"
WT_PEER="node $PF_SRC/tests/peers/wt_peer.mjs"
TR_PEER="bash $PF_SRC/tests/peers/tr_peer.sh"

TEST_NAME=$(basename "${0%.*}")
T=
_PF_PIDS=()
declare -A _PF_CMDS=()   # spawn NAME's command line (for the libtorrent retry)
declare -A _PF_RETRIED=()
declare -A _PF_SPAWNED_AT=()  # spawn NAME's start time (seconds since the epoch)
_PF_NAMES=()
_PF_WATCHDOG=
_PF_T0=$(date +%s.%N)

log() { printf '[%s %6ss] %s\n' "$TEST_NAME" "$(_elapsed)" "$*" >&2; }
_elapsed() { awk -v a="$(date +%s.%N)" -v b="$_PF_T0" 'BEGIN { printf "%.2f", a - b }'; }
fail() { log "FAIL: $*"; exit 1; }

# skip REASON: exit 0 with a clear SKIP line. Only for optional components
# that truly cannot be had (the reference peers are installed by
# scripts/install-deps.sh --test and scripts/install-node-peers.sh; a missing
# one is a failure, not a skip).
skip() { echo "SKIP: $TEST_NAME: $*"; _PF_SKIPPED=1; exit 0; }

# pf_netns_enter "$@": first thing in a test (before pf_setup), re-runs the
# test in a network namespace of its own that has only `lo` (brought up):
# `unshare -n` as root, `unshare -rn` (a user namespace) otherwise.  For
# tests that start programs which talk to outside addresses on their own
# (Chromium's update checks and the like): every server the test needs is
# started inside too, so nothing leaves loopback.
pf_netns_enter() {
    if [ -n "${PF_IN_NETNS:-}" ]; then
        [ "$(ip -o link show | wc -l)" = 1 ] || fail "pf_netns_enter: more than lo in the namespace"
        return 0
    fi
    command -v unshare >/dev/null 2>&1 || fail "unshare missing (util-linux)"
    command -v ip >/dev/null 2>&1 || fail "ip missing (iproute2)"
    local u=-n
    [ "$(id -u)" = 0 ] || u=-rn
    PF_IN_NETNS=1 exec unshare "$u" -- bash -c 'ip link set lo up && exec bash "$@"' bash "$0" "$@"
}

# pf_setup [BUDGET_SECONDS]: temp dir $T (+ $T/logs), XDG_STATE_HOME=$T/state,
# cleanup trap, watchdog.
pf_setup() {
    local budget=${1:-60}
    local base=${PF_TMP:-/tmp}
    T=$(mktemp -d "$base/pf-$TEST_NAME.XXXXXX")
    mkdir -p "$T/logs"
    # The CLI's per-user state (the piece tag key, the upload budget's
    # default file) in the test's own folder, never the user's.
    export XDG_STATE_HOME=$T/state
    trap '_pf_cleanup $?' EXIT
    trap 'log "interrupted"; exit 130' INT
    trap 'log "watchdog: over the ${budget}s budget"; exit 124' USR1
    setsid bash -c "sleep $budget; kill -USR1 $$" >/dev/null 2>&1 </dev/null &
    _PF_WATCHDOG=$!
    log "temp dir $T (budget ${budget}s)"
}

# on_exit CMD: run CMD (eval'd) first thing at cleanup, e.g. an umount.
_PF_ON_EXIT=()
on_exit() { _PF_ON_EXIT+=("$1"); }

_pf_cleanup() {
    local rc=$1 i pid
    set +e
    trap - EXIT INT USR1
    for i in "${_PF_ON_EXIT[@]}"; do eval "$i"; done
    [ -n "$_PF_WATCHDOG" ] && kill -- "-$_PF_WATCHDOG" 2>/dev/null
    for pid in "${_PF_PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    for _ in $(seq 30); do
        local alive=0
        for pid in "${_PF_PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for pid in "${_PF_PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    if [ "$rc" != 0 ] && [ -n "$T" ]; then
        for i in "${!_PF_NAMES[@]}"; do
            local f=$T/logs/${_PF_NAMES[$i]}.log
            [ -f "$f" ] || continue
            echo "----- ${_PF_NAMES[$i]} (pid ${_PF_PIDS[$i]}) log, last 40 lines: $f" >&2
            tr '\r' '\n' <"$f" | grep -v '^ *$' | tail -40 >&2 || true
        done
        echo "FAIL: $TEST_NAME (exit $rc) after $(_elapsed)s" >&2
    elif [ -z "${_PF_SKIPPED:-}" ]; then
        echo "PASS: $TEST_NAME in $(_elapsed)s" >&2
    fi
    if [ -n "$T" ]; then
        if [ "${PF_KEEP:-0}" = 1 ] || { [ "$rc" != 0 ] && [ "${PF_KEEP_FAILED:-0}" = 1 ]; }; then
            echo "kept $T" >&2
        else
            rm -rf "$T"
        fi
    fi
    exit "$rc"
}

# spawn NAME CMD... : start CMD in its own process group, log to $T/logs/NAME.log.
# Sets SPAWNED_PID. NAME must be unique in the test.
spawn() {
    local name=$1; shift
    setsid "$@" >"$T/logs/$name.log" 2>&1 </dev/null &
    SPAWNED_PID=$!
    _PF_PIDS+=("$SPAWNED_PID")
    _PF_NAMES+=("$name")
    _PF_CMDS[$name]=$(printf '%q ' "$@")
    _PF_SPAWNED_AT[$name]=$(date +%s.%N)
    eval "PID_${name//[^A-Za-z0-9_]/_}=$SPAWNED_PID"
    log "spawned $name (pid $SPAWNED_PID): $*"
}

_pid_of() { local v="PID_${1//[^A-Za-z0-9_]/_}"; echo "${!v:-}"; }

# stop NAME: TERM its process group and wait for it (KILL after 5 s).
stop() {
    local pid; pid=$(_pid_of "$1")
    [ -n "$pid" ] || fail "stop: no process $1"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# wait_exit NAME TIMEOUT: wait for a spawned process to exit; returns its
# status (fails the test on timeout).
wait_exit() {
    local name=$1 to=$2 pid rc=0 n=0
    pid=$(_pid_of "$name")
    [ -n "$pid" ] || fail "wait_exit: no process $name"
    while kill -0 "$pid" 2>/dev/null; do
        n=$((n + 1))
        [ $n -gt $((to * 10)) ] && fail "$name still running after ${to}s"
        sleep 0.1
    done
    wait "$pid" || rc=$?
    log "$name exited with $rc"
    return $rc
}

# expect_exit0 NAME TIMEOUT: wait_exit and fail unless it exited 0 (a
# libtorrent reference peer that crashed at start-up is respawned once).
expect_exit0() {
    local rc=0
    wait_exit "$1" "$2" || rc=$?
    if [ $rc != 0 ] && lt_crash_retry "$1" "$rc"; then
        rc=0
        wait_exit "$1" "$2" || rc=$?
    fi
    [ $rc = 0 ] || fail "$1 exited with status $rc"
}

# is_running NAME
is_running() { local pid; pid=$(_pid_of "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# wait_for_file PATH [TIMEOUT=20] [NAME-that-must-stay-alive]
# lt_crash_retry NAME [RC]: python3-libtorrent 2.0.8 (Debian 12) now and
# then dies of SIGSEGV while starting a session, before it has moved a byte
# (seen in CI: it_magnet_libtorrent, it_interop_libtorrent, and
# it_reference_peers' WebTorrent -> libtorrent leg, 0.1 s after spawn).
# A reference peer that crashed at start-up is not what a test checks:
# respawn it once, loudly.  Anything else (a later crash, another client,
# a second crash) still fails.  RC: the exit status when already reaped.
_LT_STARTUP_S=3
lt_crash_retry() {
    local name=$1 rc=${2:-} pid age
    pid=$(_pid_of "$name")
    [ -n "$pid" ] || return 1
    if [ -z "$rc" ]; then rc=0; wait "$pid" 2>/dev/null || rc=$?; fi
    case ${_PF_CMDS[$name]:-} in *lt_peer.py*) ;; *) return 1 ;; esac
    [ "$rc" = 139 ] && [ -z "${_PF_RETRIED[$name]:-}" ] || return 1
    age=$(awk -v a="$(date +%s.%N)" -v b="${_PF_SPAWNED_AT[$name]}" 'BEGIN { printf "%d", a - b }')
    [ "$age" -lt $_LT_STARTUP_S ] || return 1
    _PF_RETRIED[$name]=1
    mv -f "$T/logs/$name.log" "$T/logs/$name.crashed.log" 2>/dev/null || true
    log "WARNING: $name (python3-libtorrent) crashed with SIGSEGV ${age}s after start; retrying once"
    eval "spawn \"\$name\" ${_PF_CMDS[$name]}"
}

wait_for_file() {
    local f=$1 to=${2:-20} who=${3:-} n=0
    while [ ! -s "$f" ]; do
        n=$((n + 1))
        [ $n -gt $((to * 10)) ] && fail "no $f after ${to}s"
        if [ -n "$who" ] && ! is_running "$who"; then
            lt_crash_retry "$who" || fail "$who died while waiting for $f"
        fi
        sleep 0.1
    done
}

# wait_for_log NAME REGEX [TIMEOUT=20]: wait until NAME's log matches REGEX
# (extended grep); prints the first matching line.
wait_for_log() {
    local name=$1 re=$2 to=${3:-20} n=0 f=$T/logs/$1.log
    while ! grep -Eq -- "$re" "$f" 2>/dev/null; do
        n=$((n + 1))
        [ $n -gt $((to * 10)) ] && fail "$name: no '$re' in its log after ${to}s"
        is_running "$name" || { sleep 0.1; grep -Eq -- "$re" "$f" 2>/dev/null && break; fail "$name exited before logging '$re'"; }
        sleep 0.1
    done
    grep -Em1 -- "$re" "$f"
}

# port_of NAME [TIMEOUT=20]: the port from NAME's "listening on port N" line
# (peerflow, lt_peer, wt_peer, tr_peer and `peerflow tracker` all print it).
port_of() {
    local line
    line=$(wait_for_log "$1" 'listening on port [0-9]+' "${2:-20}")
    echo "$line" | sed -E 's/.*listening on port ([0-9]+).*/\1/'
}

# wait_for_port PORT [HOST=127.0.0.1] [TIMEOUT=20]: until a TCP listener exists.
wait_for_port() {
    local port=$1 host=${2:-127.0.0.1} to=${3:-20} n=0
    while [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; do
        n=$((n + 1))
        [ $n -gt $((to * 10)) ] && fail "nothing listening on $host:$port after ${to}s"
        sleep 0.1
    done
}

# assert_listens_on ADDR PORT: the TCP listener on PORT is bound to ADDR only.
assert_listens_on() {
    local out
    out=$(ss -Hltn "sport = :$2" 2>/dev/null || true)
    [ -n "$out" ] || fail "nothing listens on port $2"
    local local_addr
    for local_addr in $(awk '{print $4}' <<<"$out"); do
        local_addr=$(sed -E 's/%[A-Za-z0-9]+:/:/' <<<"$local_addr")  # "127.0.0.1%lo:P": device-bound too
        [ "$local_addr" = "$1:$2" ] || [ "$local_addr" = "[$1]:$2" ] ||
            fail "port $2 is bound beyond $1: $local_addr"
    done
}

# free_port: a TCP port free on 127.0.0.1 right now (racy by nature; prefer
# letting a peer pick with port 0 and reading port_of).
free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# gen_file SIZE PATH [SEED]: deterministic pseudo-random content, ~1 GB/s.
# SIZE takes head -c suffixes (K, M, G = powers of 1024). Same SEED, same bytes.
gen_file() {
    local size=$1 path=$2 seed=${3:-peerflow} key
    key=$(printf '%s' "$seed" | sha256sum | cut -c1-32)
    mkdir -p "$(dirname "$path")"
    { openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 \
        </dev/zero 2>/dev/null || true; } | head -c "$size" >"$path"
}

# gen_tree DIR: a small multi-file folder (nested, odd sizes, an empty file).
gen_tree() {
    local d=$1
    mkdir -p "$d/sub/deeper"
    gen_file 1000000 "$d/a.bin" a
    gen_file 3M "$d/sub/b.bin" b
    gen_file 16385 "$d/sub/deeper/c.bin" c
    gen_file 777 "$d/d.txt" d
    : >"$d/empty"
}

# assert_same_file A B: byte-exact comparison.
assert_same_file() {
    [ -f "$2" ] || fail "missing $2"
    cmp -s "$1" "$2" || fail "$2 differs from $1 ($(cmp "$1" "$2" 2>&1 | head -1))"
    log "same bytes: $2 ($(stat -c %s "$2") bytes)"
}

# assert_same_tree A B: every file of A is in B with the same bytes.
assert_same_tree() {
    local f
    diff -rq "$1" "$2" >/dev/null || fail "trees differ: $(diff -rq "$1" "$2" | head -3)"
    log "same tree: $2 ($(find "$2" -type f | wc -l) files)"
}

# json_get FILE KEY: a top-level value from a JSON file (stats files).
json_get() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# info_hash TORRENT: hex v1 info-hash (via libtorrent, independent of peerflow).
info_hash() { $LT_PEER info "$1" --field info_hash; }

# start_opentracker PORT INFOHASH...: Debian's opentracker is whitelist-only.
# It chroots into -d DIR (default ".") and drops to nobody, so the whitelist
# lives in a world-readable dir of its own, named relative to the chroot.
# Spawned as "ot"; waits until it listens. SIGHUP (stop/kill -HUP) reloads.
start_opentracker() {
    local port=$1; shift
    mkdir -p "$T/ot"
    chmod 755 "$T/ot"
    printf '%s\n' "$@" >"$T/ot/whitelist"
    chmod 644 "$T/ot/whitelist"
    spawn ot opentracker -i 127.0.0.1 -p "$port" -P "$port" -d "$T/ot" -w /whitelist
    wait_for_port "$port"
}

# require_peerflow: the binary under test must exist (a failure, not a skip).
require_peerflow() {
    [ -x "$PF_BIN" ] || fail "peerflow binary not found at PF_BIN=$PF_BIN (build first)"
}
require_libtorrent() {
    $PY -c 'import libtorrent' 2>/dev/null ||
        fail "python3-libtorrent missing for $PY (scripts/install-deps.sh --test)"
}
require_webtorrent() {
    command -v node >/dev/null || fail "node missing (scripts/install-deps.sh --test)"
    [ -f "$PF_NODE_DIR/node_modules/webtorrent/index.js" ] ||
        fail "webtorrent not installed in $PF_NODE_DIR (scripts/install-node-peers.sh)"
}
require_transmission() {
    command -v transmission-cli >/dev/null ||
        fail "transmission-cli missing (scripts/install-deps.sh --test)"
}
require_cmd() {  # require_cmd CMD [PACKAGE]
    command -v "$1" >/dev/null || fail "$1 missing (apt package ${2:-$1}; scripts/install-deps.sh --test)"
}

# --- streaming tests: media and a CDN origin ----------------------------------

# gen_video SECONDS PATH [WIDTHxHEIGHT=1280x720]: an H.264/AAC MP4 with
# faststart (moov first), testsrc2 + a 440 Hz sine, 25 fps, a keyframe every
# 2 s, ~2.1 Mbit/s (60 s = ~16 MB). Cached: the first call encodes into
# $PF_MEDIA_CACHE (default $PF_BUILD/test-media; written to a temp name and
# renamed, so parallel tests are safe) and later calls of the suite copy it;
# PATH gets a copy, never the cache file itself.
gen_video() {
    local secs=$1 path=$2 size=${3:-1280x720}
    local cache=${PF_MEDIA_CACHE:-$PF_BUILD/test-media}
    local key="v3-${secs}s-${size}.mp4" tmp
    require_cmd ffmpeg
    mkdir -p "$cache" "$(dirname "$path")"
    if [ ! -s "$cache/$key" ]; then
        tmp=$(mktemp "$cache/.${key}.XXXXXX")
        timeout 120 ffmpeg -hide_banner -nostdin -v error -y \
            -f lavfi -i "testsrc2=size=$size:rate=25" \
            -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$secs" \
            -c:v libx264 -preset ultrafast -b:v 2M -maxrate 2M -bufsize 2M -g 50 \
            -pix_fmt yuv420p -c:a aac -b:a 128k -movflags +faststart -f mp4 "$tmp" ||
            { rm -f "$tmp"; fail "gen_video: ffmpeg failed"; }
        chmod 644 "$tmp"
        mv -f "$tmp" "$cache/$key"
        log "gen_video: encoded ${secs}s ${size} -> $cache/$key ($(stat -c %s "$cache/$key") bytes)"
    fi
    cp "$cache/$key" "$path"
}

# media_duration FILE: container duration in seconds (ffprobe).
media_duration() {
    ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$1"
}

# start_nginx_origin DIR [NAME=nginx]: a real nginx (/usr/sbin/nginx,
# nginx-light) serving DIR on a free 127.0.0.1 port, static files with Range
# (on by default), sendfile, keep-alive. Config, pid, temp dirs and logs live
# in $T/NAME/. Sets NGINX_PORT, NGINX_URL (http://127.0.0.1:PORT, no slash)
# and NGINX_LOG (the access log). Each request is one line in NGINX_LOG:
#   msec status bytes_sent body_bytes_sent "request" "range" request_time
# (written when the response ends, unbuffered), so a test counts the CDN
# bytes independently of peerflow's counters (nginx_bytes). Spawned as NAME.
# NGINX_LIMIT_RATE=R (nginx syntax: 3m = 3 MiB/s) caps each response's rate
# (a CDN's per-connection throughput; default unlimited).
start_nginx_origin() {
    local dir=$1 name=${2:-nginx} d port try
    [ -x /usr/sbin/nginx ] || fail "/usr/sbin/nginx missing (apt package nginx-light)"
    dir=$(cd "$dir" && pwd)
    d=$T/$name
    mkdir -p "$d/tmp"
    : >"$d/access.log"
    # nginx's workers drop to an unprivileged user when the master is root;
    # keep our own user so they can read $T (mode 700)
    local user_line=
    [ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
    for try in 1 2 3 4 5; do
        port=$(free_port)
        cat >"$d/nginx.conf" <<NGX
$user_line
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 256; }
http {
    types {
        video/mp4 mp4 m4v; video/x-matroska mkv; video/webm webm;
        application/octet-stream bin;
    }
    default_type application/octet-stream;
    log_format pf '\$msec \$status \$bytes_sent \$body_bytes_sent "\$request" "\$http_range" \$request_time';
    access_log $d/access.log pf;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    limit_rate ${NGINX_LIMIT_RATE:-0};
    keepalive_timeout 65;
    keepalive_requests 10000;
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        root $dir;
        location / { autoindex on; }
    }
}
NGX
        spawn "$name" /usr/sbin/nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf"
        local n=0
        while [ $n -lt 50 ]; do
            is_running "$name" || break
            [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && break
            n=$((n + 1)); sleep 0.1
        done
        if is_running "$name" && [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
            NGINX_PORT=$port
            NGINX_URL=http://127.0.0.1:$port
            NGINX_LOG=$d/access.log
            log "nginx origin on $NGINX_URL serving $dir (access log $NGINX_LOG)"
            return 0
        fi
        log "nginx did not start on port $port (try $try): $(tail -2 "$d/error.log" 2>/dev/null | tr '\n' ' ')"
        stop "$name"
    done
    fail "nginx would not start (see $d/error.log)"
}

# start_nginx_proxy NAME BODY: nginx as a reverse proxy or load balancer
# on a free loopback port ($PROXY_PORT).  BODY is the inside of its http {}
# block (upstreams, servers), with @PORT@ for the port to listen on.
start_nginx_proxy() {
    local name=$1 body=$2 d=$T/$1 user_line= port
    [ -x /usr/sbin/nginx ] || fail "/usr/sbin/nginx missing (apt package nginx-light)"
    mkdir -p "$d/tmp"
    [ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
    port=$(free_port)
    cat >"$d/nginx.conf" <<NGX
$user_line
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 256; }
http {
    access_log $d/access.log;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
${body//@PORT@/$port}
}
NGX
    spawn "$name" /usr/sbin/nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf"
    wait_for_port "$port" 127.0.0.1 10
    PROXY_PORT=$port
}

# nginx_bytes [LOG=$NGINX_LOG] [REGEX]: sum of body bytes nginx sent (for
# requests whose line matches REGEX, e.g. a path). Header bytes excluded:
# nginx_bytes_total counts them too.
nginx_bytes() {
    awk -v re="${2:-}" 're == "" || $0 ~ re { s += $4 } END { printf "%d\n", s }' "${1:-$NGINX_LOG}"
}
nginx_bytes_total() {
    awk -v re="${2:-}" 're == "" || $0 ~ re { s += $3 } END { printf "%d\n", s }' "${1:-$NGINX_LOG}"
}
# nginx_requests [LOG] [REGEX]: number of logged requests.
nginx_requests() {
    awk -v re="${2:-}" 're == "" || $0 ~ re { n++ } END { printf "%d\n", n }' "${1:-$NGINX_LOG}"
}

# dead_url: an http://127.0.0.1:PORT URL where nothing listens (a CDN that
# is down: connection refused).
dead_url() { echo "http://127.0.0.1:$(free_port)"; }

# start_play NAME TORRENT [ARGS...]: `peerflow play` on an any-port media
# server with a --stats file in $T/NAME.stats.json; waits for the printed
# URLs. Sets PLAY_URL (file 0), PLAY_BASE (http://127.0.0.1:PORT),
# PLAY_STATS (the --stats file).
start_play() {
    local name=$1 torrent=$2; shift 2
    mkdir -p "$T/$name.cache"
    PLAY_STATS=$T/$name.stats.json
    spawn "$name" "$PF_BIN" play -d "$T/$name.cache" --http-port 0 -l 0 --bind 127.0.0.1 \
        --stats "$PLAY_STATS" "$@" "$torrent"
    PLAY_URL=$(wait_for_log "$name" '^https?://[^ ]+/files/0/' 20)
    PLAY_URL=${PLAY_URL%%[[:space:]]*}
    PLAY_BASE=$(sed -E 's#^(https?://[^/]+)/.*#\1#' <<<"$PLAY_URL")
    log "$name serves $PLAY_URL"
}

# stats_json URL|FILE EXPR: evaluate a Python expression on the JSON document
# (`d`) of /stats.json (URL) or a --stats file, e.g. 'd["cdn_downloaded"]'.
stats_json() {
    local src=$1 expr=$2 doc
    if [[ $src == http* ]]; then
        doc=$(curl -sS --max-time 5 "$src") || fail "stats_json: cannot fetch $src"
    else
        doc=$(cat "$src") || fail "stats_json: cannot read $src"
    fi
    $PY -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$doc" "$expr"
}

# probe_media URL SRC: ffprobe reads URL's container and finds the same
# duration and streams as SRC's (h264 + aac).
probe_media() {
    local url=$1 src=$2 got want
    got=$(timeout 30 ffprobe -v error -show_entries format=duration:stream=codec_name \
        -of compact=p=0:nk=1 "$url" 2>"$T/ffprobe.err") ||
        fail "ffprobe $url failed: $(head -3 "$T/ffprobe.err")"
    want=$(ffprobe -v error -show_entries format=duration:stream=codec_name \
        -of compact=p=0:nk=1 "$src")
    [ "$got" = "$want" ] || fail "ffprobe $url: '$(echo $got)' != source '$(echo $want)'"
    [ ! -s "$T/ffprobe.err" ] || fail "ffprobe $url reported: $(head -3 "$T/ffprobe.err")"
    log "ffprobe $url: $(echo $got)"
}

# decode_media URL [TIMEOUT=60] [FFMPEG-INPUT-OPTS...]: `ffmpeg -v error -i URL
# -f null -` decodes the whole stream: exit 0 and nothing on stderr.
decode_media() {
    local url=$1 to=${2:-60} t0 rc=0; shift 2 || shift $#
    t0=$(date +%s.%N)
    timeout "$to" ffmpeg -hide_banner -nostdin -v error "$@" -i "$url" -f null - \
        2>"$T/ffmpeg.err" || rc=$?
    [ $rc = 0 ] || fail "ffmpeg -i $url exited $rc: $(head -5 "$T/ffmpeg.err")"
    [ ! -s "$T/ffmpeg.err" ] || fail "ffmpeg -i $url reported errors: $(head -5 "$T/ffmpeg.err")"
    log "ffmpeg decoded $url without error in $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.2f", a-b}')s"
}

# fetch_same URL SRC [TIMEOUT=60]: curl's whole body equals SRC (cmp).
fetch_same() {
    local url=$1 src=$2 to=${3:-60} out
    out=$T/fetch.$RANDOM.out
    curl -sS --fail --max-time "$to" -o "$out" "$url" || fail "curl $url failed"
    assert_same_file "$src" "$out"
    rm -f "$out"
}

# rot_bytes FILE OFFSET...: flips a byte at each offset (x ^ 0x5A), the
# file's size and mtime kept (a disk that rots: a resume record still
# vouches for the file).
rot_bytes() {
    local f=$1; shift
    touch -r "$f" "$T/rot_stamp"
    $PY - "$f" "$@" <<'PYEOF'
import sys
with open(sys.argv[1], "r+b") as f:
    for off in map(int, sys.argv[2:]):
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x5A]))
PYEOF
    touch -r "$T/rot_stamp" "$f"
}

# lt_beside_rotten TORRENT SRC_DIR FILE RATE: a real libtorrent leecher
# (tests/peers) fetches TORRENT from the running seed "rotten" (its data
# rotted on disk, $rotten_port) and an honest seed of SRC_DIR (upload
# capped at RATE); it must get FILE byte-exact, never a byte of a piece
# that fails its hash, and the rotten seed must have caught a rotten piece
# (verify on read) and still run.  Stops both seeds.  Sets N_ROT: the
# rotten pieces the seed caught, counted once it has stopped.
lt_beside_rotten() {
    local torrent=$1 src=$2 file=$3 rate=$4 failed n_rot honest_port
    spawn honest $PF_BIN seed -d "$src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate "$rate" "$torrent"
    honest_port=$(port_of honest)
    spawn lt_get $LT_PEER get --torrent "$torrent" --dir "$T/lt_get" --no-tracker \
        --peer "127.0.0.1:$rotten_port" --peer "127.0.0.1:$honest_port" --stats-file "$T/lt.json" --timeout 40
    expect_exit0 lt_get 45
    assert_same_file "$src/$file" "$T/lt_get/$file"
    failed=$(json_get "$T/lt.json" failed)
    n_rot=$(grep -c "failed its hash check when read from disk" "$T/logs/rotten.log" || true)
    log "libtorrent: $(cat "$T/lt.json"); the rotten seed caught $n_rot rotten pieces"
    [ "$failed" = 0 ] || fail "libtorrent received $failed bytes of pieces that failed their hash check"
    [ "$n_rot" -ge 1 ] || fail "the rotten seed never read a rotten piece (the test proves nothing)"
    is_running rotten || fail "the rotten seed exited"
    stop rotten
    stop honest
    # Counted again once it has stopped: a read in flight when libtorrent
    # finished may still have met a rotten piece.
    N_ROT=$(grep -c "failed its hash check when read from disk" "$T/logs/rotten.log" || true)
}
