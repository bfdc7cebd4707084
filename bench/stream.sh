#!/usr/bin/env bash
# Streaming start-up, stalls and CDN share: peerflow beside webtorrent-cli
# and beside the CDN alone, in one run, on the same inputs:
#   media    an H.264/AAC MP4 with faststart by ffmpeg (BENCH_SECS, 60 s,
#            ~2.1 Mbit/s, ~16 MB); torrent by `peerflow create`, 256 KiB
#            pieces, with the nginx URL as web seed (url-list) and the
#            tracker below as its announce URL
#   CDN      a real nginx (tests/lib.sh start_nginx_origin), each response
#            capped at BENCH_CDN_RATE (nginx limit_rate, default 3m =
#            3 MiB/s ~ 25 Mbit/s per connection: a CDN edge's throughput to
#            one viewer; 0 = unlimited, i.e. loopback speed)
#   swarm    opentracker + one libtorrent seeder (tests/peers/lt_peer.py, no
#            upload cap) that announces to it; each viewer finds the seeder
#            through the tracker (no --peer for anyone)
# Sides, one after the other, each with a fresh cache:
#   nginx       curl -r 0-(P-1) of the file straight from nginx, where P =
#               10 s of media (10 x container bitrate): time to first byte
#               and time to the whole prefix ("10 s playable"); median of 3
#   peerflow    `peerflow play TORRENT` (http port 0, URL from its stdout)
#   WebTorrent  webtorrent-cli 6 (`webtorrent download TORRENT -p PORT
#               --keep-seeding`, TCP only via .pf-node/bin/webtorrent-tcp),
#               URL http://127.0.0.1:PORT/webtorrent/<infohash>/video.mp4
# For both clients, measured by this script the same way:
#   TTFB / time to 10 s   from process start to curl's first byte / last
#               byte of the same 0-(P-1) range (curl retried until the
#               client's server accepts a connection); bytes compared
#   stalls      `ffmpeg -re -t BENCH_PLAY_S (30) -i URL -f null -` (reads at
#               the native rate, like a player) from a fresh connection;
#               -progress is sampled; lag = wall time since the first frame
#               - media time since the first frame; a stall is an episode
#               where lag rises more than 0.25 s above its minimum so far;
#               stall time = the sum of each episode's peak excess
#   CDN share   nginx body bytes sent during the side (access log) / file
#               size, after the whole file was fetched (curl, cmp with the
#               source): the fraction of the film the CDN carried
# and for peerflow also its own /stats.json QoE (ttfb_s, time_to_playable_s
# from the first request; stalls; cdn_downloaded).
# Runs inside a new network namespace (unshare -n, only lo): WebTorrent has
# DHT/LSD/UPnP it cannot switch off from the CLI, so nothing may leave.
#   bench/stream.sh [--only peerflow|webtorrent] [--keep]
# Env: BENCH_SECS (60), BENCH_PLAY_S (30), BENCH_CDN_RATE (3m), PF_TMP.
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
ONLY=
while [ $# -gt 0 ]; do
    case $1 in
        --only) ONLY=$2; shift 2 ;;
        --keep) export PF_KEEP=1; shift ;;
        *) echo "usage: bench/stream.sh [--only peerflow|webtorrent] [--keep]" >&2; exit 2 ;;
    esac
done
SECS=${BENCH_SECS:-60}
PLAY_S=${BENCH_PLAY_S:-30}
export NGINX_LIMIT_RATE=${BENCH_CDN_RATE:-3m}
CDN_DESC="nginx at ${NGINX_LIMIT_RATE}/s per response"
[ "$NGINX_LIMIT_RATE" = 0 ] && CDN_DESC="nginx unlimited (loopback)"
. "$(dirname "$0")/../tests/lib.sh"
TEST_NAME=stream
pf_setup 400
require_libtorrent
require_cmd ffmpeg
require_cmd ffprobe ffmpeg
require_cmd curl
require_cmd opentracker
WT_CLI=$PF_NODE_DIR/bin/webtorrent-tcp
have_pf=1
if [ "$ONLY" != webtorrent ]; then
    if [ ! -x "$PF_BIN" ] || ! "$PF_BIN" play --help >/dev/null 2>&1; then
        [ "$ONLY" = peerflow ] && fail "no 'peerflow play' in $PF_BIN"
        log "no 'peerflow play' in $PF_BIN: WebTorrent and nginx only"
        have_pf=0
    fi
fi
[ "$ONLY" = webtorrent ] && have_pf=0
have_wt=1
if [ "$ONLY" != peerflow ]; then
    require_webtorrent
    [ -x "$WT_CLI" ] && [ -f "$PF_NODE_DIR/node_modules/webtorrent-cli/bin/cmd.js" ] ||
        fail "webtorrent-cli missing in $PF_NODE_DIR (scripts/install-node-peers.sh)"
else
    have_wt=0
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
mkdir -p "$T/seed"
cp "$SRC" "$T/seed/"
spawn seeder $LT_PEER seed --torrent "$T/video.torrent" --dir "$T/seed" \
    --ready-file "$T/seed.ready" --stats-file "$T/seed.json"
wait_for_file "$T/seed.ready" 30 seeder
sleep 1   # its first announce reaches the tracker
log "media: $SIZE B, $SECS s, $BITRATE bit/s; 10 s prefix = $PREFIX B; CDN $CDN_DESC"

declare -A R

# --- (a) straight from nginx ---------------------------------------------------
nginx_side() {
    local i out tt=() tf=() tr=()
    for i in 1 2 3; do
        local t0 t1
        t0=$(now)
        out=$(curl -sS --max-time 60 -r "0-$((PREFIX - 1))" -o "$T/prefix.got" \
            -w '%{time_starttransfer} %{time_total}' "$NGINX_URL/video.mp4")
        t1=$(now)
        cmp -s "$T/prefix.want" "$T/prefix.got" || fail "nginx prefix differs"
        read -r a b <<<"$out"
        # wall clock of the curl process: its start-up counts like a client's
        tf+=("$(sub "$t1" "$t0")")
        tr+=("$(awk -v b="$b" 'BEGIN { printf "%.3f", b }')")
        tt+=("$(awk -v w="$(sub "$t1" "$t0")" -v b="$b" -v a="$a" 'BEGIN { printf "%.3f", w - b + a }')")
    done
    R[nginx_ttfb]=$(printf '%s\n' "${tt[@]}" | sort -g | sed -n 2p)
    R[nginx_ttp]=$(printf '%s\n' "${tf[@]}" | sort -g | sed -n 2p)
    R[nginx_req_ttp]=$(printf '%s\n' "${tr[@]}" | sort -g | sed -n 2p)
    log "nginx: TTFB ${tt[*]} s, 10 s prefix ${tf[*]} s (median ${R[nginx_ttfb]} / ${R[nginx_ttp]})"
}

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

# client_side NAME URL-OR-EMPTY: the common measurements once the client
# runs (spawned as NAME at $T0). For peerflow the URL comes from its stdout.
client_side() {
    local name=$1 url=$2 t1 out a b
    # prefix: from process start to the first / last byte
    local port
    port=$(sed -E 's#^https?://[^:/]+:([0-9]+)/.*#\1#' <<<"$url")
    local n=0
    while [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; do
        n=$((n + 1)); [ $n -gt 3000 ] && fail "$name: nothing listens on $port after 60 s"
        is_running "$name" || fail "$name exited"
        sleep 0.02
    done
    t1=$(now)
    out=$(curl -sS --max-time 120 -r "0-$((PREFIX - 1))" -o "$T/$name.prefix" \
        -w '%{time_starttransfer} %{time_total}' "$url") || fail "$name: prefix request failed"
    read -r a b <<<"$out"
    cmp -s "$T/prefix.want" "$T/$name.prefix" || fail "$name: prefix bytes differ"
    R[${name}_ttfb]=$(awk -v s="$(sub "$t1" "$T0")" -v a="$a" 'BEGIN { printf "%.3f", s + a }')
    R[${name}_ttp]=$(awk -v s="$(sub "$t1" "$T0")" -v b="$b" 'BEGIN { printf "%.3f", s + b }')
    R[${name}_req_ttp]=$(awk -v b="$b" 'BEGIN { printf "%.3f", b }')
    log "$name: server up after $(sub "$t1" "$T0") s; first byte ${R[${name}_ttfb]} s, 10 s prefix ${R[${name}_ttp]} s from process start (${b} s from the request)"
    # playback at the native rate
    stall_play "$url" "$T/$name.stalls" || fail "$name: ffmpeg -re failed"
    read -r R[${name}_stalls] R[${name}_stall_s] _ R[${name}_played] R[${name}_ffmpeg] <"$T/$name.stalls"
    log "$name: ffmpeg -re played ${R[${name}_played]} s: ${R[${name}_stalls]} stalls, ${R[${name}_stall_s]} s (ffmpeg stderr: ${R[${name}_ffmpeg]})"
    # the whole film, byte-exact
    curl -sS --max-time 120 -o "$T/$name.full" "$url" || fail "$name: full fetch failed"
    if cmp -s "$SRC" "$T/$name.full"; then R[${name}_same]=yes; else R[${name}_same]=NO; fi
    rm -f "$T/$name.full"
    sleep 1.1   # the seeder's stats file is rewritten every second
    R[${name}_seed_up]=$(( $(json_get "$T/seed.json" uploaded) - SEED_UP0 ))
    local cdn
    cdn=$(tail -n +"$((NGX_L0 + 1))" "$NGINX_LOG" | awk '{ s += $4 } END { printf "%d\n", s }')
    R[${name}_cdn]=$cdn
    R[${name}_share]=$(awk -v c="$cdn" -v s="$SIZE" 'BEGIN { printf "%.3f", c / s }')
    R[${name}_cdn_reqs]=$(tail -n +"$((NGX_L0 + 1))" "$NGINX_LOG" | wc -l)
    log "$name: bytes equal: ${R[${name}_same]}; CDN (nginx) $cdn B in ${R[${name}_cdn_reqs]} requests = ${R[${name}_share]} of the file; the seeder uploaded ${R[${name}_seed_up]} B"
}

pf_side() {
    NGX_L0=$(wc -l <"$NGINX_LOG")
    SEED_UP0=$(json_get "$T/seed.json" uploaded)
    mkdir -p "$T/pf.cache"
    T0=$(now)
    spawn pf $PF_BIN play -d "$T/pf.cache" --http-port 0 -l 0 --bind 127.0.0.1 \
        --stats "$T/pf.stats.json" "$T/video.torrent"
    local url
    url=$(wait_for_log pf '^https?://[^ ]+/files/0/' 60)
    url=${url%%[[:space:]]*}
    client_side pf "$url"
    local base=${url%%/files/*}
    curl -sS --max-time 5 -o "$T/pf.final.json" "$base/stats.json" || true
    if [ -s "$T/pf.final.json" ]; then
        read -r R[pf_q_ttfb] R[pf_q_ttp] R[pf_q_stalls] R[pf_q_stall_s] R[pf_q_cdn] < <($PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
q = d["files"][0]["qoe"] if d.get("files") else {}
f = lambda v: "-" if v is None else v
print(f(q.get("ttfb_s")), f(q.get("time_to_playable_s")), f(q.get("stalls")), f(q.get("stall_s")), d.get("cdn_downloaded"))
' "$T/pf.final.json")
        log "pf /stats.json: ttfb_s ${R[pf_q_ttfb]}, time_to_playable_s ${R[pf_q_ttp]}, stalls ${R[pf_q_stalls]} (${R[pf_q_stall_s]} s), cdn_downloaded ${R[pf_q_cdn]}"
    fi
    stop pf
}

wt_side() {
    NGX_L0=$(wc -l <"$NGINX_LOG")
    SEED_UP0=$(json_get "$T/seed.json" uploaded)
    local port
    port=$(free_port)
    mkdir -p "$T/wt.out"
    T0=$(now)
    spawn wt "$WT_CLI" download "$T/video.torrent" -o "$T/wt.out" -p "$port" -s 0 -q --keep-seeding
    client_side wt "http://127.0.0.1:$port/webtorrent/$IH/video.mp4"
    stop wt
}

nginx_side
[ $have_pf = 1 ] && pf_side
[ $have_wt = 1 ] && wt_side

# --- report ------------------------------------------------------------------
v() { echo "${R[$1]:--}"; }
ratio() { awk -v a="$(v "$1")" -v b="$(v "$2")" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
pct() { awk -v a="$(v "$1")" 'BEGIN { if (a == "-") print "-"; else printf "%.1f%%", 100 * a }'; }
{
    echo
    echo "### bench/stream: ${SECS} s H.264/AAC MP4, $SIZE B, $((BITRATE / 1000)) kbit/s; CDN $CDN_DESC; 1 libtorrent seeder via opentracker; loopback"
    echo
    echo "| | nginx only | peerflow | WebTorrent | peerflow / nginx | peerflow / WebTorrent |"
    echo "|---|---:|---:|---:|---:|---:|"
    echo "| time to first byte (s, from process start) | $(v nginx_ttfb) | $(v pf_ttfb) | $(v wt_ttfb) | $(ratio pf_ttfb nginx_ttfb) | $(ratio pf_ttfb wt_ttfb) |"
    echo "| time to 10 s playable (s, $PREFIX B) | $(v nginx_ttp) | $(v pf_ttp) | $(v wt_ttp) | $(ratio pf_ttp nginx_ttp) | $(ratio pf_ttp wt_ttp) |"
    echo "| time to 10 s playable from the request (s, curl) | $(v nginx_req_ttp) | $(v pf_req_ttp) | $(v wt_req_ttp) | $(ratio pf_req_ttp nginx_req_ttp) | $(ratio pf_req_ttp wt_req_ttp) |"
    echo "| stalls in ${PLAY_S} s at native rate (ffmpeg -re) | - | $(v pf_stalls) | $(v wt_stalls) | | |"
    echo "| stall time (s) | - | $(v pf_stall_s) | $(v wt_stall_s) | | |"
    echo "| CDN share of the film (nginx log) | 100% | $(pct pf_share) | $(pct wt_share) | | $(ratio pf_share wt_share) |"
    echo "| bytes from the seeding peer (its counter) | - | $(v pf_seed_up) | $(v wt_seed_up) | | |"
    echo "| CDN requests | 1 | $(v pf_cdn_reqs) | $(v wt_cdn_reqs) | | |"
    echo "| bytes served = source | yes | $(v pf_same) | $(v wt_same) | | |"
    if [ -n "${R[pf_q_ttp]:-}" ]; then
        echo
        echo "peerflow's own /stats.json QoE (from the first request): ttfb_s $(v pf_q_ttfb), time_to_playable_s $(v pf_q_ttp), stalls $(v pf_q_stalls) ($(v pf_q_stall_s) s), cdn_downloaded $(v pf_q_cdn) B"
    fi
    if [ $have_pf = 1 ]; then
        echo
        t1=$(awk -v a="$(v pf_ttp)" -v b="$(v nginx_ttp)" 'BEGIN { print (a <= 1.2 * b) ? "MET" : "MISSED" }')
        t2=$(awk -v a="$(v pf_share)" -v b="$(v wt_share)" 'BEGIN { if (b == "-") print "n/a"; else print (a < b) ? "MET" : "MISSED" }')
        t3=$( [ "$(v pf_stalls)" = 0 ] && echo MET || echo MISSED )
        echo "Targets: time to playable <= 1.2 x nginx: $t1 ($(ratio pf_ttp nginx_ttp) x); CDN share below WebTorrent's: $t2; zero stalls: $t3"
    fi
} | tee "$T/table.md"
[ -n "${BENCH_OUT:-}" ] && cp "$T/table.md" "$BENCH_OUT"
exit 0
