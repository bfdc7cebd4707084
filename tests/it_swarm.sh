#!/usr/bin/env bash
# A peerflow-only swarm: `peerflow tracker`, 1 seeder and 8 downloaders of a
# 256 MiB file, each its own process, finding each other only through the
# tracker. All 8 must finish byte-exact, and the downloaders must have traded
# among themselves: the seeder's --stats "uploaded" must stay below 8 x the
# file size. The ratio uploaded/size is reported.
# Data lives in /dev/shm when it has room (9 x 256 MiB), else /tmp.
if [ -z "${PF_TMP:-}" ] && [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')" -gt $((4 << 20)) ] 2>/dev/null; then
    PF_TMP=/dev/shm
fi
. "$(dirname "$0")/lib.sh"
pf_setup 180
require_peerflow

N=8
SIZE_MIB=256
size=$((SIZE_MIB << 20))

spawn tracker $PF_BIN tracker -l 0 --bind 127.0.0.1 --interval 2
tport=$(port_of tracker)
wait_for_port "$tport"

gen_file "${SIZE_MIB}M" "$T/seed/big.bin" swarm
$PF_BIN create -p 1M -t "http://127.0.0.1:$tport/announce" -o "$T/big.torrent" "$T/seed/big.bin"

spawn seeder $PF_BIN seed -d "$T/seed" -l 0 --bind 127.0.0.1 --stats "$T/seeder.json" "$T/big.torrent"
port_of seeder >/dev/null
t_start=$(date +%s.%N)
for i in $(seq 1 $N); do
    spawn "leech$i" timeout 160 $PF_BIN get -d "$T/leech$i" -l 0 --bind 127.0.0.1 \
        --stats "$T/leech$i.json" "$T/big.torrent"
done
for i in $(seq 1 $N); do
    expect_exit0 "leech$i" 170
done
t_end=$(date +%s.%N)
for i in $(seq 1 $N); do
    assert_same_file "$T/seed/big.bin" "$T/leech$i/big.bin"
done
stop seeder
up=$(json_get "$T/seeder.json" uploaded)
ratio=$(awk -v u="$up" -v s="$size" 'BEGIN { printf "%.2f", u / s }')
secs=$(awk -v a="$t_end" -v b="$t_start" 'BEGIN { printf "%.1f", a - b }')
log "swarm: $N x ${SIZE_MIB} MiB in ${secs}s; seeder uploaded $up bytes = ${ratio} x file size (limit $N)"
echo "swarm_seeder_upload_ratio=$ratio swarm_seconds=$secs"
[ "$up" -lt $((N * size)) ] || fail "seeder uploaded ${ratio} x the file: downloaders did not share"
[ "$up" -ge "$size" ] || fail "seeder --stats uploaded $up < file size: stats look wrong"
