#!/usr/bin/env bash
# A tracker that admits only subscribers (issue 18, item 2): `peerflow
# tracker --auth-keys FILE` with keys made by `peerflow token keygen` and
# tokens by `peerflow token sign`.
#  1. A seed and a viewer that carry their tokens (--tracker-token @FILE,
#     and token= in the announce URL) find each other through the tracker
#     alone (no --peer) and the viewer gets the file, byte-exact.
#  2. A viewer without a token gets "missing token" from the tracker and
#     no peer (it never completes), and is told why in its log.
#  3. Refusals, each with its reason, by curl: no token, a token for
#     another torrent, an expired one, a forged signature, an unknown key;
#     a UDP announce (BEP 15 has no room for a token) is refused.
#  4. Key rotation: the key file is replaced by one with a new key only;
#     within a few seconds the old key's tokens are refused ("unknown
#     token key") and the new key's admitted, without a restart.
#  5. No token appears in any log (tracker -v, seed and viewers -vv).
. "$(dirname "$0")/lib.sh"
pf_setup 150
require_peerflow
require_cmd curl

$PF_BIN token keygen --kid k2026 --out "$T/k2026.pem" >"$T/keys" || fail "token keygen"
grep -Eq '^k2026 ed25519 [A-Za-z0-9_-]{43}$' "$T/keys" || fail "keygen printed: $(cat "$T/keys")"
[ "$(stat -c %a "$T/k2026.pem")" = 600 ] || fail "the private key is not mode 0600"
$PF_BIN token keygen --kid k2026 --out "$T/k2026.pem" >/dev/null 2>&1 && fail "keygen overwrote a key"

spawn tracker "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 5 --auth-keys "$T/keys" -v
tport=$(port_of tracker)
url="http://127.0.0.1:$tport/announce"
wait_for_log tracker "subscribers only" 10 >/dev/null || fail "tracker does not say it admits subscribers only"

gen_file 4M "$T/seed/show.bin" tracker-auth
$PF_BIN create -p 256K -t "$url" -o "$T/show.torrent" "$T/seed/show.bin" >/dev/null
gen_file 1M "$T/other.bin" tracker-auth-other
$PF_BIN create -p 256K -t "$url" -o "$T/other.torrent" "$T/other.bin" >/dev/null
ih=$(info_hash "$T/show.torrent")
sign() { $PF_BIN token sign --key "$T/k2026.pem" --kid k2026 "$@"; }
sign --sub seed-1 --torrent "$T/show.torrent" >"$T/seed.token"
viewer_token=$(sign --sub alice --torrent "$T/show.torrent" --ttl 600)
other_token=$(sign --sub alice --torrent "$T/other.torrent")
short_token=$(sign --sub alice --info-hash "$ih" --ttl 1)
tokens=("$(cat "$T/seed.token")" "$viewer_token" "$other_token" "$short_token")

# 1. the seed's token from a file, the viewer's in the announce URL
spawn seed "$PF_BIN" seed -vv -d "$T/seed" -l 0 --bind 127.0.0.1 --tracker-token "@$T/seed.token" "$T/show.torrent"
wait_for_log seed "announce to .*: 0 peers" 20 >/dev/null || fail "the seed's announce was not accepted"
spawn get "$PF_BIN" get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker \
    --tracker "$url?token=$viewer_token" "$T/show.torrent"
wait_exit get 60 || fail "the subscriber's get did not complete"
assert_same_file "$T/seed/show.bin" "$T/get/show.bin"
log "subscriber: complete through the tracker"

# 2. no token: refused, never a peer
spawn nogood "$PF_BIN" get -vv -d "$T/nogood" -l 0 --bind 127.0.0.1 "$T/show.torrent"
wait_for_log nogood "missing token" 20 >/dev/null || fail "the viewer without a token was not told why"
sleep 3
is_running nogood || fail "the viewer without a token exited"
[ ! -s "$T/nogood/show.bin" ] || [ "$(cmp -s "$T/seed/show.bin" "$T/nogood/show.bin"; echo $?)" != 0 ] ||
    fail "the viewer without a token got the file"
stop nogood

# 3. refusals by reason
ih_esc=$(echo "$ih" | sed 's/../%&/g')
reason() { # reason [TOKEN]: the tracker's failure reason ("" if none)
    local q="info_hash=$ih_esc&peer_id=-XX0001-abcdefghijkl&port=7001"
    [ -n "${1:-}" ] && q="$q&token=$1"
    curl -sS --max-time 5 "$url?$q" | $PY -c '
import re, sys
b = sys.stdin.buffer.read()
m = re.search(rb"14:failure reason(\d+):", b)
print(b[m.end():m.end() + int(m.group(1))].decode() if m else "")'
}
sleep 2 # the short token expires
[ "$(reason)" = "missing token" ] || fail "no token: '$(reason)'"
[ "$(reason "$other_token")" = "token is for another torrent" ] || fail "other torrent: '$(reason "$other_token")'"
[ "$(reason "$short_token")" = "token expired" ] || fail "expired: '$(reason "$short_token")'"
forged="${viewer_token%?????}AAAAA"
[ "$(reason "$forged")" = "bad token signature" ] || fail "forged: '$(reason "$forged")'"
$PF_BIN token keygen --kid k2026 --out "$T/evil.pem" >/dev/null
evil=$($PF_BIN token sign --key "$T/evil.pem" --kid k2026 --sub mallory --torrent "$T/show.torrent")
[ "$(reason "$evil")" = "bad token signature" ] || fail "another key under our id: '$(reason "$evil")'"
evil2=$($PF_BIN token sign --key "$T/evil.pem" --kid nokey --sub mallory --torrent "$T/show.torrent")
[ "$(reason "$evil2")" = "unknown token key" ] || fail "unknown key: '$(reason "$evil2")'"
[ "$(reason "$viewer_token")" = "" ] || fail "a good token refused: '$(reason "$viewer_token")'"
udp_reply=$($PY - "$tport" "$ih" <<'PY'
import os, socket, struct, sys
port, ih = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(struct.pack(">QII", 0x41727101980, 0, 1), ("127.0.0.1", port))
d = s.recv(2048)
cid = struct.unpack(">Q", d[8:16])[0]
req = struct.pack(">QII20s20sQQQIIIiH", cid, 1, 2, ih, b"-XX0001-abcdefghijkl", 0, 0, 0, 2, 0, 0, -1, 7002)
s.sendto(req, ("127.0.0.1", port))
d = s.recv(2048)
print(struct.unpack(">I", d[:4])[0], d[8:].decode(errors="replace"))
PY
)
[ "$udp_reply" = "3 missing token (announce over HTTP)" ] || fail "UDP announce: '$udp_reply'"
log "refusals: each with its reason (HTTP), UDP refused"

# 4. rotation: a new key only
$PF_BIN token keygen --kid k2027 --out "$T/k2027.pem" >"$T/keys.new"
mv "$T/keys.new" "$T/keys"
new_token=$($PF_BIN token sign --key "$T/k2027.pem" --kid k2027 --sub alice --torrent "$T/show.torrent")
tokens+=("$new_token" "$evil" "$evil2")
for _ in $(seq 50); do [ "$(reason "$viewer_token")" = "unknown token key" ] && break; sleep 0.2; done
[ "$(reason "$viewer_token")" = "unknown token key" ] || fail "the old key still admits after rotation"
[ "$(reason "$new_token")" = "" ] || fail "the new key's token refused: '$(reason "$new_token")'"
log "rotation: old key refused, new key admitted"

# 5. no token in any log
stop seed
stop tracker
for tok in "${tokens[@]}"; do
    sig=${tok##*.}
    if grep -rqF -- "$sig" "$T/logs"; then fail "a token is in $(grep -rlF -- "$sig" "$T/logs" | head -1)"; fi
done
grep -q "token=REDACTED" "$T/logs/tracker.log" || fail "the tracker's request log shows no redacted token"
log "no token in $(ls "$T/logs" | wc -l) logs"
