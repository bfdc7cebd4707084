#!/usr/bin/env bash
# `peerflow cert` (the operator's PKI for TLS swarms, include/peerflow/cert.h)
# checked by the `openssl` command, independently of peerflow's library:
#  1. `cert ca` makes a root (CA:TRUE, keyCertSign + cRLSign), `cert issue`
#     leaves that `openssl verify` chains to it as TLS client and as server
#     (no EKU), whose SAN DNS name and CN are the torrent's name, byte for
#     byte (ASCII, "*", UTF-8), whose keys match; an expired leaf and another
#     CA's leaf fail.
#  2. Key files are mode 0600; an existing file is never overwritten
#     without --force (and is, with it, keeping 0600).
#  3. `cert revoke` makes a CRL that `openssl verify -crl_check` obeys:
#     the revoked leaf fails, the others pass; an update keeps the old
#     entries, lists each serial once and counts the CRL number up.
#  4. Errors name the file and the reason; exit 2 for usage, 1 for failures;
#     a refused update leaves the CRL as it was; no temporary file is left.
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_cmd openssl

cd "$T"
cert() { "$PF_BIN" cert "$@"; }
# expect_rc RC CMD...: CMD exits RC; its stderr is in $T/err.
expect_rc() {
    local want=$1 rc=0; shift
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = "$want" ] || fail "$* exited $rc, not $want: $(cat "$T/err")"
}
err_has() { grep -qF -- "$1" "$T/err" || fail "no '$1' in the message: $(cat "$T/err")"; }
mode() { stat -c %a "$1"; }
verify() { openssl verify "$@" 2>&1; }

# 1. a CA and leaves -----------------------------------------------------------
cert ca --out ca --name "it swarm CA" >/dev/null || fail "cert ca"
[ "$(mode ca.key.pem)" = 600 ] || fail "ca.key.pem is mode $(mode ca.key.pem), not 600"
[ "$(mode ca.pem)" = 644 ] || fail "ca.pem is mode $(mode ca.pem)"
openssl x509 -in ca.pem -noout -ext basicConstraints,keyUsage >ca.ext
grep -q "critical" ca.ext && grep -q "CA:TRUE" ca.ext && grep -q "Certificate Sign, CRL Sign" ca.ext ||
    fail "the CA's extensions: $(cat ca.ext)"
[ "$(openssl x509 -in ca.pem -noout -subject -nameopt RFC2253)" = "subject=CN=it swarm CA" ] ||
    fail "CA subject: $(openssl x509 -in ca.pem -noout -subject)"

cert issue --ca ca --name swarm-a --out leaf >/dev/null || fail "cert issue swarm-a"
cert issue --ca ca --name swarm-a --out leaf2 >/dev/null || fail "cert issue swarm-a (2)"
cert issue --ca ca --name '*' --out star >/dev/null || fail "cert issue *"
UTF='Фильм 2025 — серия 1'
cert issue --ca ca --name "$UTF" --out utf >/dev/null || fail "cert issue (UTF-8 name)"
now=$(date +%s)
cert issue --ca ca --name swarm-a --out expired --not-before $((now - 60 * 86400)) \
    --not-after $((now - 30 * 86400)) >/dev/null || fail "cert issue (expired)"

for c in leaf leaf2 star utf; do
    [ "$(mode $c.key.pem)" = 600 ] || fail "$c.key.pem is mode $(mode $c.key.pem), not 600"
    for p in sslclient sslserver; do
        [ "$(verify -purpose $p -CAfile ca.pem $c.pem)" = "$c.pem: OK" ] ||
            fail "openssl verify -purpose $p $c.pem: $(verify -purpose $p -CAfile ca.pem $c.pem)"
    done
    ! grep -q "Extended Key Usage" <<<"$(openssl x509 -in $c.pem -noout -text)" || fail "$c.pem has an EKU"
    [ "$(openssl x509 -in $c.pem -noout -pubkey)" = "$(openssl pkey -in $c.key.pem -pubout)" ] ||
        fail "$c.key.pem is not the key of $c.pem"
done
log "four leaves chain to the CA (TLS client and server), keys 0600 and matching"

# san_cn CERT NAME: the only SAN is DNS:NAME and the subject is CN=NAME.
san_cn() {
    local san subj
    san=$(openssl x509 -in "$1" -noout -ext subjectAltName | sed -n 2p | sed 's/^ *//')
    subj=$(openssl x509 -in "$1" -noout -subject -nameopt RFC2253,-esc_msb)
    [ "$san" = "DNS:$2" ] || fail "$1: SAN '$san', not DNS:$2"
    [ "$subj" = "subject=CN=$2" ] || fail "$1: '$subj', not CN=$2"
}
san_cn leaf.pem swarm-a
san_cn star.pem '*'
san_cn utf.pem "$UTF"
ext=$(openssl x509 -in leaf.pem -noout -ext basicConstraints,keyUsage)
grep -q "CA:FALSE" <<<"$ext" && grep -q "Digital Signature" <<<"$ext" || fail "leaf's extensions: $ext"
log "SAN and CN are the torrent's name (ASCII, *, UTF-8)"

out=$(verify -CAfile ca.pem expired.pem) && fail "the expired leaf verified"
grep -q "certificate has expired" <<<"$out" || fail "expired leaf: $out"
cert ca --out rogue >/dev/null
cert issue --ca rogue --name swarm-a --out rogue-leaf >/dev/null
out=$(verify -CAfile ca.pem rogue-leaf.pem) && fail "another CA's leaf verified"
log "expired and foreign leaves refused: $(tail -2 <<<"$out" | head -1)"

# 2. no overwriting without --force -------------------------------------------
sum() { sha256sum "$@" | awk '{print $1}' | tr -d '\n'; }
before=$(sum ca.pem ca.key.pem leaf.pem leaf.key.pem)
expect_rc 1 cert ca --out ca
err_has "ca.pem: exists (--force replaces it)"
expect_rc 1 cert issue --ca ca --name swarm-a --out leaf
err_has "leaf.pem: exists"
mv leaf.pem leaf.bak # the key alone blocks it too
expect_rc 1 cert issue --ca ca --name swarm-a --out leaf
err_has "leaf.key.pem: exists"
[ ! -e leaf.pem ] || fail "a refused issue wrote leaf.pem"
mv leaf.bak leaf.pem
[ "$(sum ca.pem ca.key.pem leaf.pem leaf.key.pem)" = "$before" ] || fail "a refused command changed a file"
cert issue --ca ca --name swarm-a --out force --days 5 >/dev/null
fkey=$(sum force.key.pem)
expect_rc 0 cert issue --ca ca --name swarm-b --out force --force
[ "$(sum force.key.pem)" != "$fkey" ] || fail "--force did not replace force.key.pem"
[ "$(mode force.key.pem)" = 600 ] || fail "a replaced key is mode $(mode force.key.pem)"
san_cn force.pem swarm-b
log "existing files refused without --force, replaced with it (0600 kept)"

# 3. revocation ------------------------------------------------------------------
cert revoke --ca ca --crl crl.pem leaf.pem >/dev/null || fail "cert revoke"
grep -q "verify OK" <<<"$(openssl crl -in crl.pem -noout -CAfile ca.pem 2>&1)" || fail "the CRL's signature"
out=$(verify -crl_check -CRLfile crl.pem -CAfile ca.pem leaf.pem) && fail "the revoked leaf verified"
grep -q "certificate revoked" <<<"$out" || fail "revoked leaf: $out"
for c in star utf; do
    [ "$(verify -crl_check -CRLfile crl.pem -CAfile ca.pem $c.pem)" = "$c.pem: OK" ] ||
        fail "$c.pem with the CRL: $(verify -crl_check -CRLfile crl.pem -CAfile ca.pem $c.pem)"
done
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
crl_text() { openssl crl -in crl.pem -noout -text; }
crl_number() { crl_text | grep -A1 "CRL Number" | tail -1 | tr -d ' '; }
grep -q "Serial Number: $(serial leaf.pem)" <<<"$(crl_text)" || fail "leaf's serial not in the CRL"
[ "$(crl_number)" = 1 ] || fail "first CRL number: $(crl_text)"

cert revoke --ca ca --crl crl.pem star.pem leaf.pem star.pem >/dev/null || fail "cert revoke (update)"
[ "$(crl_text | grep -c 'Serial Number:')" = 2 ] || fail "the updated CRL: $(crl_text)"
[ "$(crl_number)" = 2 ] || fail "second CRL number: $(crl_text)"
for c in leaf star; do
    out=$(verify -crl_check -CRLfile crl.pem -CAfile ca.pem $c.pem) && fail "the revoked $c.pem verified"
    grep -q "certificate revoked" <<<"$out" || fail "$c.pem with the updated CRL: $out"
done
[ "$(verify -crl_check -CRLfile crl.pem -CAfile ca.pem utf.pem)" = "utf.pem: OK" ] || fail "utf.pem revoked"
cert revoke --ca ca --crl crl.pem --days 30 >/dev/null || fail "cert revoke (renew)"
[ "$(crl_text | grep -c 'Serial Number:')" = 2 ] || fail "the renewed CRL lost entries"
[ "$(crl_number)" = 3 ] || fail "third CRL number: $(crl_text)"
next=$(date -d "$(crl_text | sed -n 's/^ *Next Update: //p')" +%s)
off=$((next - (now + 30 * 86400 - 3600))) # thisUpdate is an hour ago (clocks that lag)
[ ${off#-} -lt 120 ] || fail "the renewed CRL's next update is ${off}s off 30 days: $(crl_text)"
log "CRL: revoked leaves refused, others pass; updates keep entries, once each"

# 4. errors ------------------------------------------------------------------------
crl_sum=$(sum crl.pem)
expect_rc 1 cert revoke --ca ca --crl crl.pem rogue-leaf.pem
err_has "rogue-leaf.pem: not issued by this CA"
expect_rc 1 cert revoke --ca ca --crl crl.pem ca.key.pem
err_has "ca.key.pem: not a PEM certificate"
expect_rc 1 cert revoke --ca rogue --crl crl.pem
err_has "crl.pem: not a CRL of this CA"
expect_rc 1 cert revoke --ca ca --crl leaf2.pem
err_has "leaf2.pem: not a PEM CRL"
expect_rc 1 cert revoke --ca ca --crl crl.pem missing.pem
err_has "missing.pem: No such file or directory"
[ "$(sum crl.pem)" = "$crl_sum" ] || fail "a refused revoke changed crl.pem"
echo "not a certificate" >junk.pem
cp ca.key.pem junk.key.pem
expect_rc 1 cert issue --ca junk --name x --out x
err_has "junk.pem, junk.key.pem: not a PEM certificate"
cp ca.pem mixed.pem
cp rogue.key.pem mixed.key.pem
expect_rc 1 cert issue --ca mixed --name x --out x
err_has "mixed.key.pem is not the key of mixed.pem"
expect_rc 1 cert issue --ca nowhere --name x --out x
err_has "nowhere.pem: No such file or directory"
expect_rc 2 cert issue --ca ca --out x
err_has "--name is needed"
expect_rc 2 cert issue --ca ca --name $'tab\there' --out x
err_has "bad --name"
expect_rc 2 cert issue --ca ca --name x --out x --days 0
expect_rc 2 cert issue --ca ca --name x --out x --days 3 --not-after $((now + 100))
expect_rc 2 cert issue --ca ca --name x --out x --not-before $((now + 100)) --not-after $((now + 50))
expect_rc 2 cert ca --out x --crl crl.pem
err_has "--crl is not an option of 'cert ca'"
expect_rc 2 cert frobnicate
expect_rc 2 cert
for a in ca issue revoke; do
    expect_rc 0 cert $a --help
    grep -q "usage: peerflow cert $a" "$T/out" || fail "cert $a --help"
done
[ ! -e x.pem ] && [ ! -e x.key.pem ] || fail "a refused issue left files"
left=$(find . -name '*.pem.??????')
[ -z "$left" ] || fail "temporary files left: $left"
log "errors name the file and the reason (exit 1), usage errors exit 2"
