#!/usr/bin/env bash
# `peerflow tracker` believes a client's claims about its address only
# from proxies the operator lists (issue 19 item 6):
#   - no --trusted-proxy: an announce from 127.0.0.1 with ip=1.2.3.4 (the
#     issue's attack) and X-Forwarded-For: 5.6.7.8 is listed as 127.0.0.1;
#   - behind a real nginx reverse proxy on 127.0.0.1 that appends the
#     client's address to X-Forwarded-For, with --trusted-proxy 127.0.0.1:
#     clients connecting to nginx from 127.0.0.2 and 127.0.0.3 are listed
#     at those addresses, whatever X-Forwarded-For and ip= they forge
#     themselves; a client reaching the tracker directly from 127.0.0.2
#     with a forged header is listed at 127.0.0.2;
#   - with --proxy-header Forwarded and nginx setting RFC 7239's
#     "Forwarded: for=...", the same;
#   - a bad --trusted-proxy is refused at start with its text named.
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_cmd curl
[ -x /usr/sbin/nginx ] || fail "/usr/sbin/nginx missing (apt package nginx-light)"

IH='%00%01%20%25%26%3D%7F%80%FF%FEabcdefghij'
n=0
# announce URL FROM PEER-LETTER [CURL-ARGS...]: a compact=0 announce; the
# reply body goes to $T/r.N, its path is printed.
announce() {
    local url=$1 from=$2 p=$3; shift 3
    n=$((n + 1))
    curl -sS -g --max-time 5 --interface "$from" -o "$T/r.$n" "$@" \
        "$url/announce?info_hash=$IH&peer_id=-PF0001-${p}${p}${p}${p}${p}${p}${p}${p}${p}${p}${p}${p}&port=$((6880 + n))&left=1&compact=0" ||
        fail "announce from $from failed"
    echo "$T/r.$n"
}
# listed FILE: the peers' addresses of a dictionary-model reply, sorted
listed() {
    $PY - "$1" <<'PY'
import sys
def dec(b, i):
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c in (b"l", b"d"):
        i, out = i + 1, []
        while b[i:i + 1] != b"e":
            v, i = dec(b, i)
            out.append(v)
        return (out if c == b"l" else dict(zip(out[::2], out[1::2]))), i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n
d, _ = dec(open(sys.argv[1], "rb").read(), 0)
if b"failure reason" in d:
    print("FAILURE:", d[b"failure reason"].decode(errors="replace"))
else:
    print(" ".join(sorted(p[b"ip"].decode() for p in d[b"peers"])) + " ", end="")
PY
}

# 1. No trusted proxy: claims are ignored.
spawn plain "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 60
pport=$(port_of plain)
direct=http://127.0.0.1:$pport
announce "$direct" 127.0.0.1 a -H 'X-Forwarded-For: 5.6.7.8' >/dev/null
announce "$direct" 127.0.0.1 b -G --data-urlencode 'ip=1.2.3.4' >/dev/null
r=$(announce "$direct" 127.0.0.2 c)
got=$(listed "$r")
[ "$got" = "127.0.0.1 127.0.0.1 " ] ||
    fail "untrusted: peers listed as '$got', want 127.0.0.1 twice (ip= / X-Forwarded-For believed?)"
log "no trusted proxy: ip=1.2.3.4 and X-Forwarded-For: 5.6.7.8 from 127.0.0.1 are listed as 127.0.0.1"

# 2. Behind nginx (X-Forwarded-For), 127.0.0.1 trusted.
spawn behind "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 60 --trusted-proxy 127.0.0.1 -v
bport=$(port_of behind)
start_nginx_proxy nginx '
    server {
        listen 127.0.0.1:@PORT@;
        location / {
            proxy_pass http://127.0.0.1:'"$bport"';
            proxy_bind 127.0.0.1;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }'
nport=$PROXY_PORT
d=$T/nginx # its config, changed below
front=http://127.0.0.1:$nport
announce "$front" 127.0.0.2 d -H 'X-Forwarded-For: 6.6.6.6' -G --data-urlencode 'ip=1.2.3.4' >/dev/null
announce "$front" 127.0.0.3 e >/dev/null
announce "http://127.0.0.1:$bport" 127.0.0.2 f -H 'X-Forwarded-For: 9.9.9.9' >/dev/null
r=$(announce "$front" 127.0.0.4 g)
got=$(listed "$r")
[ "$got" = "127.0.0.2 127.0.0.2 127.0.0.3 " ] ||
    fail "behind nginx: peers listed as '$got', want 127.0.0.2 (twice: via nginx and direct) and 127.0.0.3"
log "behind nginx: clients listed at their own addresses; forged X-Forwarded-For, ip= and a direct forged header ignored"

# 3. Forwarded (RFC 7239), set by nginx.
stop nginx
spawn fwd "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 60 --trusted-proxy 127.0.0.0/30 \
    --proxy-header Forwarded
fport=$(port_of fwd)
sed -i -e "s/:$bport;/:$fport;/" \
    -e 's/proxy_set_header X-Forwarded-For .*/proxy_set_header Forwarded "for=\\"$remote_addr:$remote_port\\"";/' \
    "$d/nginx.conf"
spawn nginx2 /usr/sbin/nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf"
wait_for_port "$nport"
announce "$front" 127.0.0.5 h -H 'Forwarded: for=6.6.6.6' -H 'X-Forwarded-For: 7.7.7.7' >/dev/null
r=$(announce "$front" 127.0.0.6 i)
got=$(listed "$r")
[ "$got" = "127.0.0.5 " ] || fail "Forwarded: peers listed as '$got', want 127.0.0.5"
log "Forwarded: the client behind nginx listed at 127.0.0.5"

# 4. A bad --trusted-proxy: refused, named.
rc=0
"$PF_BIN" tracker -l 0 --trusted-proxy 10.0.0.0/40 2>"$T/bad.err" || rc=$?
[ $rc = 2 ] || fail "bad --trusted-proxy: exit $rc, want 2"
grep -q "10.0.0.0/40" "$T/bad.err" || fail "bad --trusted-proxy not named: $(cat "$T/bad.err")"
log "a bad --trusted-proxy is refused: $(head -1 "$T/bad.err")"
