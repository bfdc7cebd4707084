#!/usr/bin/env bash
# Bans by endpoint, not by address (issue 19, item 5): households behind a
# carrier-grade NAT share one address. A hostile peer that corrupts every
# block (hostile_peer.py wrong-data --corrupt all) and an honest `peerflow
# seed` listen on the SAME address, 127.0.0.2, on different ports; a
# `peerflow get` dials both. Asserts: get exits 0 with the source's bytes
# (cmp); the hostile peer is closed for its data, and its reconnects from
# the endpoint peerflow dialled are refused; the honest seeder is never
# closed for the liar's data and carries the download (its upload count
# is at least the file); a newcomer from 127.0.0.2 on a fresh port is
# still answered (hostile_peer.py probe).
#
# Regression test: the ban covered the whole address, so the honest seeder
# was closed and ignored for the rest of the run.
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 60
require_peerflow

shared=127.0.0.2
gen_file 16M "$T/src/file.bin" hostile-shared
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
# the honest seeder is capped so that the liar gets requests too
spawn seed $PF_BIN seed -d "$T/src" -l 0 --bind $shared --no-tracker --upload-rate 4M \
    --stats "$T/seed.json" "$T/file.torrent"
seed_port=$(port_of seed)
hostile bad wrong-data --corrupt all --torrent "$T/file.torrent" --data "$T/src/file.bin" \
    --bind $shared --listen 0 --reconnect "@$T/get.addr" --reconnect-interval 0.5 --reconnect-count 3 \
    --reconnect-from-listen
bad_port=$HOSTILE_PORT
[ "$bad_port" != "$seed_port" ] || fail "one port for both"
spawn get $PF_BIN get --seed -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "$shared:$bad_port" --peer "$shared:$seed_port" --stats "$T/get.json" "$T/file.torrent"
get_port=$(port_of get)
echo "127.0.0.1:$get_port" >"$T/get.addr"
wait_for_log get "download complete" 40 >/dev/null
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
log "get: $(cat "$T/get.json"); closed: liar '$(closed_reason get "$bad_port" $shared)', seed '$(closed_reason get "$seed_port" $shared)'"
is_data_ban "$(closed_reason get "$bad_port" $shared)" || fail "the liar was not dropped for its data"
! is_data_ban "$(closed_reason get "$seed_port" $shared)" ||
    fail "the honest seeder behind the liar's address was banned with it"
! grep -q "closing $shared:$seed_port: banned" "$T/logs/get.log" || fail "the honest seeder was refused"
for _ in $(seq 50); do [ "$(hrep bad 'len(d["reconnects"])')" -ge 3 ] && break; sleep 0.1; done
log "liar's reconnects from its listen endpoint: $(hrep bad '[(r.get("from", ""), r["result"]) for r in d["reconnects"]]')"
[ "$(hrep bad 'len(d["reconnects"]) >= 1 and all(r["result"] in ("refused", "connect-failed") for r in d["reconnects"]) and any(r["result"] == "refused" for r in d["reconnects"])')" = True ] ||
    fail "the liar's endpoint is not banned: $(hrep bad 'd["reconnects"]')"
# A neighbour on the same address, from a fresh port, to the same get
# (its ban table holds the liar): answered.
hostile neighbour probe --torrent "$T/file.torrent" --bind $shared --connect "127.0.0.1:$get_port"
wait_exit neighbour 20 || true
log "neighbour from $shared on a fresh port: $(hrep neighbour 'd["reconnects"]')"
[ "$(hrep neighbour 'd["reconnects"][0]["result"]')" = accepted ] ||
    fail "a newcomer on the liar's address was refused: $(hrep neighbour 'd["reconnects"]')"
stop get
stop seed
up=$(json_get "$T/seed.json" uploaded)
log "the honest seeder uploaded $up B of $(stat -c %s "$T/src/file.bin")"
[ "$up" -ge "$(stat -c %s "$T/src/file.bin")" ] || fail "the honest seeder was not used for the download ($up B)"
