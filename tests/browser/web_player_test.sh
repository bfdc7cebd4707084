# The body of tests/it_browser_hls.sh and tests/it_browser_dash.sh (sourced
# after lib.sh and pf_netns_enter, with WEB_LIB=hls|dash).
#
# Inside a network namespace with only `lo`: a 3-rendition title (HLS and
# DASH over the same fMP4 segments, tests/media/make_title.sh), nginx as
# the CDN (web seed), one `peerflow seed` peer, and `peerflow play
# --player-dir` serving tests/browser/player.html with the player library
# copied from the npm install (scripts/install-browser-deps.sh).  Debian's
# Chromium, headless, driven by puppeteer-core (tests/browser/drive.cjs),
# opens the page on play's own origin.  Asserts, from the player's own
# events and the engine's /stats.json:
#  * playback starts and currentTime passes 8 s; the player climbs to its
#    top rendition on its own throughput estimate;
#  * no `waiting`/`stalled` (video element) or player stall event at the
#    steady state: from the first 4 s of media played (start-up and the
#    climb: dash.js's BUFFER_EMPTY fires once as it replaces the first
#    segment by the top rendition's) to the throttle.  On loopback with
#    the peer at 1.6x the top rendition's rate and the CDN at full speed a
#    stall there is a regression: the bound is zero on purpose, and every
#    stall event of the whole run is printed;
#  * the throttle: the seed peer is stopped and nginx is reloaded with
#    limit_rate 40k per connection (about 0.3 Mbit/s, below even the
#    lowest rendition), so every byte the player does not have yet comes
#    slowly: the player switches down by its own ABR rule, which the test
#    reads from its LEVEL_SWITCHED / QUALITY_CHANGE_RENDERED events (no
#    level is forced; nothing caps the player);
#  * the engine saw the switch: /stats.json media.switches >= 1;
#  * a seek (video.currentTime = 36, after the CDN is back at full rate)
#    completes (`seeked`) and playback goes on past 38 s;
#  * no fatal player error.
[ -n "${WEB_LIB:-}" ] || { echo "WEB_LIB unset" >&2; exit 2; }
pf_setup 240   # about 85 s alone (make_title 35-40 s of it), 125 s beside the other browser test
require_peerflow
require_cmd ffmpeg
require_cmd curl
require_cmd node nodejs
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing (apt package chromium; scripts/install-deps.sh --test)"
case $WEB_LIB in
hls) lib_file=$PF_BROWSER_DIR/node_modules/hls.js/dist/hls.min.js; lib_name=hls.min.js
     src=/t/master.m3u8 ;;
dash) lib_file=$PF_BROWSER_DIR/node_modules/dashjs/dist/modern/umd/dash.all.min.js
      lib_name=dash.all.min.js; src=/t/manifest.mpd ;;
esac
[ -f "$lib_file" ] && [ -d "$PF_BROWSER_DIR/node_modules/puppeteer-core" ] ||
    fail "the web players are not installed in $PF_BROWSER_DIR (scripts/install-browser-deps.sh)"

bash "$PF_SRC/tests/media/make_title.sh" --seconds 48 "$T/www/title" >"$T/make_title.log" 2>&1 ||
    fail "make_title.sh failed: $(tail -3 "$T/make_title.log")"
start_nginx_origin "$T/www"
$PF_BIN create -p 64K -w "$NGINX_URL/" -o "$T/title.torrent" "$T/www/title" >"$T/create.log" 2>&1 ||
    fail "create failed: $(cat "$T/create.log")"
mkdir -p "$T/seed" "$T/player"
cp -r "$T/www/title" "$T/seed/title"
spawn seed $PF_BIN seed -d "$T/seed" -l 0 --upload-rate 1M --bind 127.0.0.1 --no-tracker "$T/title.torrent"
seed_port=$(port_of seed)
cp "$PF_SRC/tests/browser/player.html" "$lib_file" "$T/player/"
[ "$(basename "$lib_file")" = "$lib_name" ] || cp "$lib_file" "$T/player/$lib_name"

start_play viewer "$T/title.torrent" --peer "127.0.0.1:$seed_port" --player-dir "$T/player"
st=$PLAY_BASE/stats.json
page="$PLAY_BASE/player/player.html?lib=$WEB_LIB&src=$src"
ctype=$(curl -sS -o /dev/null -w '%{content_type}' "$PLAY_BASE/player/$lib_name")
[ "$ctype" = "text/javascript; charset=utf-8" ] || fail "$lib_name served as '$ctype'"

# The throttle: the peer goes away and the CDN slows to 40 KB/s per
# connection; the unthrottle puts the CDN back at full rate (the peer
# stays away).
conf=$T/nginx/nginx.conf
reload="/usr/sbin/nginx -p $T/nginx -e $T/nginx/error.log -c $conf -s reload"
seed_pid=$(_pid_of seed)
cat >"$T/throttle.sh" <<EOF
kill -TERM -- -$seed_pid
sed -i -E 's/limit_rate [^;]*;/limit_rate 40k;/' $conf
$reload
EOF
cat >"$T/unthrottle.sh" <<EOF
sed -i -E 's/limit_rate [^;]*;/limit_rate 0;/' $conf
$reload
EOF

log "Chromium opens $page"
t0=$(date +%s.%N)
rc=0
timeout 150 node "$PF_SRC/tests/browser/drive.cjs" "$page" --steady 8 \
    --throttle "bash $T/throttle.sh" --unthrottle "bash $T/unthrottle.sh" \
    --seek 36 --switch-timeout 60 >"$T/drive.json" 2>"$T/logs/drive.log" || rc=$?
log "the browser run took $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
grep -v 'console.debug\|console.log' "$T/logs/drive.log" | tail -20 >&2 || true
[ -s "$T/drive.json" ] || fail "the driver printed no summary (exit $rc)"
j() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/drive.json" "$1"; }
[ "$(j 'd["ok"]')" = True ] || fail "the player did not get through: $(j 'd.get("error")')"
log "$WEB_LIB $(j 'd["version"]'): $(j 'len(d["events"])') events"

# The player's own events.
sw=hls.LEVEL_SWITCHED
[ "$WEB_LIB" = dash ] && sw=dash.QUALITY_CHANGE_RENDERED
levels=$(j 'd["phases"]["steady"]["state"]["levels"]')
log "levels (bitrates) $(j '[l["bitrate"] for l in d["phases"]["steady"]["state"]["levels"]]')"
[ "$(j 'len(d["phases"]["steady"]["state"]["levels"])')" = 3 ] || fail "the player sees not 3 video levels: $levels"
log "switches: $(j "[(round(e['t'],1), e['from'], e['level']) for e in d['events'] if e['type'] == '$sw']")"
down=$(j "sum(1 for e in d['events'] if e['type'] == '$sw' and e['from'] >= 0 and e['level'] < e['from'])")
[ "$down" -ge 1 ] || fail "no switch down in the player's events"
fatal=$(j "[e for e in d['events'] if e['type'] in ('hls.ERROR', 'dash.ERROR', 'page.error') and e.get('fatal', True)]")
[ "$fatal" = "[]" ] || fail "fatal player errors: $fatal"
# Stalls at the steady state: between the first `playing` and the
# throttle (the event count the driver recorded when it throttled).
stall_types="('video.waiting', 'video.stalled', 'dash.PLAYBACK_STALLED', 'dash.BUFFER_EMPTY')"
steady_stalls=$(j "[(round(e['t'],1), e['type'], round(e['ct'],1)) for e in d['events'][:d['phases']['steady']['events']] if e['type'] in $stall_types and e['ct'] >= 4]")
all_stalls=$(j "[(round(e['t'],1), e['type'] + ('/' + e['mediaType'] if e.get('mediaType') else ''), round(e['ct'],1)) for e in d['events'] if e['type'] in $stall_types]")
log "stall events, whole run (time, event, currentTime): $all_stalls"
[ "$steady_stalls" = "[]" ] || fail "the player stalled at the steady state (peer and CDN at full speed): $steady_stalls"
log "throttled: switched down $(j 'd["phases"]["switched"]["after_s"]') s after; seek to 36 s: seeked after $(j 'd["phases"]["seek"]["seeked_s"]') s, past 38 s after $(j 'd["phases"]["seek"]["resumed_s"]') s"

# The engine's side.
switches=$(stats_json "$st" 'd["media"]["switches"]')
log "engine media QoE: $(stats_json "$st" 'd["media"]')"
[ "$switches" -ge 1 ] || fail "/stats.json media.switches = $switches after the player switched"
# The engine counts the player's stalls, not each wait of its readers:
# one stall however many reads (video, audio, piece after piece) wait in
# it (it counted 16 where hls.js showed 2).  The player's: the moments it
# ran dry after the start, the seek's own wait aside; one more allowed.
player_stalls=$(j "len(set(round(e['ct']) for e in d['events'] if e['type'] in $stall_types and e['ct'] >= 4 and abs(e['ct'] - 36) > 0.5))")
engine_stalls=$(stats_json "$st" 'd["media"]["stalls"]')
log "stalls: the player's $player_stalls, the engine's $engine_stalls"
[ "$engine_stalls" -le $((player_stalls + 1)) ] || fail "the engine counted $engine_stalls stalls, the player $player_stalls"
is_running viewer || fail "peerflow play exited"
