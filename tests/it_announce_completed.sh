#!/usr/bin/env bash
# BEP 3 "completed" against Debian's opentracker (issue 19, item 13): a
# `peerflow seed` that starts complete announces "started" and never
# "completed", however often it restarts; a `peerflow get` that completes
# a download says "completed" once. Asserted on opentracker's own count
# (scrape's "downloaded", which it raises for each "completed" event):
# 0 after two seed starts, 1 after the download.
#
# Regression test: the seed announced "completed" right after "started",
# and the count rose on each seed start.
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_peerflow
require_cmd opentracker
require_cmd curl

ot_port=$(free_port)
gen_file 4M "$T/src/feed.bin" announce-completed
$PF_BIN create -p 64K -t "http://127.0.0.1:$ot_port/announce" -o "$T/feed.torrent" \
    "$T/src/feed.bin" >/dev/null
ih=$(info_hash "$T/feed.torrent")
start_opentracker "$ot_port" "$ih"

# scrape_field NAME: complete | incomplete | downloaded, from opentracker
scrape_field() {
    curl -sf --max-time 5 "http://127.0.0.1:$ot_port/scrape?info_hash=$(echo "$ih" | sed 's/../%&/g')" \
        >"$T/scrape.out" || fail "scrape failed"
    $PY - "$T/scrape.out" "$1" <<'EOF'
import re, sys
doc = open(sys.argv[1], "rb").read()
m = re.search(rb"%d:%si(\d+)e" % (len(sys.argv[2]), sys.argv[2].encode()), doc)
print(m.group(1).decode() if m else "missing")
EOF
}

# seed_once NAME: a seed's whole life -- start, announce, a few seconds, stop
seed_once() {
    spawn "$1" $PF_BIN seed -vv -d "$T/src" -l 0 --bind 127.0.0.1 "$T/feed.torrent"
    wait_for_log "$1" "announce to http://127.0.0.1:$ot_port/announce: " 15 >/dev/null
    sleep 2 # a "completed" would follow the "started" reply at once
    grep -c "announce to" "$T/logs/$1.log" | sed "s/^/$1: announces answered: /" >&2
    stop "$1"
}

seed_once seed1
[ "$(scrape_field complete)" = 0 ] || log "after seed1 stopped: complete=$(scrape_field complete)"
seed_once seed2
d=$(scrape_field downloaded)
log "opentracker after two seed starts: downloaded=$d"
[ "$d" = 0 ] || fail "a seed that started complete counted as a download ($d 'completed' events)"

# A real download does count, once.
spawn seed3 $PF_BIN seed -vv -d "$T/src" -l 0 --bind 127.0.0.1 "$T/feed.torrent"
wait_for_log seed3 "announce to http://127.0.0.1:$ot_port/announce: " 15 >/dev/null
spawn get $PF_BIN get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --stats "$T/get.json" "$T/feed.torrent"
expect_exit0 get 40
assert_same_file "$T/src/feed.bin" "$T/get/feed.bin"
d=$(scrape_field downloaded)
log "opentracker after one download: downloaded=$d, complete=$(scrape_field complete)"
[ "$d" = 1 ] || fail "the download's 'completed' was not counted once (downloaded=$d)"
stop seed3
