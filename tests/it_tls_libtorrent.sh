#!/usr/bin/env bash
# SSL torrents (libtorrent's): TLS 1.3 peers with certificates signed by the
# root in the torrent, against python3-libtorrent, on loopback.
#  1. peerflow seeds, libtorrent gets, over TLS/TCP and TLS/uTP: byte-exact
#  2. libtorrent seeds, peerflow gets, over TLS/TCP and TLS/uTP: byte-exact
#  3. a libtorrent seed found through `peerflow tracker` (it announces its
#     SSL port): peerflow gets from it, byte-exact
#  4. refused by a peerflow seed, no payload moved, each for its reason:
#     another torrent's certificate, another CA's, expired, no certificate
#     (a Python TLS client), a plain connection, and revoked once the
#     operator's revocation list names it (the list re-read while running)
#  5. peerflow dialling a libtorrent seed whose certificate expired: refused
#     by peerflow; and peerflow given a certificate for another torrent
#     says so and stops
# Certificates come from `peerflow cert`; the torrent from
# `peerflow create --ssl-ca`.
. "$(dirname "$0")/lib.sh"
pf_setup 200
require_peerflow
require_libtorrent
$PY -c 'import libtorrent as lt; lt.create_torrent.set_root_cert' 2>/dev/null ||
    skip "python3-libtorrent without SSL torrents"

cd "$T"
gen_file 6M "$T/src/clip.bin" tls-interop
$PF_BIN cert ca --out ca >/dev/null
$PF_BIN cert ca --out rogue --name "rogue CA" >/dev/null
$PF_BIN create --ssl-ca ca.pem -p 64K -o clip.torrent src/clip.bin >/dev/null
$PF_BIN info clip.torrent | grep -q 'private: *yes' || fail "an SSL torrent is private"
ih=$(info_hash clip.torrent)
now=$(date +%s)
for who in pf lt pf2; do $PF_BIN cert issue --ca ca --name clip.bin --out $who >/dev/null; done
$PF_BIN cert issue --ca ca --name other.bin --out other >/dev/null
$PF_BIN cert issue --ca rogue --name clip.bin --out roguecert >/dev/null
$PF_BIN cert issue --ca ca --name clip.bin --not-before $((now - 864000)) --not-after $((now - 86400)) \
    --out expired >/dev/null
$PF_BIN cert issue --ca ca --name clip.bin --out victim >/dev/null
$PF_BIN cert revoke --ca ca --crl crl.pem >/dev/null # an empty list, published

# 1. peerflow seeds (TCP and uTP on one port), libtorrent gets.
spawn pf_seed $PF_BIN seed -v -d src -l 0 --bind 127.0.0.1 --no-tracker --transport both \
    --ssl-cert pf.pem --ssl-key pf.key.pem --ssl-crl crl.pem --stats pf_seed.json clip.torrent
seed_port=$(port_of pf_seed)
for tr in tcp utp; do
    spawn lt_get_$tr $LT_PEER get --torrent clip.torrent --dir lt_get_$tr --no-tracker --transport $tr \
        --peer 127.0.0.1:$seed_port --ssl-cert lt.pem --ssl-key lt.key.pem --timeout 40
    expect_exit0 lt_get_$tr 45
    assert_same_file src/clip.bin lt_get_$tr/clip.bin
    log "1. peerflow seed -> libtorrent get over TLS/$tr: byte-exact"
done
sleep 1.5
[ "$(json_get pf_seed.json ssl)" = True ] || fail "seed's stats: not an SSL torrent"
[ "$(json_get pf_seed.json uploaded)" -ge $((2 * 6 * 1024 * 1024)) ] || fail "seed uploaded $(json_get pf_seed.json uploaded)"

# 4. Refusals at the peerflow seed.
refused_by_seed() { # NAME REASON CERT-PREFIX
    spawn "$1" $LT_PEER get --torrent clip.torrent --dir "$1" --no-tracker --peer 127.0.0.1:$seed_port \
        --ssl-cert "$3.pem" --ssl-key "$3.key.pem" --timeout 6 --stats-file "$1.json"
    local rc=0
    wait_exit "$1" 15 || rc=$?
    [ $rc = 3 ] || fail "$1: libtorrent exited $rc, not 3 (timed out without the data)"
    [ "$(json_get "$1.json" downloaded)" = 0 ] || fail "$1: libtorrent got $(json_get "$1.json" downloaded) bytes"
    grep -q "TLS peer 127.0.0.1:[0-9]* refused ($2)" "$T/logs/pf_seed.log" || fail "$1: the seed did not refuse it for $2"
    log "4. refused by the seed: $2 ($1), no byte"
}
refused_by_seed lt_other wrong_name other
refused_by_seed lt_rogue untrusted roguecert
refused_by_seed lt_expired expired expired

probe() { # MODE (tls-nocert | plain) -> what came back
    $PY - "$1" "$seed_port" "$ih" <<'EOF'
import socket, ssl, sys
mode, port, ih = sys.argv[1], int(sys.argv[2]), sys.argv[3]
hs = b"\x13BitTorrent protocol" + bytes(8) + bytes.fromhex(ih) + b"-PY0001-probeprobe00"
s = socket.create_connection(("127.0.0.1", port), timeout=5)
try:
    if mode == "tls-nocert":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname=ih)
    s.sendall(hs)
    got = s.recv(68)
    print("got %d bytes" % len(got))
except (OSError, ssl.SSLError) as e:
    print("refused: %s" % e)
EOF
}
out=$(probe tls-nocert)
case $out in "got 0 bytes" | refused:*) ;; *) fail "a TLS client without a certificate: $out" ;; esac
grep -q "refused (no_certificate)" "$T/logs/pf_seed.log" || fail "no certificate: not refused for it"
log "4. refused by the seed: no_certificate ($out)"
out=$(probe plain)
case $out in "got 0 bytes" | refused:*) ;; *) fail "a plain connection: $out" ;; esac
grep -q "refused (plain)" "$T/logs/pf_seed.log" || fail "plain connection: not refused for it"
log "4. refused by the seed: plain ($out)"

# Revoked while the seed runs: it re-reads the list, then refuses the
# certificate it names; the one it does not name still gets in.
$PF_BIN cert revoke --ca ca --crl crl.pem victim.pem >/dev/null
wait_for_log pf_seed "revocation list .* re-read" 15 >/dev/null
refused_by_seed lt_revoked revoked victim
spawn lt_get_after $LT_PEER get --torrent clip.torrent --dir lt_get_after --no-tracker \
    --peer 127.0.0.1:$seed_port --ssl-cert lt.pem --ssl-key lt.key.pem --timeout 30
expect_exit0 lt_get_after 35
assert_same_file src/clip.bin lt_get_after/clip.bin
refusals=$(json_get pf_seed.json tls_refused)
[ "$refusals" -ge 6 ] || fail "seed's tls_refused is $refusals"
stop pf_seed
log "4. revoked after the list changed; a certificate it does not list still gets in"

# 2. libtorrent seeds, peerflow gets.
for tr in tcp utp; do
    spawn lt_seed_$tr $LT_PEER seed --torrent clip.torrent --dir src --no-tracker --transport $tr \
        --ssl-cert lt.pem --ssl-key lt.key.pem --ready-file lt_seed_$tr.ready
    wait_for_file lt_seed_$tr.ready 20 lt_seed_$tr
    spawn pf_get_$tr timeout 40 $PF_BIN get -d pf_get_$tr -l 0 --bind 127.0.0.1 --no-tracker --transport $tr \
        --peer "127.0.0.1:$(head -1 lt_seed_$tr.ready)" --ssl-cert pf.pem --ssl-key pf.key.pem \
        --stats pf_get_$tr.json clip.torrent
    expect_exit0 pf_get_$tr 45
    assert_same_file src/clip.bin pf_get_$tr/clip.bin
    [ "$(json_get pf_get_$tr.json tls_refused)" = 0 ] || fail "pf_get_$tr refused a good peer"
    stop lt_seed_$tr
    log "2. libtorrent seed -> peerflow get over TLS/$tr: byte-exact"
done

# 3. Found through the tracker: libtorrent announces its SSL port.
spawn tracker $PF_BIN tracker --port 0 --bind 127.0.0.1 --interval 2
tport=$(port_of tracker)
# The same info dict (same info-hash) with the tracker's URL outside it.
$PF_BIN create --ssl-ca ca.pem -p 64K -t "http://127.0.0.1:$tport/announce" -o clip_trk.torrent src/clip.bin >/dev/null
[ "$(info_hash clip_trk.torrent)" = "$ih" ] || fail "the tracker's torrent is another torrent"
spawn lt_seed_trk $LT_PEER seed --torrent clip_trk.torrent --dir src --tracker-only \
    --ssl-cert lt.pem --ssl-key lt.key.pem --ready-file lt_seed_trk.ready
wait_for_file lt_seed_trk.ready 20 lt_seed_trk
spawn pf_get_trk timeout 40 $PF_BIN get -d pf_get_trk -l 0 --bind 127.0.0.1 \
    --ssl-cert pf2.pem --ssl-key pf2.key.pem clip_trk.torrent
expect_exit0 pf_get_trk 45
assert_same_file src/clip.bin pf_get_trk/clip.bin
log "3. a libtorrent seed found through the tracker -> peerflow: byte-exact"

# 5. peerflow refuses a seed whose certificate expired.
spawn lt_seed_exp $LT_PEER seed --torrent clip.torrent --dir src --no-tracker \
    --ssl-cert expired.pem --ssl-key expired.key.pem --ready-file lt_seed_exp.ready
wait_for_file lt_seed_exp.ready 20 lt_seed_exp
spawn pf_get_exp timeout 8 $PF_BIN get -v -d pf_get_exp -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$(head -1 lt_seed_exp.ready)" --ssl-cert pf.pem --ssl-key pf.key.pem \
    --stats pf_get_exp.json clip.torrent
rc=0
wait_exit pf_get_exp 15 || rc=$?
[ $rc != 0 ] || fail "peerflow finished from a seed with an expired certificate"
grep -q "refused (expired)" "$T/logs/pf_get_exp.log" || fail "peerflow did not refuse the expired seed"
[ "$(json_get pf_get_exp.json downloaded)" = 0 ] || fail "peerflow took bytes from the expired seed"
log "5. peerflow refused a libtorrent seed with an expired certificate"
rc=0
$PF_BIN get -d pf_get_bad -l 0 --bind 127.0.0.1 --no-tracker --ssl-cert other.pem --ssl-key other.key.pem \
    clip.torrent 2>bad.err || rc=$?
[ $rc = 1 ] || fail "a certificate for another torrent: exit $rc"
grep -q "not signed for this torrent" bad.err || fail "a certificate for another torrent: $(cat bad.err)"
log "5. peerflow given another torrent's certificate: $(grep -m1 ssl-cert bad.err)"

# Nothing secret is printed: no line of any private key (the CA's or a
# viewer's) in any log or stats file of this test.
for k in ca.key.pem pf.key.pem pf2.key.pem lt.key.pem victim.key.pem; do
    while read -r line; do
        case $line in -----*) continue ;; esac
        if grep -rqF -- "$line" "$T/logs" "$T"/*.json bad.err 2>/dev/null; then
            fail "a line of $k is in a log or stats file"
        fi
    done <"$k"
done
log "no private key line in any log or stats file"
log "PASS"
