#!/usr/bin/env bash
# Misbehaving peer: a request flood at a seeder (tests/peers/hostile_peer.py
# request-flood). The flooder handshakes, says it is interested and, once
# unchoked, sends REQUESTs as fast as Python can write them (millions a
# second, 70% of them the same 64 blocks again and again: duplicates), for
# 12 s, while an honest `peerflow get` downloads from the same seeder.
#
#   1. a flooder that reads what it is sent
#   2. one that never reads at all (the seeder's replies can only pile up
#      on its side)
#
# Both without BEP 6 Fast: with it, every request the seeder cannot queue
# is answered with a REJECT that is queued without a bound, so a flooder
# that does not read grows the seeder's memory without limit (~1 GiB in
# 15 s on the engine as of f0bd4ee; issue 5, item 3). That case joins this
# file once the engine bounds it.
#
# Asserts, each time: the flood really happened (> 100,000 requests at
# > 10,000/s); the honest get, started 1 s into the flood, exits 0 within
# 25 s with the source's bytes (cmp): the seeder stays responsive; the
# seeder is alive afterwards and its peak RSS (VmHWM) stays under 64 MiB.
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 90
require_peerflow

gen_file 16M "$T/src/file.bin" hostile-flood
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null

flood_case() {
    local n=$1; shift
    log "case $n: request flood ($*) at a seeder while an honest get downloads"
    spawn "seed$n" $PF_BIN seed -vv -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker "$T/file.torrent"
    local port
    port=$(port_of "seed$n")
    watch_hwm "seed$n"
    hostile "flood$n" request-flood --torrent "$T/file.torrent" --connect "127.0.0.1:$port" \
        --duration 12 "$@"
    sleep 1
    spawn "get$n" $PF_BIN get -vv -d "$T/get$n" -l 0 --bind 127.0.0.1 --no-tracker \
        --peer "127.0.0.1:$port" "$T/file.torrent"
    local t0 t1
    t0=$(date +%s.%N)
    expect_exit0 "get$n" 25
    t1=$(date +%s.%N)
    assert_same_file "$T/src/file.bin" "$T/get$n/file.bin"
    log "case $n: the honest get finished in $(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')s during the flood"
    wait_exit "flood$n" 20 || fail "flood$n: the flooder failed"
    log "case $n: flood $(hrep "flood$n" 'd["flood"]'); connection closed by $(hrep "flood$n" 'd["conns"][0]["closed_by"]'), $(hrep "flood$n" 'd["conns"][0]["bytes_recv"]') bytes received"
    [ "$(hrep "flood$n" 'd["flood"]["requests"] > 100000 and d["flood"]["rate"] > 10000')" = True ] ||
        fail "case $n: the flood was too weak to prove anything: $(hrep "flood$n" 'd["flood"]')"
    is_running "seed$n" || fail "case $n: the seeder died"
    assert_hwm_below "seed$n" 64
    stop "seed$n"
}

flood_case 1 --no-fast
flood_case 2 --no-fast --no-read
