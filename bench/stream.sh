#!/usr/bin/env bash
# Streaming start-up, stalls, CDN share and memory: peerflow beside
# WebTorrent, libtorrent and the CDN alone, N runs of each, alternated run
# by run, on the same inputs:
#   media    an H.264/AAC MP4 with faststart by ffmpeg (BENCH_SECS, 60 s,
#            ~2.1 Mbit/s, ~16 MB); torrent by `peerflow create`, 256 KiB
#            pieces, with the nginx URL as web seed (url-list) and the
#            tracker below as its announce URL
#   CDN      a real nginx (tests/lib.sh start_nginx_origin), each response
#            capped at BENCH_CDN_RATE (nginx limit_rate, default 3m =
#            3 MiB/s ~ 25 Mbit/s per connection: a CDN edge's throughput to
#            one viewer; 0 = unlimited, i.e. loopback speed)
#   swarm    opentracker + BENCH_SEEDERS (1) libtorrent seeders
#            (tests/peers/lt_peer.py, no upload cap) that announce to it;
#            each viewer finds them through the tracker (no --peer for
#            anyone).  The tracker and the seeders live for the whole
#            bench: later viewers are also
#            told about earlier ones that have gone (as in a real swarm).
# Sides, each run with a fresh cache and a fresh process:
#   nginx       curl -r 0-(P-1) of the file straight from nginx, where P =
#               10 s of media (10 x container bitrate)
#   peerflow    `peerflow play TORRENT` (http port 0, URL from its stdout;
#               BENCH_PF_ARGS are added, e.g. -vv)
#   WebTorrent  webtorrent-cli 6 (`webtorrent download TORRENT -p PORT
#               --keep-seeding`, TCP only via .pf-node/bin/webtorrent-tcp),
#               URL http://127.0.0.1:PORT/webtorrent/<infohash>/video.mp4
#   libtorrent  python3-libtorrent 2.0 as a streaming client
#               (tools/lab/lt_viewer.py: web seed + peers, a deadline
#               (set_piece_deadline) on each piece of the 30 s ahead of the
#               reader, the file served by a small HTTP server as pieces
#               verify)
# Run r runs every side once, in an order rotated by r (run 1: peerflow,
# WebTorrent, libtorrent, nginx; run 2: WebTorrent, libtorrent, nginx,
# peerflow; ...): a slow minute of the shared machine hits every side.
# For every client, measured by this script the same way:
#   TTFB / time to 10 s   from process start to curl's first byte / last
#               byte of the same 0-(P-1) range (curl retried until the
#               client's server accepts a connection); bytes compared.
#               BENCH_STARTUP=decode instead runs `ffmpeg -i URL -t 10 -f
#               null -` as fast as it decodes: first decoded frame, and 10 s
#               of media decoded (a player's start, decode time included)
#   stalls      `ffmpeg -re -t BENCH_PLAY_S (30; 0: skipped) -i URL -f null
#               -` (reads at the native rate, like a player) from a fresh
#               connection; -progress is sampled; lag = wall time since the
#               first frame - media time since the first frame; a stall is
#               an episode where lag rises more than 0.25 s above its
#               minimum so far; stall time = the sum of each episode's peak
#               excess
#   CDN share   nginx body bytes sent during the side (access log) / file
#               size, after the whole file was fetched (curl, cmp with the
#               source): the fraction of the film the CDN carried
#   peak RSS    of the client process: VmHWM (/proc/PID/status) read just
#               before it is stopped, and its RssAnon sampled every 50 ms
#               (the client's own memory: libtorrent maps the file it
#               downloads, which VmHWM counts)
# and for peerflow also its own /stats.json QoE (from the first request).
# Each metric is reported per side as median, p90 (nearest rank) and worst
# of the runs; every run's numbers are listed under the table.
# Runs inside a new network namespace (unshare -n, only lo): WebTorrent has
# DHT/LSD/UPnP it cannot switch off from the CLI, so nothing may leave.
#   bench/stream.sh [--runs N (20)] [--only SIDE[,SIDE...]] [--keep]
#   SIDE: peerflow, peerflow2, webtorrent, libtorrent, nginx
# Env: BENCH_SECS (60), BENCH_PLAY_S (30), BENCH_CDN_RATE (3m), BENCH_SEEDERS (1),
#      BENCH_STARTUP (curl), BENCH_PF_ARGS, BENCH_OUT (copy of the report),
#      BENCH_PF_BIN2 (a second peerflow binary, side peerflow2, e.g. the
#      build before a change: both alternate on the same machine state),
#      BENCH_STALE / BENCH_SILENT (gone / silent peers on the tracker),
#      BENCH_PF_TRACE=1 (peerflow's debug log kept in memory and written
#      at exit to logs/pfRUN.trace: PF_TRACE, src/cli/cmd_play.c), PF_TMP.
set -euo pipefail
if [ -z "${PF_BENCH_NETNS:-}" ]; then
    export PF_BENCH_NETNS=1
    for u in "unshare -n" "unshare -rn"; do
        if $u true 2>/dev/null; then
            exec $u bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
        fi
    done
    echo "bench/stream.sh: cannot create a network namespace (unshare -n)" >&2
    exit 1
fi
usage() { echo "usage: bench/stream.sh [--runs N] [--only peerflow,peerflow2,webtorrent,libtorrent,nginx] [--keep]" >&2; exit 2; }
ONLY=peerflow,webtorrent,libtorrent,nginx
RUNS=20
while [ $# -gt 0 ]; do
    case $1 in
        --only) ONLY=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --keep) export PF_KEEP=1; shift ;;
        *) usage ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || usage
SIDES=()
for s in ${ONLY//,/ }; do
    case $s in
        peerflow|pf) SIDES+=(pf) ;;
        peerflow2|pf2) SIDES+=(pf2) ;;
        webtorrent|wt) SIDES+=(wt) ;;
        libtorrent|lt) SIDES+=(lt) ;;
        nginx) SIDES+=(nginx) ;;
        *) usage ;;
    esac
done
[ ${#SIDES[@]} -gt 0 ] || usage
has_side() { local s; for s in "${SIDES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
SECS=${BENCH_SECS:-60}
PLAY_S=${BENCH_PLAY_S:-30}
STARTUP=${BENCH_STARTUP:-curl}
case $STARTUP in curl|decode) ;; *) echo "BENCH_STARTUP: curl or decode" >&2; exit 2 ;; esac
read -r -a PF_ARGS <<<"${BENCH_PF_ARGS:-}"
export NGINX_LIMIT_RATE=${BENCH_CDN_RATE:-3m}
CDN_DESC="nginx at ${NGINX_LIMIT_RATE}/s per response"
[ "$NGINX_LIMIT_RATE" = 0 ] && CDN_DESC="nginx unlimited (loopback)"
. "$(dirname "$0")/../tests/lib.sh"
TEST_NAME=stream
pf_setup $((300 + RUNS * ${#SIDES[@]} * (PLAY_S + 30)))
require_libtorrent
require_cmd ffmpeg
require_cmd ffprobe ffmpeg
require_cmd curl
require_cmd opentracker
require_peerflow   # `peerflow create` makes the torrent
WT_CLI=$PF_NODE_DIR/bin/webtorrent-tcp
LT_VIEWER="$PY $PF_SRC/tools/lab/lt_viewer.py"
if has_side pf && ! "$PF_BIN" play --help >/dev/null 2>&1; then
    fail "no 'peerflow play' in $PF_BIN"
fi
if has_side pf2 && ! "${BENCH_PF_BIN2:-}" play --help >/dev/null 2>&1; then
    fail "side peerflow2 needs BENCH_PF_BIN2, a peerflow binary"
fi
if has_side wt; then
    require_webtorrent
    [ -x "$WT_CLI" ] && [ -f "$PF_NODE_DIR/node_modules/webtorrent-cli/bin/cmd.js" ] ||
        fail "webtorrent-cli missing in $PF_NODE_DIR (scripts/install-node-peers.sh)"
fi

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# --- inputs ----------------------------------------------------------------
gen_video "$SECS" "$T/www/video.mp4"
SRC=$T/www/video.mp4
SIZE=$(stat -c %s "$SRC")
BITRATE=$(ffprobe -v error -show_entries format=bit_rate -of default=nw=1:nk=1 "$SRC")
PREFIX=$((BITRATE * 10 / 8))   # bytes of 10 s of media
head -c "$PREFIX" "$SRC" >"$T/prefix.want"
start_nginx_origin "$T/www"
ot_port=$(free_port)
$PF_BIN create -p 256K -t "http://127.0.0.1:$ot_port/announce" -w "$NGINX_URL/video.mp4" \
    -o "$T/video.torrent" "$SRC" >/dev/null
IH=$(info_hash "$T/video.torrent")
start_opentracker "$ot_port" "$IH"
NSEEDERS=${BENCH_SEEDERS:-1}
for i in $(seq 1 "$NSEEDERS"); do
    mkdir -p "$T/seed$i"
    cp "$SRC" "$T/seed$i/"
    spawn "seeder$i" $LT_PEER seed --torrent "$T/video.torrent" --dir "$T/seed$i" \
        --ready-file "$T/seed$i.ready" --stats-file "$T/seed$i.json"
done
for i in $(seq 1 "$NSEEDERS"); do wait_for_file "$T/seed$i.ready" 60 "seeder$i"; done
sleep 1   # their first announces reach the tracker
# BENCH_STALE=N: the tracker also lists N viewers that have gone (nothing
# listens at their ports any more), and BENCH_SILENT=K more whose ports
# accept connections and never answer (another program holds the port,
# or a client is shutting down): what a tracker holds after a day of
# churn.  opentracker answers at most 80 peers, at random once it has more.
STALE_DESC=
if [ "${BENCH_STALE:-0}" != 0 ] || [ "${BENCH_SILENT:-0}" != 0 ]; then
    spawn stale $PY "$PF_SRC/bench/stale_peers.py" "$ot_port" "$IH" "${BENCH_STALE:-0}" "${BENCH_SILENT:-0}"
    wait_for_log stale '^announced' 60 >/dev/null
    STALE_DESC=", + ${BENCH_STALE:-0} gone and ${BENCH_SILENT:-0} silent peers on the tracker"
fi
# seeded: bytes all seeders uploaded so far (their stats files)
seeded() {
    local i n=0
    for i in $(seq 1 "$NSEEDERS"); do n=$((n + $(json_get "$T/seed$i.json" uploaded))); done
    echo "$n"
}
log "media: $SIZE B, $SECS s, $BITRATE bit/s; 10 s prefix = $PREFIX B; CDN $CDN_DESC; $RUNS runs of ${SIDES[*]}; start-up by $STARTUP"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A R   # R[side,run,metric]

# --- memory ------------------------------------------------------------------
# rss_sample PID OUT: peak RssAnon (KiB) of PID every 50 ms while it lives,
# written to OUT; read with shell builtins (no fork per sample: the
# sampler must not steal the CPU it measures).
rss_sample() {
    local pid=$1 out=$2 k v rest max=0
    while kill -0 "$pid" 2>/dev/null; do
        while read -r k v rest; do
            if [ "$k" = RssAnon: ]; then
                [ "$v" -gt "$max" ] && { max=$v; echo "$max" >"$out"; }
                break
            fi
        done 2>/dev/null <"/proc/$pid/status"
        sleep 0.05
    done
}
hwm_kib() {
    local k v rest
    while read -r k v rest; do [ "$k" = VmHWM: ] && { echo "$v"; return; }; done 2>/dev/null <"/proc/$1/status"
    echo 0
}
start_sampler() {  # start_sampler SIDE RUN PID
    echo 0 >"$T/anon.$1.$2"
    rss_sample "$3" "$T/anon.$1.$2" &
    SAMPLER=$!
}
# stop_client NAME SIDE RUN PID: records peak RSS, stops NAME.
stop_client() {
    local name=$1 side=$2 run=$3 pid=$4
    R[$side,$run,hwm]=$(awk -v k="$(hwm_kib "$pid")" 'BEGIN { printf "%.1f", k / 1024 }')
    stop "$name"
    wait "$SAMPLER" 2>/dev/null || true
    R[$side,$run,anon]=$(awk -v k="$(cat "$T/anon.$side.$run")" 'BEGIN { printf "%.1f", k / 1024 }')
}

# --- measurements ------------------------------------------------------------
# stall_play URL OUT: ffmpeg -re for PLAY_S s; writes "stalls stall_s lag0 frames_s"
stall_play() {
    $PY - "$1" "$PLAY_S" "$2" <<'PY'
import subprocess, sys, time
url, play_s, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-re", "-i", url,
       "-t", str(play_s), "-f", "null", "-", "-progress", "pipe:1", "-stats_period", "0.05"]
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
samples = []   # (wall, media)
for line in p.stdout:
    line = line.strip()
    if line.startswith("out_time_us="):
        try:
            us = int(line.split("=", 1)[1])
        except ValueError:
            continue
        if us > 0:
            samples.append((time.monotonic(), us / 1e6))
err = p.stderr.read()
rc = p.wait()
if rc != 0 or not samples:
    sys.stderr.write("ffmpeg -re failed (%d): %s\n" % (rc, err[:500]))
    sys.exit(1)
w0, m0 = samples[0]
THRESH = 0.25
base = None
stalls, stall_s, peak = 0, 0.0, None
for w, m in samples:
    lag = (w - w0) - (m - m0)
    base = lag if base is None else min(base, lag)
    ex = lag - base
    if ex > THRESH:
        peak = ex if peak is None else max(peak, ex)
    elif peak is not None:
        stalls += 1; stall_s += peak; peak = None
if peak is not None:
    stalls += 1; stall_s += peak
open(out, "w").write("%d %.3f %.3f %.3f %s\n" % (stalls, stall_s, samples[0][0] - t0,
                                                 samples[-1][1], "err" if err.strip() else "ok"))
PY
}

# decode_start URL T0 OUT: ffmpeg decodes 10 s of media as fast as it can;
# writes "first_frame ten_s" in seconds since T0 (epoch seconds).
decode_start() {
    $PY - "$1" "$2" "$3" <<'PY'
import subprocess, sys, time
url, t0, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", url,
       "-t", "10", "-f", "null", "-", "-progress", "pipe:1", "-stats_period", "0.02"]
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
first = None
for line in p.stdout:
    if line.startswith("out_time_us="):
        try:
            us = int(line.split("=", 1)[1])
        except ValueError:
            continue
        if us > 0 and first is None:
            first = time.time()
err = p.stderr.read()
rc = p.wait()
end = time.time()
if rc != 0 or first is None:
    sys.stderr.write("ffmpeg failed (%d): %s\n" % (rc, err[:500]))
    sys.exit(1)
open(out, "w").write("%.3f %.3f\n" % (first - t0, end - t0))
PY
}

# run_failed SIDE RUN WHY: a client that did not serve is a failed run
# (listed, left out of the statistics), not the end of the bench: one
# WebTorrent that never opened its HTTP port lost 40 minutes of runs.
FAILED=()
run_failed() {
    local k
    for k in ttfb ttp stalls stall_s share cdn_reqs hwm anon seed_up q; do R[$1,$2,$k]=-; done
    R[$1,$2,same]=FAILED
    FAILED+=("$1 run $2: $3")
    log "$1 run $2 FAILED: $3"
}

# client_side SIDE RUN URL: the common measurements once the client runs
# (spawned at $T0); returns 1 (run_failed) when it could not measure.
client_side() {
    local side=$1 run=$2 url=$3 name=$1$2 t1 out a b port n=0
    port=$(sed -E 's#^https?://[^:/]+:([0-9]+)/.*#\1#' <<<"$url")
    while [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; do
        n=$((n + 1)); [ $n -gt 3000 ] && { run_failed "$side" "$run" "nothing listens on $port after 60 s"; return 1; }
        is_running "$name" || { run_failed "$side" "$run" "it exited"; return 1; }
        sleep 0.02
    done
    t1=$(now)
    if [ "$STARTUP" = curl ]; then
        out=$(curl -sS --max-time 120 -r "0-$((PREFIX - 1))" -o "$T/$name.prefix" \
            -w '%{time_starttransfer} %{time_total}' "$url") || { run_failed "$side" "$run" "prefix request failed"; return 1; }
        read -r a b <<<"$out"
        cmp -s "$T/prefix.want" "$T/$name.prefix" || fail "$name: prefix bytes differ"
        rm -f "$T/$name.prefix"
        R[$side,$run,ttfb]=$(awk -v s="$(sub "$t1" "$T0")" -v a="$a" 'BEGIN { printf "%.3f", s + a }')
        R[$side,$run,ttp]=$(awk -v s="$(sub "$t1" "$T0")" -v b="$b" 'BEGIN { printf "%.3f", s + b }')
    else
        decode_start "$url" "$T0" "$T/$name.dec" || { run_failed "$side" "$run" "ffmpeg decode failed"; return 1; }
        read -r R[$side,$run,ttfb] R[$side,$run,ttp] <"$T/$name.dec"
    fi
    log "$name: server up after $(sub "$t1" "$T0") s; first byte/frame ${R[$side,$run,ttfb]} s, 10 s ${R[$side,$run,ttp]} s from process start"
    R[$side,$run,stalls]=- R[$side,$run,stall_s]=-
    if [ "$PLAY_S" != 0 ]; then
        stall_play "$url" "$T/$name.stalls" || { run_failed "$side" "$run" "ffmpeg -re failed"; return 1; }
        read -r R[$side,$run,stalls] R[$side,$run,stall_s] _ _ _ <"$T/$name.stalls"
    fi
    # the whole film, byte-exact
    curl -sS --max-time 120 -o "$T/$name.full" "$url" || { run_failed "$side" "$run" "full fetch failed"; return 1; }
    if cmp -s "$SRC" "$T/$name.full"; then R[$side,$run,same]=yes; else R[$side,$run,same]=NO; fi
    rm -f "$T/$name.full"
}

# cdn_side SIDE RUN: the CDN's bytes and requests since NGX_L0, and the
# seeders' uploads since SEED_UP0 (their stats files are rewritten every
# second)
cdn_side() {
    local side=$1 run=$2 cdn
    sleep 1.1
    R[$side,$run,seed_up]=$(( $(seeded) - SEED_UP0 ))
    cdn=$(tail -n +"$((NGX_L0 + 1))" "$NGINX_LOG" | awk '{ s += $4 } END { printf "%d\n", s }')
    R[$side,$run,cdn]=$cdn
    R[$side,$run,share]=$(awk -v c="$cdn" -v s="$SIZE" 'BEGIN { printf "%.3f", c / s }')
    R[$side,$run,cdn_reqs]=$(tail -n +"$((NGX_L0 + 1))" "$NGINX_LOG" | wc -l)
    tail -n +"$((NGX_L0 + 1))" "$NGINX_LOG" >"$T/logs/cdn.$side.$run.log"
}

side_begin() {
    NGX_L0=$(wc -l <"$NGINX_LOG")
    SEED_UP0=$(seeded)
}

nginx_run() {
    local run=$1 t0 t1 out a b
    side_begin
    t0=$(now)
    if [ "$STARTUP" = curl ]; then
        out=$(curl -sS --max-time 60 -r "0-$((PREFIX - 1))" -o "$T/prefix.got" \
            -w '%{time_starttransfer} %{time_total}' "$NGINX_URL/video.mp4")
        t1=$(now)
        cmp -s "$T/prefix.want" "$T/prefix.got" || fail "nginx prefix differs"
        read -r a b <<<"$out"
        # wall clock of the curl process: its start-up counts like a client's
        R[nginx,$run,ttp]=$(sub "$t1" "$t0")
        R[nginx,$run,ttfb]=$(awk -v w="$(sub "$t1" "$t0")" -v b="$b" -v a="$a" 'BEGIN { printf "%.3f", w - b + a }')
    else
        decode_start "$NGINX_URL/video.mp4" "$t0" "$T/nginx.dec" || fail "nginx: ffmpeg decode failed"
        read -r R[nginx,$run,ttfb] R[nginx,$run,ttp] <"$T/nginx.dec"
    fi
    R[nginx,$run,stalls]=- R[nginx,$run,stall_s]=- R[nginx,$run,same]=yes
    R[nginx,$run,hwm]=- R[nginx,$run,anon]=-
    cdn_side nginx "$run"
    R[nginx,$run,seed_up]=-
    log "nginx run $run: first byte ${R[nginx,$run,ttfb]} s, 10 s ${R[nginx,$run,ttp]} s"
}

# pf_side SIDE BIN RUN: `peerflow play` of BIN as SIDE (pf, or pf2 for a
# second binary: BENCH_PF_BIN2, e.g. the build before a change)
pf_side() {
    local sd=$1 bin=$2 run=$3 url base pid
    side_begin
    rm -rf "$T/pf.cache"
    mkdir -p "$T/pf.cache"
    T0=$(now)
    [ -n "${BENCH_PF_TRACE:-}" ] && export PF_TRACE=$T/logs/$sd$run.trace
    spawn "$sd$run" "$bin" play -d "$T/pf.cache" --http-port 0 -l 0 --bind 127.0.0.1 \
        "${PF_ARGS[@]}" "$T/video.torrent"
    pid=$SPAWNED_PID
    unset PF_TRACE
    start_sampler "$sd" "$run" "$pid"
    url=$(wait_for_log "$sd$run" '^https?://[^ ]+/files/0/' 60)
    url=${url%%[[:space:]]*}
    if ! client_side "$sd" "$run" "$url"; then
        stop_client "$sd$run" "$sd" "$run" "$pid"
        return 0
    fi
    base=${url%%/files/*}
    R[$sd,$run,q]=-
    if curl -sS --max-time 5 -o "$T/pf.final.json" "$base/stats.json"; then
        R[$sd,$run,q]=$($PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
q = d["files"][0]["qoe"] if d.get("files") else {}
f = lambda v: "-" if v is None else v
print("%s/%s/%s" % (f(q.get("ttfb_s")), f(q.get("time_to_playable_s")), f(q.get("stalls"))))
' "$T/pf.final.json")
    fi
    cdn_side "$sd" "$run"
    stop_client "$sd$run" "$sd" "$run" "$pid"
    rm -rf "$T/pf.cache"
}
pf_run() { pf_side pf "$PF_BIN" "$1"; }
pf2_run() { pf_side pf2 "$BENCH_PF_BIN2" "$1"; }

wt_run() {
    local run=$1 port pid
    side_begin
    port=$(free_port)
    rm -rf "$T/wt.out"
    mkdir -p "$T/wt.out"
    T0=$(now)
    spawn "wt$run" "$WT_CLI" download "$T/video.torrent" -o "$T/wt.out" -p "$port" -s 0 -q --keep-seeding
    pid=$SPAWNED_PID
    start_sampler wt "$run" "$pid"
    if client_side wt "$run" "http://127.0.0.1:$port/webtorrent/$IH/video.mp4"; then cdn_side wt "$run"; fi
    stop_client "wt$run" wt "$run" "$pid"
    rm -rf "$T/wt.out"
}

lt_run() {
    local run=$1 port bt pid
    side_begin
    port=$(free_port)
    bt=$(free_port)
    rm -rf "$T/lt.out"
    mkdir -p "$T/lt.out"
    T0=$(now)
    spawn "lt$run" $LT_VIEWER --torrent "$T/video.torrent" --dir "$T/lt.out" --bind 127.0.0.1 \
        --bitrate $((BITRATE / 8)) --http-port "$port" --port "$bt"
    pid=$SPAWNED_PID
    start_sampler lt "$run" "$pid"
    if client_side lt "$run" "http://127.0.0.1:$port/video.mp4"; then cdn_side lt "$run"; fi
    stop_client "lt$run" lt "$run" "$pid"
    rm -rf "$T/lt.out"
}

NS=${#SIDES[@]}
for run in $(seq 1 "$RUNS"); do
    for k in $(seq 0 $((NS - 1))); do
        side=${SIDES[$(((run - 1 + k) % NS))]}
        "${side}_run" "$run"
        [ "$side" = nginx ] && continue
        log "$side run $run: first byte ${R[$side,$run,ttfb]} s, 10 s ${R[$side,$run,ttp]} s, stalls ${R[$side,$run,stalls]} (${R[$side,$run,stall_s]} s), CDN ${R[$side,$run,share]} in ${R[$side,$run,cdn_reqs]} requests, peak RSS ${R[$side,$run,hwm]} MiB (anon ${R[$side,$run,anon]}), bytes equal ${R[$side,$run,same]}"
    done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------
# stat SIDE KEY med|p90|max: over the runs ("-" when not measured); p90 is
# the nearest rank (the 18th of 20)
stat() {
    local side=$1 key=$2 what=$3 run vals=()
    for run in $(seq 1 "$RUNS"); do
        local v=${R[$side,$run,$key]:--}
        [ "$v" != - ] && vals+=("$v")
    done
    [ ${#vals[@]} -gt 0 ] || { echo -; return; }
    printf '%s\n' "${vals[@]}" | sort -g | awk -v w="$what" '{ a[NR] = $1 } END {
        if (w == "med") { if (NR % 2) v = a[(NR + 1) / 2]; else v = (a[NR / 2] + a[NR / 2 + 1]) / 2 }
        else if (w == "p90") { r = int(0.9 * NR); if (r < 0.9 * NR) r++; v = a[r] }
        else v = a[NR]
        print v }'
}
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "-") print "-"; else printf f, v }'; }
cell() {  # cell SIDE KEY FORMAT: "median / p90 / worst"
    has_side "$1" || { echo -; return; }
    echo "$(fmt "$(stat "$1" "$2" med)" "$3") / $(fmt "$(stat "$1" "$2" p90)" "$3") / $(fmt "$(stat "$1" "$2" max)" "$3")"
}
ratio() {  # ratio A B: of two numbers
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'
}
rcell() {  # rcell KEY OTHER: peerflow / OTHER, medians and p90s
    has_side pf && has_side "$2" || { echo -; return; }
    echo "$(ratio "$(stat pf "$1" med)" "$(stat "$2" "$1" med)") / $(ratio "$(stat pf "$1" p90)" "$(stat "$2" "$1" p90)")"
}
pct() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.1f%%", 100 * v }'; }
pcell() {
    has_side "$1" || { echo -; return; }
    echo "$(pct "$(stat "$1" share med)") / $(pct "$(stat "$1" share p90)") / $(pct "$(stat "$1" share max)")"
}
allsame() {
    has_side "$1" || { echo -; return; }
    local run
    local bad=0 failed=0
    for run in $(seq 1 "$RUNS"); do
        case ${R[$1,$run,same]} in yes) ;; FAILED) failed=$((failed + 1)) ;; *) bad=1 ;; esac
    done
    if [ $bad = 1 ]; then echo NO; elif [ $failed -gt 0 ]; then echo "yes ($failed failed)"; else echo yes; fi
}
first=byte
[ "$STARTUP" = decode ] && first="decoded frame"
ten="10 s playable (curl, $PREFIX B)"
[ "$STARTUP" = decode ] && ten="10 s decoded (ffmpeg)"
# columns: the sides run, in a fixed order; ratios of peerflow to each other
COLS=()
for c in nginx pf pf2 wt lt; do has_side "$c" && COLS+=("$c"); done
RATIOS=()
if has_side pf; then for c in pf2 wt lt; do has_side "$c" && RATIOS+=("$c"); done; fi
declare -A TITLE=([nginx]="nginx only" [pf]=peerflow [pf2]="peerflow (BENCH_PF_BIN2)" [wt]=WebTorrent [lt]=libtorrent)
row() {  # row LABEL KEY FORMAT [pct] [noratio]: one metric for every column
    local label=$1 key=$2 f=$3 kind=${4:-} c line
    line="| $label |"
    for c in "${COLS[@]}"; do
        if [ "$c" = nginx ] && { [ "$key" = stalls ] || [ "$key" = stall_s ] || [ "$key" = hwm ] || [ "$key" = anon ]; }; then
            line+=" - |"
        elif [ "$kind" = pct ]; then
            if [ "$c" = nginx ]; then line+=" 100% |"; else line+=" $(pcell "$c") |"; fi
        else
            line+=" $(cell "$c" "$key" "$f") |"
        fi
    done
    for c in "${RATIOS[@]}"; do
        if [ "${5:-}" = noratio ]; then line+=" |"; else line+=" $(rcell "$key" "$c") |"; fi
    done
    echo "$line"
}
{
    echo
    echo "### bench/stream: ${SECS} s H.264/AAC MP4, $SIZE B, $((BITRATE / 1000)) kbit/s; CDN $CDN_DESC; $NSEEDERS libtorrent seeder(s) via opentracker$STALE_DESC; loopback; $RUNS runs per side, alternated"
    echo
    echo "Each cell: median / p90 / worst of $RUNS runs. Load average $LOAD0 before, $LOAD1 after ($(nproc) cores)."
    echo
    line="| |"; sep="|---|"
    for c in "${COLS[@]}"; do line+=" ${TITLE[$c]} |"; sep+="---:|"; done
    for c in "${RATIOS[@]}"; do line+=" peerflow / ${TITLE[$c]} (median / p90) |"; sep+="---:|"; done
    echo "$line"
    echo "$sep"
    row "time to first $first (s, from process start)" ttfb %.3f
    row "time to $ten (s, from process start)" ttp %.3f
    if [ "$PLAY_S" != 0 ]; then
        row "stalls in ${PLAY_S} s at native rate (ffmpeg -re)" stalls %d "" noratio
        row "stall time (s)" stall_s %.2f "" noratio
    fi
    row "CDN share of the film (nginx log)" share %.3f pct
    row "CDN requests" cdn_reqs %d "" noratio
    row "peak RSS (MiB, VmHWM)" hwm %.1f
    row "peak anon RSS (MiB, sampled)" anon %.1f
    line="| bytes served = source, every run |"
    for c in "${COLS[@]}"; do line+=" $(allsame "$c") |"; done
    for c in "${RATIOS[@]}"; do line+=" |"; done
    echo "$line"
    echo
    for f in "${FAILED[@]}"; do echo "Failed: $f"; done
    [ ${#FAILED[@]} -gt 0 ] && echo
    echo "Runs (first $first / 10 s, s; CDN share; peak RSS MiB):"
    echo
    for side in "${SIDES[@]}"; do
        line="- $side:"
        for run in $(seq 1 "$RUNS"); do
            line+=" ${R[$side,$run,ttfb]}/${R[$side,$run,ttp]}"
            [ "$side" != nginx ] && line+=" $(pct "${R[$side,$run,share]}") ${R[$side,$run,hwm]}"
            [ "${side#pf}" != "$side" ] && line+=" (qoe ${R[$side,$run,q]})"
            line+=";"
        done
        echo "$line"
    done
} | tee "$T/table.md"
[ -n "${BENCH_OUT:-}" ] && cp "$T/table.md" "$BENCH_OUT"
exit 0
