#!/usr/bin/env bash
# scripts/install-deps.sh must leave every nginx it did not start alone
# (issue 19 item 15: it ran `pkill -x nginx`, which killed a user's own
# nginx, and any other test's origin running at the time).  An nginx stands
# in for the user's; install-deps.sh runs (all packages present: nothing is
# installed, so no distribution service is touched either); the user's
# nginx must still run and serve, and the suite's own origin helper
# (start_nginx_origin) must work beside it.
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_cmd curl

mkdir -p "$T/user-www" "$T/www"
echo "the user's own site" >"$T/user-www/index.html"
gen_file 100K "$T/www/blob.bin" nginx
start_nginx_origin "$T/user-www" usernginx
user_url=$NGINX_URL
user_pid=$(_pid_of usernginx)
curl -sS --fail --max-time 5 "$user_url/index.html" | grep -q "own site" ||
    fail "the stand-in user nginx does not serve"

log "running scripts/install-deps.sh"
bash "$PF_SRC/scripts/install-deps.sh" >"$T/logs/install-deps.log" 2>&1 ||
    fail "install-deps.sh failed: $(tail -5 "$T/logs/install-deps.log")"

sleep 0.5
kill -0 "$user_pid" 2>/dev/null || fail "install-deps.sh killed an nginx it did not start"
curl -sS --fail --max-time 5 "$user_url/index.html" | grep -q "own site" ||
    fail "the user's nginx stopped serving after install-deps.sh"

# The suite's helper beside a running nginx: its own port, pid file, logs.
start_nginx_origin "$T/www" nginx
[ "$NGINX_URL" != "$user_url" ] || fail "two origins on one URL"
fetch_same "$NGINX_URL/blob.bin" "$T/www/blob.bin" 10
curl -sS --fail --max-time 5 "$user_url/index.html" | grep -q "own site" ||
    fail "the user's nginx stopped serving after start_nginx_origin"
[ "$(nginx_requests)" = 1 ] || fail "origin log has $(nginx_requests) requests, want 1"
log "install-deps.sh left the user's nginx (pid $user_pid) running; start_nginx_origin works beside it"
