#!/usr/bin/env bash
# dash.js (npm, pinned in tests/browser/package-lock.json) in Debian's
# Chromium, headless, plays a 3-rendition title from `peerflow play`'s
# own origin (--player-dir), climbs to the top rendition, switches down
# when the test throttles the peer and the CDN, seeks; the player's own
# events are judged.  See tests/browser/web_player_test.sh.
. "$(dirname "$0")/lib.sh"
pf_netns_enter "$@"
WEB_LIB=dash
. "$PF_SRC/tests/browser/web_player_test.sh"
