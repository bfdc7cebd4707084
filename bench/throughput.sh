#!/usr/bin/env bash
# Loopback throughput, peerflow vs libtorrent, in one run on the same data:
#   peerflow seed -> peerflow get     and     libtorrent seed -> libtorrent get
# 1 GiB file (BENCH_SIZE, e.g. 256M), 1 MiB pieces, all data in /dev/shm when
# it has room (else /tmp), so the page cache serves every read.
# Per side it measures:
#   MB/s          file size / wall time of the `get` process (/usr/bin/time:
#                 start to exit, includes start-up and per-piece verification)
#   CPU s/GiB     get: user+sys of the whole process (/usr/bin/time);
#                 seed: user+sys used between "seeding" and the getter's exit
#                 (/proc/PID/stat), so the seeder's start-up hash check is not
#                 counted
#   peak RSS      get: /usr/bin/time max RSS; seed: VmHWM from /proc (both
#                 count mapped file pages: libtorrent 2.0 mmaps the data)
#   peak anon RSS RssAnon sampled every 50 ms: the clients' own memory
# and prints a markdown table with the ratios peerflow/libtorrent, one per
# transport: TCP, and uTP (BEP 29, both clients with only uTP enabled).
# Two more transports on request: tls (TLS 1.3 over TCP) and tls-utp (TLS 1.3
# over uTP), an SSL torrent of the same data (libtorrent's kind: `peerflow
# create --ssl-ca`, 1 MiB pieces) with certificates from `peerflow cert`,
# made once per invocation, given to both clients.  They get the same table,
# and, when the plain transport under them ran too, one more per client:
# TLS against plain on the same transport (the overhead).
#   bench/throughput.sh [--only libtorrent|peerflow] [--runs N (default 3)]
#                       [--transports "tcp utp" (default) | any of
#                        tcp utp tls tls-utp, e.g. "tcp tls utp tls-utp"]
# libtorrent runs with its defaults (plus the test settings of lt_peer.py:
# loopback, no DHT/LSD/UPnP, the transport asked); BENCH_LT_FLAGS=
# "--high-performance" selects its high_performance_seed preset for the seeder.
# BENCH_PF_BIN2=<another peerflow binary> adds a side "peerflow2" (a build
# before a change: the before/after of docs/BENCHMARKS.md), run after
# peerflow in each round; a binary without --transport runs TCP only, one
# without --ssl-cert no TLS.
# BENCH_SEED_CHECK=1 removes peerflow's resume record before each seed
# starts, so every seed hash-checks its data (not counted: see above)
# instead of trusting the record from the run before: a seed that verified
# every piece in this process, whose reads back are proved by their piece
# tags (docs/ARCHITECTURE.md, "Verify on read: piece tags"), like one that
# has served each piece before.  By default runs after the first fast-resume
# from the record the run before left, and restore the piece tags saved
# beside it (their key in the temp dir's state/, tests/lib.sh): a peerflow
# built before the tags were kept, or run with --no-tag-key, pays SHA-1 on
# each piece's first read instead.
# Runs alternate: for each run, each transport, each side.
set -euo pipefail
ONLY=
RUNS=3
TRANSPORTS="tcp utp"
while [ $# -gt 0 ]; do
    case $1 in
        --only) ONLY=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --transports) TRANSPORTS=$2; shift 2 ;;
        *) echo "usage: bench/throughput.sh [--only libtorrent|peerflow] [--runs N] [--transports \"tcp utp tls tls-utp\"]" >&2; exit 2 ;;
    esac
done
for tr in $TRANSPORTS; do
    case $tr in tcp | utp | tls | tls-utp) ;; *) echo "throughput.sh: unknown transport $tr (tcp, utp, tls, tls-utp)" >&2; exit 2 ;; esac
done
# wire_of TR: the transport a TLS transport runs over (tcp, utp)
wire_of() { case $1 in tls) echo tcp ;; tls-utp) echo utp ;; *) echo "$1" ;; esac; }
is_tls() { case $1 in tls | tls-utp) return 0 ;; esac; return 1; }
SIZE=${BENCH_SIZE:-1G}
if [ -z "${PF_TMP:-}" ] && [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')" -gt $((4 << 20)) ] 2>/dev/null; then
    PF_TMP=/dev/shm
fi
export PF_TMP
. "$(dirname "$0")/../tests/lib.sh"
TEST_NAME=throughput
# 300 s per transport and run (600 per run for the default two)
pf_setup $((300 * RUNS * $(wc -w <<<"$TRANSPORTS")))
require_libtorrent
[ -x /usr/bin/time ] || fail "/usr/bin/time missing (apt package time)"
if [ "$ONLY" != libtorrent ] && [ ! -x "$PF_BIN" ]; then
    [ "$ONLY" = peerflow ] && fail "no peerflow binary at $PF_BIN"
    log "no peerflow binary at $PF_BIN: libtorrent only"
    ONLY=libtorrent
fi
TLS=
for tr in $TRANSPORTS; do is_tls "$tr" && TLS=1; done
if [ -n "$TLS" ]; then
    # the SSL torrent and the certificates come from peerflow, whoever runs
    [ -x "$PF_BIN" ] || fail "$TRANSPORTS: TLS needs peerflow (create --ssl-ca, cert) at $PF_BIN"
    [ "$ONLY" = peerflow ] || $PY -c 'import libtorrent as lt; lt.create_torrent.set_root_cert' 2>/dev/null ||
        fail "python3-libtorrent without SSL torrents: no TLS side for it"
fi
TICK=$(getconf CLK_TCK)

gen_file "$SIZE" "$T/src/bench.bin" bench
bytes=$(stat -c %s "$T/src/bench.bin")
$LT_PEER create -p 1M -o "$T/bench.torrent" "$T/src/bench.bin" >/dev/null
log "data: $bytes bytes in $T"
# The SSL torrent (the same file and piece size, a CA in its info dict, so
# another info-hash) and one certificate per role, the same for both clients.
if [ -n "$TLS" ]; then
    mkdir -p "$T/ssl"
    "$PF_BIN" cert ca --out "$T/ssl/ca" >/dev/null
    for role in seed get; do
        "$PF_BIN" cert issue --ca "$T/ssl/ca" --name bench.bin --out "$T/ssl/$role" >/dev/null
    done
    "$PF_BIN" create --ssl-ca "$T/ssl/ca.pem" -p 1M -o "$T/bench_ssl.torrent" "$T/src/bench.bin" >/dev/null
    log "SSL torrent $T/bench_ssl.torrent, certificates in $T/ssl"
fi

# deepest descendant of PID (the getter runs under /usr/bin/time and timeout)
leaf_pid() {
    local p=$1 c
    while c=$(pgrep -P "$p" | head -1) && [ -n "$c" ]; do p=$c; done
    echo "$p"
}
# sample_anon SEED_PID GET_PID OUT: peak RssAnon (KiB) of both, every 50 ms,
# until GET_PID is gone: "seed_kib get_kib" in OUT. RssAnon leaves out the
# file pages a client maps (libtorrent 2.0 mmaps the data: its VmHWM counts
# the whole file), so it compares the clients' own memory.
sample_anon() {
    local sp=$1 gp=$2 out=$3 smax=0 gmax=0 leaf=$2 n=0
    while kill -0 "$gp" 2>/dev/null; do
        # the getter is the leaf under /usr/bin/time and timeout: look it up
        # until the exec chain is done (pgrep costs CPU: not every sample)
        n=$((n + 1))
        [ $n -le 10 ] && leaf=$(leaf_pid "$gp")
        anon_kib "$leaf"; [ "$ANON" -gt "$gmax" ] && gmax=$ANON
        anon_kib "$sp"; [ "$ANON" -gt "$smax" ] && smax=$ANON
        echo "$smax $gmax" >"$out"
        sleep 0.05
    done
}
# anon_kib PID: RssAnon in KiB into ANON, read with builtins only (the
# sampler must not steal the CPU it measures: no fork per value)
anon_kib() {
    local k v rest
    ANON=0
    while read -r k v rest; do
        [ "$k" = RssAnon: ] && { ANON=$v; return; }
    done 2>/dev/null <"/proc/$1/status"
}

# warm_memory: write and delete a file the size of the download where the
# getter will write it, right before each get.  On a VM whose free memory
# goes back to the host (free page reporting; DAMON reclaim runs here), the
# first touch of a page costs a host fault: the first get after a pause paid
# up to 3x its CPU (4.3 vs 1.4 s/GiB) for that, whichever client it was.
# Each side now writes into pages the guest already holds.
warm_memory() {
    dd if=/dev/zero of="$T/warm" bs=1M count=$((bytes >> 20)) status=none
    rm -f "$T/warm"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

declare -A R
run_side() {  # run_side peerflow|peerflow2|libtorrent tcp|utp|tls|tls-utp RUN
    local side=$1 tr=$2 run=$3 seed_pid port c0 c1 hwm wire
    wire=$(wire_of "$tr")
    local dst=$T/dst_${1}_$3 id=${1}_${2}_$3 bin=$PF_BIN tflag=(--transport "$wire")
    # plain: the plain torrent, no certificates; TLS: the SSL torrent, and
    # each process its role's certificate (the flags are the same for both
    # clients)
    local torrent=$T/bench.torrent seed_ssl=() get_ssl=()
    if is_tls "$tr"; then
        torrent=$T/bench_ssl.torrent
        seed_ssl=(--ssl-cert "$T/ssl/seed.pem" --ssl-key "$T/ssl/seed.key.pem")
        get_ssl=(--ssl-cert "$T/ssl/get.pem" --ssl-key "$T/ssl/get.key.pem")
    fi
    rm -rf "$dst"
    if [ "$side" = peerflow2 ]; then
        bin=$BENCH_PF_BIN2
        if ! "$bin" seed --help 2>&1 | grep -q -- --transport; then
            [ "$wire" = tcp ] || { log "peerflow2 has no --transport: no $tr run"; return 0; }
            tflag=()
        fi
        if is_tls "$tr" && ! "$bin" seed --help 2>&1 | grep -q -- --ssl-cert; then
            log "peerflow2 has no --ssl-cert: no $tr run"; return 0
        fi
    fi
    if [ "$side" != libtorrent ]; then
        rm -f "$T/pfseed_$run.json"
        [ "${BENCH_SEED_CHECK:-0}" = 1 ] && rm -rf "$T/src/.peerflow"
        spawn "seed_$id" "$bin" seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker \
            "${tflag[@]}" "${seed_ssl[@]}" --stats "$T/pfseed_$run.json" "$torrent"
        port=$(port_of "seed_$id" 120)
        # peerflow verifies the data before serving: wait for it, so the
        # seeder's CPU below is the transfer's only
        local n=0
        until [ -s "$T/pfseed_$run.json" ] && [ "$(json_get "$T/pfseed_$run.json" complete 2>/dev/null)" = True ]; do
            n=$((n + 1)); [ $n -gt 1200 ] && fail "peerflow seed: --stats never says complete"
            is_running "seed_$id" || fail "peerflow seed exited"
            sleep 0.1
        done
    else
        rm -f "$T/ready_$id"
        # shellcheck disable=SC2086
        spawn "seed_$id" $PY "$PF_SRC/tests/peers/lt_peer.py" seed --torrent "$torrent" \
            --dir "$T/src" --no-tracker --transport "$wire" "${seed_ssl[@]}" \
            --ready-file "$T/ready_$id" ${BENCH_LT_FLAGS:-}
        wait_for_file "$T/ready_$id" 120 "seed_$id"
        port=$(cat "$T/ready_$id")
    fi
    seed_pid=$SPAWNED_PID
    warm_memory
    c0=$(cpu_ticks "$seed_pid")
    if [ "$side" != libtorrent ]; then
        spawn "get_$id" /usr/bin/time -f '%e %U %S %M' -o "$T/time_$id" \
            timeout 300 "$bin" get -d "$dst" -l 0 --bind 127.0.0.1 --no-tracker \
            "${tflag[@]}" "${get_ssl[@]}" --peer "127.0.0.1:$port" "$torrent"
    else
        spawn "get_$id" /usr/bin/time -f '%e %U %S %M' -o "$T/time_$id" \
            timeout 300 $PY "$PF_SRC/tests/peers/lt_peer.py" get --torrent "$torrent" \
            --dir "$dst" --no-tracker --no-recheck --transport "$wire" "${get_ssl[@]}" \
            --peer "127.0.0.1:$port"
    fi
    sample_anon "$seed_pid" "$SPAWNED_PID" "$T/anon_$id" &
    local sampler=$!
    expect_exit0 "get_$id" 310
    wait "$sampler" 2>/dev/null || true
    c1=$(cpu_ticks "$seed_pid")
    hwm=$(hwm_kib "$seed_pid")
    stop "seed_$id"
    cmp -s "$T/src/bench.bin" "$dst/bench.bin" || fail "$side over $tr: downloaded file differs"
    rm -rf "$dst"
    local e u s m
    read -r e u s m <"$T/time_$id"
    R[$side,$tr,$run,mbs]=$(awk -v b="$bytes" -v e="$e" 'BEGIN { printf "%.1f", b / e / 1e6 }')
    R[$side,$tr,$run,get_cpu]=$(awk -v u="$u" -v s="$s" -v b="$bytes" 'BEGIN { printf "%.2f", (u + s) / (b / 1073741824) }')
    R[$side,$tr,$run,seed_cpu]=$(awk -v c="$((c1 - c0))" -v t="$TICK" -v b="$bytes" 'BEGIN { printf "%.2f", c / t / (b / 1073741824) }')
    R[$side,$tr,$run,get_rss]=$(awk -v m="$m" 'BEGIN { printf "%.1f", m / 1024 }')
    R[$side,$tr,$run,seed_rss]=$(awk -v m="$hwm" 'BEGIN { printf "%.1f", m / 1024 }')
    local sa ga
    read -r sa ga <"$T/anon_$id"
    R[$side,$tr,$run,get_anon]=$(awk -v m="$ga" 'BEGIN { printf "%.1f", m / 1024 }')
    R[$side,$tr,$run,seed_anon]=$(awk -v m="$sa" 'BEGIN { printf "%.1f", m / 1024 }')
    log "$side over $tr, run $run: ${R[$side,$tr,$run,mbs]} MB/s, get CPU ${R[$side,$tr,$run,get_cpu]} s/GiB, seed CPU ${R[$side,$tr,$run,seed_cpu]} s/GiB, get RSS ${R[$side,$tr,$run,get_rss]} MiB (anon ${R[$side,$tr,$run,get_anon]}), seed RSS ${R[$side,$tr,$run,seed_rss]} MiB (anon ${R[$side,$tr,$run,seed_anon]})"
}

sides=()
[ "$ONLY" != libtorrent ] && sides+=(peerflow)
[ "$ONLY" != libtorrent ] && [ -n "${BENCH_PF_BIN2:-}" ] && sides+=(peerflow2)
[ "$ONLY" != peerflow ] && sides+=(libtorrent)
for run in $(seq 1 "$RUNS"); do
    for tr in $TRANSPORTS; do
        for side in "${sides[@]}"; do run_side "$side" "$tr" "$run"; done
    done
done

# median over runs (the middle value; runs are few)
med() {
    local side=$1 tr=$2 key=$3 vals=()
    for run in $(seq 1 "$RUNS"); do [ -n "${R[$side,$tr,$run,$key]:-}" ] && vals+=("${R[$side,$tr,$run,$key]}"); done
    [ ${#vals[@]} -gt 0 ] || { echo -; return; }
    printf '%s\n' "${vals[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

echo
echo "Loopback, $bytes bytes, 1 MiB pieces, data in ${PF_TMP:-/tmp}, $(nproc) cores, median of $RUNS run(s)"
for tr in $TRANSPORTS; do
    echo
    case $tr in
        tls | tls-utp) echo "Over $tr (TLS 1.3 over $(wire_of "$tr"), an SSL torrent):" ;;
        *) echo "Over $tr:" ;;
    esac
    echo
    echo "| metric | peerflow | libtorrent $($PY -c 'import libtorrent; print(libtorrent.__version__)') | peerflow/libtorrent |"
    echo "|---|---:|---:|---:|"
    for row in "mbs:throughput (MB/s)" "get_cpu:downloader CPU (s/GiB)" "seed_cpu:seeder CPU (s/GiB)" \
               "get_rss:downloader peak RSS (MiB)" "seed_rss:seeder peak RSS (MiB)" \
               "get_anon:downloader peak anon RSS (MiB)" "seed_anon:seeder peak anon RSS (MiB)"; do
        key=${row%%:*}
        label=${row#*:}
        p=- l=- r=-
        [ "$ONLY" != libtorrent ] && p=$(med peerflow "$tr" "$key")
        [ "$ONLY" != peerflow ] && l=$(med libtorrent "$tr" "$key")
        [ "$p" != - ] && [ "$l" != - ] && r=$(ratio "$p" "$l")
        echo "| $label | $p | $l | $r |"
    done
    if [ -n "${BENCH_PF_BIN2:-}" ] && [ "$ONLY" != libtorrent ]; then
        echo
        echo "peerflow ($PF_BIN) against peerflow2 ($BENCH_PF_BIN2) over $tr:"
        echo
        echo "| metric | peerflow | peerflow2 | peerflow/peerflow2 | runs (peerflow / peerflow2) |"
        echo "|---|---:|---:|---:|---|"
        for row in "mbs:throughput (MB/s)" "get_cpu:downloader CPU (s/GiB)" "seed_cpu:seeder CPU (s/GiB)" \
                   "get_anon:downloader peak anon RSS (MiB)" "seed_anon:seeder peak anon RSS (MiB)"; do
            key=${row%%:*}
            p=$(med peerflow "$tr" "$key")
            q=$(med peerflow2 "$tr" "$key")
            runs=
            for run in $(seq 1 "$RUNS"); do
                runs+="${R[peerflow,$tr,$run,$key]:--}/${R[peerflow2,$tr,$run,$key]:--} "
            done
            r=-
            [ "$q" != - ] && r=$(ratio "$p" "$q")
            echo "| ${row#*:} | $p | $q | $r | ${runs% } |"
        done
    fi
done
# TLS against plain on the same transport, per client: what TLS costs
# (ratios of the medians; the plain rows are the tables above)
tls_overhead() {  # tls_overhead tls|tls-utp
    local tr=$1 plain head= rule= row key cells side p t r
    plain=$(wire_of "$tr")
    for side in "${sides[@]}"; do
        head+=" $side $plain | $side $tr | $side $tr/$plain |"
        rule+="---:|---:|---:|"
    done
    echo
    echo "TLS overhead over $plain: $tr against $plain, per client:"
    echo
    echo "| metric |$head"
    echo "|---|$rule"
    for row in "mbs:throughput (MB/s)" "get_cpu:downloader CPU (s/GiB)" "seed_cpu:seeder CPU (s/GiB)" \
               "get_anon:downloader peak anon RSS (MiB)" "seed_anon:seeder peak anon RSS (MiB)"; do
        key=${row%%:*}
        cells=
        for side in "${sides[@]}"; do
            p=$(med "$side" "$plain" "$key")
            t=$(med "$side" "$tr" "$key")
            r=-
            [ "$p" != - ] && [ "$t" != - ] && r=$(ratio "$t" "$p")
            cells+=" $p | $t | $r |"
        done
        echo "| ${row#*:} |$cells"
    done
}
for tr in $TRANSPORTS; do
    is_tls "$tr" || continue
    case " $TRANSPORTS " in
        *" $(wire_of "$tr") "*) tls_overhead "$tr" ;;
        *) log "no $(wire_of "$tr") in --transports: no TLS overhead table for $tr" ;;
    esac
done
# uTP against TCP, per client (the issue's target: peerflow's uTP at least
# half its own TCP)
case " $TRANSPORTS " in *" tcp "*) case " $TRANSPORTS " in *" utp "*)
    echo
    for side in "${sides[@]}"; do
        echo "$side: uTP/TCP throughput $(ratio "$(med "$side" utp mbs)" "$(med "$side" tcp mbs)")"
    done ;;
esac ;; esac
