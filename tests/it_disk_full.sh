#!/usr/bin/env bash
# A full disk: `peerflow get` into a 16 MiB tmpfs of a 40 MiB file must stop
# with a clear "no space left" error and a non-zero exit, not crash or spin.
# What it wrote must not be trusted blindly: after the device grows, a
# restart re-verifies and completes byte-exact.
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_peerflow
[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"

gen_file $((40 << 20)) "$T/seed/big.bin" diskfull
$PF_BIN create -p 256K -o "$T/big.torrent" "$T/seed/big.bin"
mkdir -p "$T/small"
mount -t tmpfs -o size=16m pf-test-small "$T/small" || skip "cannot mount tmpfs here"
on_exit "umount -l '$T/small' 2>/dev/null"

spawn seeder $PF_BIN seed -d "$T/seed" -l 0 --bind 127.0.0.1 --no-tracker "$T/big.torrent"
sport=$(port_of seeder)

spawn leech1 $PF_BIN get -d "$T/small" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$sport" "$T/big.torrent"
rc=0
wait_exit leech1 60 || rc=$?
[ "$rc" = 1 ] || fail "get on a full disk exited with $rc, want 1"
grep -q "no space left" "$T/logs/leech1.log" || fail "no 'no space left' error in the log"
log "error: $(grep -m1 'no space left' "$T/logs/leech1.log")"

# More room, and a restart completes byte-exact.
mount -o remount,size=64m "$T/small"
spawn leech2 timeout 60 $PF_BIN get -d "$T/small" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$sport" "$T/big.torrent"
expect_exit0 leech2 60
assert_same_file "$T/seed/big.bin" "$T/small/big.bin"
