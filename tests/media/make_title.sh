#!/usr/bin/env bash
# Makes a small packaged title with ffmpeg, for tests: a synthetic source
# (testsrc2 + a sine tone), three H.264 renditions (426x240 ~1 Mbit/s,
# 854x480 ~2.5 Mbit/s, 1280x720 ~5 Mbit/s), AAC audio, a keyframe every
# 4 s, 4 s segments.
#
#   tests/media/make_title.sh [--ts] [--seconds N] OUTDIR
#
# Default (fMP4): ffmpeg's dash muxer with -hls_playlist 1 writes ONE
# folder holding manifest.mpd AND master.m3u8 + media_N.m3u8, all over
# the same segments (init-streamN.m4s, chunk-streamN-NNNNN.m4s).
# --ts: ffmpeg's hls muxer instead, MPEG-TS segments per rendition
# (vN/segNNN.ts, vN/index.m3u8) and master.m3u8 (-var_stream_map,
# -master_pl_name), audio muxed into each rendition.
# --seconds N: the title's length (default 24; a multiple of 4 keeps the
# segments equal).
#
# Deterministic enough for tests: same source, same settings, one thread
# per encoder, bitexact flags (the byte contents may still differ across
# ffmpeg versions; the structure does not).  A few seconds on one core.
set -euo pipefail

ts=0
secs=24
while [ $# -gt 1 ]; do
    case $1 in
    --ts) ts=1; shift ;;
    --seconds) secs=$2; shift 2 ;;
    *) echo "usage: $0 [--ts] [--seconds N] OUTDIR" >&2; exit 2 ;;
    esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--ts] [--seconds N] OUTDIR" >&2; exit 2; }
case $secs in '' | *[!0-9]* | 0) echo "$0: bad --seconds '$secs'" >&2; exit 2 ;; esac
out=$1
mkdir -p "$out"
FFMPEG=${FFMPEG:-ffmpeg}

src=(-f lavfi -i "testsrc2=size=1280x720:rate=25:duration=$secs"
     -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$secs")
# Keyframe every 4 s (100 frames at 25 fps), no scene-cut keyframes.
x264=(-c:v libx264 -preset ultrafast -threads 1 -g 100 -keyint_min 100 -sc_threshold 0
      -force_key_frames "expr:gte(t,n_forced*4)" -pix_fmt yuv420p)
rates=(-filter_complex "[0:v]split=3[a][b][c];[a]scale=426:240[v0];[b]scale=854:480[v1];[c]scale=1280:720[v2]"
       -b:v:0 900k -maxrate:v:0 1000k -bufsize:v:0 2000k
       -b:v:1 2300k -maxrate:v:1 2500k -bufsize:v:1 5000k
       -b:v:2 4600k -maxrate:v:2 5000k -bufsize:v:2 10000k)

if [ "$ts" = 0 ]; then
    (cd "$out" && "$FFMPEG" -hide_banner -loglevel error -y "${src[@]}" "${rates[@]}" \
        -map "[v0]" -map "[v1]" -map "[v2]" -map 1:a "${x264[@]}" \
        -c:a aac -b:a 128k -ac 2 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
        -f dash -seg_duration 4 -use_template 1 -use_timeline 1 \
        -adaptation_sets "id=0,streams=v id=1,streams=a" -hls_playlist 1 manifest.mpd)
else
    (cd "$out" && "$FFMPEG" -hide_banner -loglevel error -y "${src[@]}" "${rates[@]}" \
        -map "[v0]" -map 1:a -map "[v1]" -map 1:a -map "[v2]" -map 1:a "${x264[@]}" \
        -c:a aac -b:a 128k -ac 2 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
        -f hls -hls_time 4 -hls_playlist_type vod -hls_segment_type mpegts \
        -hls_segment_filename 'v%v/seg%03d.ts' -master_pl_name master.m3u8 \
        -var_stream_map "v:0,a:0 v:1,a:1 v:2,a:2" 'v%v/index.m3u8')
fi
