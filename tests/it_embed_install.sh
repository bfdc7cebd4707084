#!/usr/bin/env bash
# The library as an application gets it: `cmake --install` into a fresh
# prefix, examples/embed_play.c compiled there with only what pkg-config
# says (-Wall -Wextra -Werror), every installed header compiling on its
# own, then embed_play (its own loop, its own signals, a stop posted from
# another thread) downloads and plays a file from a real `peerflow seed`
# on loopback: from a .torrent, then from a magnet.  The bytes it played
# and the bytes it stored equal the source.  A SIGTERM to it mid-download
# ends it promptly (its handler, not the library's) with status 1.
. "$(dirname "$0")/lib.sh"
pf_setup 180
require_peerflow
require_cmd cc gcc
require_cmd pkg-config

P=$T/prefix
cmake --install "$PF_BUILD" --prefix "$P" >"$T/logs/install.log" 2>&1 ||
    fail "cmake --install failed: $(tail -5 "$T/logs/install.log")"
[ -f "$P/lib/pkgconfig/peerflow.pc" ] || fail "no peerflow.pc installed"
ls "$P"/lib/libpeerflow.so.0 >/dev/null || fail "no libpeerflow.so.0 (SOVERSION 0) installed"
export PKG_CONFIG_PATH=$P/lib/pkgconfig
[ "$(pkg-config --modversion peerflow)" = "$("$PF_BIN" --version | awk '{print $2}')" ] ||
    fail "peerflow.pc version $(pkg-config --modversion peerflow) is not the CLI's"
libdir=$(pkg-config --variable=libdir peerflow)
flags=$(pkg-config --cflags --libs peerflow)
log "pkg-config: $flags"

# Each installed header on its own, in C11 (with POSIX, which <uv.h>
# needs for its pthread types).
for h in "$P"/include/peerflow/*.h; do
    printf '#include <peerflow/%s>\nint main(void) { return 0; }\n' "$(basename "$h")" >"$T/hdr.c"
    cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -o "$T/hdr" "$T/hdr.c" $flags \
        2>"$T/logs/hdr.log" ||
        fail "installed header $(basename "$h") does not compile alone: $(head -5 "$T/logs/hdr.log")"
done
# A library built with the sanitizers (PF_SANITIZE, the suite's second
# pass) needs an application built with them too: their runtime must be
# the first library loaded.
san=
readelf -d "$libdir/libpeerflow.so.0" | grep -q 'libasan' && san="-fsanitize=address,undefined"
cc -std=c11 -Wall -Wextra -Werror $san -o "$T/embed_play" "$PF_SRC/examples/embed_play.c" $flags \
    -Wl,-rpath,"$libdir" -pthread 2>"$T/logs/cc.log" ||
    fail "examples/embed_play.c does not build against the installed library: $(head -10 "$T/logs/cc.log")"
lib=$(ldd "$T/embed_play" | awk '/libpeerflow/ {print $3}')
[ "$(realpath "$lib")" = "$(realpath "$libdir/libpeerflow.so.0")" ] ||
    fail "embed_play loads $lib, not the installed library"
log "embed_play built against $libdir"

gen_file 6M "$T/seed/movie.bin" embed
$PF_BIN create -p 64K -o "$T/movie.torrent" "$T/seed/movie.bin" >/dev/null
hash=$($PF_BIN info "$T/movie.torrent" | awk '/^info hash:/ {print $3}')
spawn seeder $PF_BIN seed -d "$T/seed" -l 0 --bind 127.0.0.1 --no-tracker "$T/movie.torrent"
sport=$(port_of seeder)

spawn embed1 "$T/embed_play" --peer "127.0.0.1:$sport" "$T/movie.torrent" "$T/data1" "$T/played1.bin"
expect_exit0 embed1 60
grep -q "stop posted from another thread" "$T/logs/embed1.log" || fail "embed1: no stop from the other thread"
assert_same_file "$T/seed/movie.bin" "$T/played1.bin"
assert_same_file "$T/seed/movie.bin" "$T/data1/movie.bin"

spawn embed2 "$T/embed_play" "magnet:?xt=urn:btih:$hash&dn=movie.bin&x.pe=127.0.0.1:$sport" \
    "$T/data2" "$T/played2.bin"
expect_exit0 embed2 60
assert_same_file "$T/seed/movie.bin" "$T/played2.bin"
assert_same_file "$T/seed/movie.bin" "$T/data2/movie.bin"

# Signals are the application's: SIGTERM mid-download stops it.
stop seeder
spawn slowseed $PF_BIN seed -d "$T/seed" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 500K \
    "$T/movie.torrent"
sport=$(port_of slowseed)
spawn embed3 "$T/embed_play" --peer "127.0.0.1:$sport" "$T/movie.torrent" "$T/data3" "$T/played3.bin"
wait_for_file "$T/data3/movie.bin" 20 embed3
sleep 1
t0=$(date +%s.%N)
kill -TERM "$(_pid_of embed3)"
rc=0
wait_exit embed3 10 || rc=$?
took=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
[ "$rc" = 1 ] || fail "embed_play after SIGTERM exited $rc, want 1 (stopped, incomplete)"
grep -q "signal 15: stopping" "$T/logs/embed3.log" || fail "embed_play's own SIGTERM handler did not run"
awk -v t="$took" 'BEGIN { exit !(t < 5) }' || fail "SIGTERM took ${took}s to end embed_play"
log "embed_play: .torrent and magnet played byte-exact from the installed library; SIGTERM ended it in ${took}s"
