#!/usr/bin/env bash
# bench/stream's HLS row (issue 16): a packaged title through `peerflow
# play` beside the same title straight from nginx, N runs of each,
# alternated run by run.
#   title    tests/media/make_title.sh (BENCH_SECS, 60 s): 3 H.264
#            renditions (~1, 2.5, 5 Mbit/s) + AAC, 4 s fMP4 segments, HLS
#            and DASH over the same files; `peerflow create` orders it by
#            rendition, 256 KiB pieces, nginx's folder as web seed
#   CDN      a real nginx, each response capped at BENCH_CDN_RATE (limit_rate,
#            default 3m = 3 MiB/s, a CDN edge's rate to one viewer)
#   swarm    one `peerflow seed` (no cap), dialled with --peer
# A side is a player's start, done by curl the way hls.js starts: the
# master playlist, the middle rendition's media playlist and the audio's,
# both init segments, then segment after segment of both renditions.
#   time to first segment  from the side's start (the process start for
#            peerflow, curl's first request for nginx) to the last byte of
#            the first video segment
#   time to 10 s playable  ... to the last byte of the third video segment
#            and audio segment (12 s of media)
#   CDN share  nginx body bytes during the side / bytes of the whole
#            rendition and audio, fetched to the end (each file compared
#            with the source)
# Usage: bench/stream_hls.sh [--runs N]   (PF_BIN, BENCH_SECS, BENCH_CDN_RATE)
set -euo pipefail
RUNS=3
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
    esac
done
export PF_BUILD=${PF_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
export PF_SRC=${PF_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export NGINX_LIMIT_RATE=${BENCH_CDN_RATE:-3m}
SECS=${BENCH_SECS:-60}
. "$(dirname "$0")/../tests/lib.sh"
pf_setup $((200 + RUNS * 120))
require_peerflow
require_cmd ffmpeg
require_cmd curl

bash "$PF_SRC/tests/media/make_title.sh" --seconds "$SECS" "$T/www/title" >"$T/make_title.log" 2>&1 ||
    fail "make_title.sh failed"
start_nginx_origin "$T/www"
$PF_BIN create -p 256K -w "$NGINX_URL/" -o "$T/title.torrent" "$T/www/title" >"$T/create.log" 2>&1 ||
    fail "create failed: $(tail -3 "$T/create.log")"
mkdir -p "$T/seed"
cp -r "$T/www/title" "$T/seed/title"
spawn seed "$PF_BIN" seed -d "$T/seed" -l 0 --bind 127.0.0.1 --no-tracker "$T/title.torrent"
seed_port=$(port_of seed)

# The middle rendition and the audio, in presentation order.
vpl=media_1.m3u8
apl=media_3.m3u8
mapfile -t vsegs < <(grep -v '^#' "$T/www/title/$vpl" | grep .)
mapfile -t asegs < <(grep -v '^#' "$T/www/title/$apl" | grep .)
vinit=$(sed -n 's/.*EXT-X-MAP:URI="\([^"]*\)".*/\1/p' "$T/www/title/$vpl")
ainit=$(sed -n 's/.*EXT-X-MAP:URI="\([^"]*\)".*/\1/p' "$T/www/title/$apl")
total=0
for f in "$vpl" "$apl" master.m3u8 "$vinit" "$ainit" "${vsegs[@]}" "${asegs[@]}"; do
    total=$((total + $(stat -c %s "$T/www/title/$f")))
done
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# get BASE FILE: fetch one file of the title, compare it with the source.
get() {
    curl -sS --fail --max-time 60 -o "$T/got" "$1/$2" || fail "curl $1/$2 failed"
    cmp -s "$T/got" "$T/www/title/$2" || fail "$1/$2 differs from the source"
}

# player BASE T0: the start of a player; prints "first ten".
player() {
    local base=$1 t0=$2 first ten k
    get "$base" master.m3u8
    get "$base" "$vpl"
    get "$base" "$apl"
    get "$base" "$vinit"
    get "$base" "$ainit"
    for k in "${!vsegs[@]}"; do
        get "$base" "${vsegs[$k]}"
        [ -n "${BENCH_TRACE:-}" ] && log "  video segment $k at $(sub "$(now)" "$t0") s"
        [ $k -eq 0 ] && first=$(sub "$(now)" "$t0")
        [ $k -lt ${#asegs[@]} ] && get "$base" "${asegs[$k]}"
        [ $k -eq 2 ] && ten=$(sub "$(now)" "$t0")
    done
    echo "$first $ten"
}

: >"$T/results"
for r in $(seq 1 "$RUNS"); do
    sides="nginx peerflow"
    [ $((r % 2)) = 0 ] && sides="peerflow nginx"
    for side in $sides; do
        before=$(nginx_bytes_total "$NGINX_LOG")
        if [ "$side" = nginx ]; then
            t0=$(now)
            read -r first ten < <(player "$NGINX_URL/title" "$t0")
        else
            rm -rf "$T/v.cache"
            t0=$(now)
            start_play v "$T/title.torrent" --peer "127.0.0.1:$seed_port"
            read -r first ten < <(player "$PLAY_BASE/t" "$t0")
            stop v
        fi
        cdn=$(($(nginx_bytes_total "$NGINX_LOG") - before))
        share=$(awk -v a="$cdn" -v b="$total" 'BEGIN { printf "%.3f", a / b }')
        log "run $r $side: first segment ${first}s, 10 s playable ${ten}s, CDN $cdn B of $total ($share)"
        echo "$side $first $ten $share" >>"$T/results"
    done
done
echo "side   runs  first_segment_s(median)  ten_s_playable_s(median)  cdn_share(median)"
for side in nginx peerflow; do
    grep "^$side " "$T/results" | awk -v s="$side" '
        { f[NR] = $2; t[NR] = $3; c[NR] = $4 }
        function med(a, n,   i, j, x) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
                                      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        END { printf "%-8s %4d  %8.3f  %8.3f  %6.3f\n", s, NR, med(f, NR), med(t, NR), med(c, NR) }'
done
echo "runs:"
cat "$T/results"
