# Helpers for the misbehaving-peer tests (tests/it_hostile_*.sh), sourced
# after tests/lib.sh:   . "$PF_SRC/tests/peers/hostile_lib.sh"
#
#   hostile NAME MODE [ARGS...]  tests/peers/hostile_peer.py MODE, report in
#                                $T/NAME.json; with --listen, waits for its
#                                port and sets HOSTILE_PORT
#   hrep NAME EXPR               a Python expression on NAME's report (`d`)
#   watch_hwm NAME               sample NAME's peak RSS (VmHWM) every 0.1 s
#                                into $T/NAME.hwm (kB), until it exits
#   hwm_kb NAME                  the peak RSS so far (kB)
#   assert_hwm_below NAME MIB    fail unless NAME's peak RSS < MIB MiB (only
#                                logged for an ASan build of peerflow)
#   closed_reason NAME PORT [IP] the reason peerflow -vv logged for closing
#                                IP:PORT (default 127.0.0.1; the first one),
#                                or nothing
HOSTILE="$PY $PF_SRC/tests/peers/hostile_peer.py"

hostile() {
    local name=$1 mode=$2; shift 2
    spawn "$name" $HOSTILE "$mode" --report "$T/$name.json" "$@"
    HOSTILE_PORT=
    case " $* " in
    *" --listen "*) HOSTILE_PORT=$(port_of "$name") ;;
    esac
}

hrep() { stats_json "$T/$1.json" "$2"; }

watch_hwm() {
    local name=$1 pid
    pid=$(_pid_of "$name")
    [ -n "$pid" ] || fail "watch_hwm: no process $name"
    spawn "hwm_$name" bash -c '
        while [ -r /proc/'"$pid"'/status ]; do
            v=$(awk "/^VmHWM:/ { print \$2 }" /proc/'"$pid"'/status 2>/dev/null)
            [ -n "$v" ] && echo "$v" >"'"$T/$name"'.hwm.tmp" && mv -f "'"$T/$name"'.hwm.tmp" "'"$T/$name"'.hwm"
            sleep 0.1
        done'
}

hwm_kb() {
    local name=$1 pid v=
    pid=$(_pid_of "$name")
    [ -n "$pid" ] && v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -z "$v" ] && [ -s "$T/$name.hwm" ] && v=$(cat "$T/$name.hwm")
    [ -n "$v" ] || fail "hwm_kb: no VmHWM for $name (watch_hwm it before it exits)"
    echo "$v"
}

assert_hwm_below() {
    local name=$1 mib=$2 kb
    kb=$(hwm_kb "$name")
    if _pf_sanitized; then
        # ASan's shadow memory and its 256 MiB free-quarantine make RSS say
        # nothing about our buffers; the normal build's pass asserts it
        log "$name: peak RSS (VmHWM) $((kb / 1024)) MiB under ASan: bound $mib MiB not asserted"
        return 0
    fi
    log "$name: peak RSS (VmHWM) $((kb / 1024)) MiB ($kb kB), bound $mib MiB"
    [ "$kb" -lt $((mib * 1024)) ] || fail "$name: peak RSS $kb kB >= the ${mib} MiB bound"
}

_pf_sanitized() {
    [ -z "${_PF_SANITIZED:-}" ] && { grep -qa __asan_init "$PF_BIN" && _PF_SANITIZED=1 || _PF_SANITIZED=0; }
    [ "$_PF_SANITIZED" = 1 ]
}

# A second connection to a peer already connected (closed "already exists",
# or "duplicate: ...") says nothing of the peer: it is skipped (CI: a
# re-dial of the hostile peer closed as a duplicate at 5 s hid its data
# ban at 9 s).
closed_reason() {
    local name=$1 port=$2 ip=${3:-127.0.0.1}
    grep -F "closing $ip:$port: " "$T/logs/$name.log" 2>/dev/null |
        grep -v -e ": already exists$" -e ": duplicate: " | head -1 | sed -E 's/^.*closing [^ ]+ //' || true
}

# is_data_ban REASON: peerflow closed the peer for corrupt data, either as
# the sole sender of a bad piece or by the smart ban (its block differed
# from the piece once verified).
is_data_ban() {
    case $1 in
    "sent data that failed the hash check" | "sent a block that differs from the verified piece" | \
        "sent data in more failed pieces than anyone else") return 0 ;;
    esac
    return 1
}
