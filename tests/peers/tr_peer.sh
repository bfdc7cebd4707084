#!/usr/bin/env bash
# Transmission 3.00 reference peer (transmission-cli) for peerflow's tests.
#
#   tr_peer.sh seed|get (--torrent T | --magnet M) --dir D [options]
#     --port P          listen port (default: a free one; transmission needs a number)
#     --bind ADDR       listen address (default 127.0.0.1; IPv6 side binds ::1)
#     --timeout S       get: exit 3 after S s; seed: stop and exit 0 after S s
#     --ready-file F    written with the port once listening (get) / seeding (seed)
#     --stats-file F    JSON every second and at exit (see below)
#     --config DIR      transmission config dir (default: a temp dir, removed)
#     --utp             uTP on (libutp; default off); Transmission 3.00 still
#                       listens on TCP too and cannot be told not to
#     --peer HOST:PORT  refused: Transmission cannot be told to dial a peer,
#                       and it never dials loopback peers learned from a
#                       tracker or PEX. The other side must dial it.
#
# Prints `listening on port N` on stdout. `get` prints `complete` and exits 0
# once Transmission ran its torrent-done script (every piece verified) and
# no `.part` file is left. Why transmission-cli and not the daemon, and the
# settings used: docs/INTEROP.md.
#
# Stats JSON: {"uploaded","downloaded","peers","have","pieces","complete",
#   "progress","port"}. uploaded/downloaded are estimates from the status line
# (ratio x size; progress x size), at exit raised to the byte counts in
# Transmission's resume file if those are larger. "have"/"pieces" are -1
# (transmission-cli does not print them); use "progress" (0..1).
set -euo pipefail

die() { echo "tr_peer: $*" >&2; exit 2; }
mode=${1:-}
[ "$mode" = seed ] || [ "$mode" = get ] || die "usage: tr_peer.sh seed|get (--torrent T | --magnet M) --dir D [options]"
shift
torrent= magnet= dir= port=0 bind=127.0.0.1 timeout=0 ready= statsf= cfg=
while [ $# -gt 0 ]; do
    case $1 in
        --torrent) torrent=$2; shift 2 ;;
        --magnet) magnet=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --bind) bind=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --ready-file) ready=$2; shift 2 ;;
        --stats-file) statsf=$2; shift 2 ;;
        --config) cfg=$2; shift 2 ;;
        --utp) utp=true; shift ;;
        --peer) die "--peer: transmission cannot dial a given peer; make the other side dial it (see tr_peer.sh header)" ;;
        --no-tracker|--tracker-only|--webseed-ok) shift ;;  # accepted for symmetry
        *) die "unknown argument: $1" ;;
    esac
done
if { [ -n "$torrent" ] && [ -n "$magnet" ]; } || { [ -z "$torrent" ] && [ -z "$magnet" ]; }; then
    die "exactly one of --torrent / --magnet"
fi
[ -n "$dir" ] || die "--dir is required"
command -v transmission-cli >/dev/null || { echo "tr_peer: transmission-cli not installed" >&2; exit 1; }
PY=/usr/bin/python3

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -n "$torrent" ] && torrent=$(cd "$(dirname "$torrent")" && pwd)/$(basename "$torrent")
own_cfg=0
if [ -z "$cfg" ]; then
    cfg=$(mktemp -d "${TMPDIR:-/tmp}/tr_peer.XXXXXX")
    own_cfg=1
fi
mkdir -p "$cfg"
cfg=$(cd "$cfg" && pwd)
if [ "$port" = 0 ]; then
    port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fi
bind6="::1"
case $bind in *:*) bind6=$bind; bind=127.0.0.1 ;; esac

cat > "$cfg/settings.json" <<EOF
{
  "dht-enabled": false,
  "lpd-enabled": false,
  "utp-enabled": ${utp:-false},
  "pex-enabled": false,
  "port-forwarding-enabled": false,
  "bind-address-ipv4": "$bind",
  "bind-address-ipv6": "$bind6",
  "peer-port": $port,
  "peer-port-random-on-start": false,
  "encryption": 0,
  "rename-partial-files": true,
  "incomplete-dir-enabled": false,
  "start-added-torrents": true,
  "trash-original-torrent-files": false,
  "speed-limit-down-enabled": false,
  "speed-limit-up-enabled": false,
  "alt-speed-enabled": false,
  "ratio-limit-enabled": false,
  "idle-seeding-limit-enabled": false,
  "blocklist-enabled": false,
  "rpc-enabled": false,
  "message-level": 2,
  "peer-limit-global": 400,
  "peer-limit-per-torrent": 200,
  "upload-slots-per-torrent": 50,
  "cache-size-mb": 16,
  "download-queue-enabled": false,
  "seed-queue-enabled": false,
  "queue-stalled-enabled": false
}
EOF
donef=$cfg/torrent-done
rm -f "$donef"
printf '#!/bin/sh\necho "$TR_TORRENT_NAME" > "%s"\n' "$donef" > "$cfg/done.sh"
chmod +x "$cfg/done.sh"
trlog=$cfg/transmission.log

stdbuf -o0 -e0 transmission-cli -g "$cfg" -w "$dir" -p "$port" -et -f "$cfg/done.sh" \
    "${torrent:-$magnet}" >"$trlog" 2>&1 &
trpid=$!
start=$SECONDS

# Last status line of transmission-cli (it redraws with \r).
status_line() { tr '\r' '\n' <"$trlog" 2>/dev/null | grep -E '^(Progress|Seeding)' | tail -1; }

total_size() {
    local f=${torrent:-$(ls "$cfg"/torrents/*.torrent 2>/dev/null | head -1)}
    [ -n "$f" ] && [ -f "$f" ] || { echo 0; return; }
    $PY -c 'import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).total_size())' "$f" 2>/dev/null || echo 0
}
size=
write_stats() {  # $1 = final (read the resume file)
    [ -n "$statsf" ] || return 0
    [ -n "$size" ] && [ "$size" != 0 ] || size=$(total_size)
    local line resume
    line=$(status_line || true)
    resume=$(ls "$cfg"/resume/*.resume 2>/dev/null | head -1 || true)
    STATUS_LINE=$line SIZE=$size PORT=$port FINAL=${1:-0} RESUME=$resume \
    DONE=$([ -f "$donef" ] && echo 1 || echo 0) MODE=$mode $PY - "$statsf" <<'EOF' || true
import json, os, re, sys
line = os.environ["STATUS_LINE"]; size = int(os.environ["SIZE"] or 0)
d = {"uploaded": 0, "downloaded": 0, "peers": 0, "have": -1, "pieces": -1,
     "complete": False, "progress": 0.0, "port": int(os.environ["PORT"])}
m = re.search(r"Progress: ([0-9.]+)%, dl from \d+ of (\d+) peers .*ul to (\d+)", line)
if m:
    d["progress"] = float(m.group(1)) / 100
    d["peers"] = int(m.group(2))
    d["downloaded"] = int(d["progress"] * size)
m = re.search(r"Seeding, uploading to \d+ of (\d+) peer", line)
if m:
    d["peers"] = int(m.group(1)); d["progress"] = 1.0; d["complete"] = True
m = re.search(r"\[([0-9.]+)\]\s*$", line)
if m and size:
    d["uploaded"] = int(float(m.group(1)) * size)
if os.environ["DONE"] == "1" or os.environ["MODE"] == "seed" and d["complete"]:
    d["complete"] = True; d["progress"] = 1.0
r = os.environ["RESUME"]
if os.environ["FINAL"] == "1" and r and os.path.exists(r):
    try:
        import libtorrent as lt
        rd = lt.bdecode(open(r, "rb").read())
        # the resume file can lag behind the last status line: keep the larger
        d["uploaded"] = max(d["uploaded"], int(rd.get(b"uploaded", 0)))
        d["downloaded"] = max(d["downloaded"], int(rd.get(b"downloaded", 0)))
    except Exception as e:
        print("tr_peer: resume: %s" % e, file=sys.stderr)
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as f:
    json.dump(d, f); f.write("\n")
os.replace(tmp, sys.argv[1])
EOF
}

stopped=0
stop_transmission() {
    [ "$stopped" = 1 ] && return 0
    stopped=1
    if kill -0 "$trpid" 2>/dev/null; then
        kill -INT "$trpid" 2>/dev/null || true   # graceful: saves resume data
        for _ in $(seq 50); do kill -0 "$trpid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$trpid" 2>/dev/null || true
    fi
    wait "$trpid" 2>/dev/null || true
    write_stats 1
}
finish() {
    local rc=$1
    stop_transmission
    if [ "$rc" != 0 ] || [ -n "${TR_PEER_SHOW_LOG:-}" ]; then
        echo "tr_peer: transmission-cli log (last 30 lines):" >&2
        tr '\r' '\n' <"$trlog" | grep -v '^ *$' | awk '!seen[$0]++' | tail -30 >&2 || true
    fi
    [ "$own_cfg" = 1 ] && rm -rf "$cfg"
    exit "$rc"
}
trap 'finish $([ "$mode" = seed ] && echo 0 || echo 130)' TERM INT

elapsed() { echo $((SECONDS - start)); }
listening=0
announced=0
last_stats=0
while :; do
    if ! kill -0 "$trpid" 2>/dev/null; then
        echo "tr_peer: transmission-cli exited" >&2
        finish 1
    fi
    if [ "$listening" = 0 ] && [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
        listening=1
        echo "listening on port $port"
        if [ "$mode" = get ] && [ -n "$ready" ]; then echo "$port" > "$ready.tmp"; mv "$ready.tmp" "$ready"; fi
    fi
    if [ "$listening" = 1 ]; then
        if [ "$mode" = seed ] && [ "$announced" = 0 ] && [[ "$(status_line || true)" == Seeding* ]]; then
            announced=1
            echo seeding
            if [ -n "$ready" ]; then echo "$port" > "$ready.tmp"; mv "$ready.tmp" "$ready"; fi
        fi
        if [ "$mode" = get ] && [ -f "$donef" ]; then
            name=$(cat "$donef")
            if [ -e "$dir/$name" ] && [ -z "$(find "$dir/$name" -name '*.part' 2>/dev/null | head -1)" ]; then
                echo "downloaded in $(elapsed) s"
                echo complete
                finish 0
            fi
        fi
    fi
    now=$(date +%s)
    if [ -n "$statsf" ] && [ "$now" != "$last_stats" ]; then
        write_stats 0
        last_stats=$now
    fi
    if [ "$timeout" != 0 ] && [ "$(elapsed)" -ge "${timeout%.*}" ]; then
        if [ "$mode" = get ]; then
            echo "tr_peer: timeout after ${timeout}s: $(status_line)" >&2
            finish 3
        fi
        finish 0
    fi
    sleep 0.2 &
    wait $! || true
done
