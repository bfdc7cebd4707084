#!/usr/bin/env bash
# Runs a libFuzzer target (or all of them) for a given time; see
# docs/FUZZING.md.
#
#   scripts/fuzz.sh TARGET [SECONDS] [JOBS]     e.g. scripts/fuzz.sh wire 300
#   scripts/fuzz.sh all [SECONDS] [JOBS]        each target in turn
#   scripts/fuzz.sh --list                      the targets
#
# TARGET is the name after fuzz/fuzz_ (bencode, wire, session, ...).
# SECONDS defaults to 300 (0: only minimize the corpus), JOBS to 1 (JOBS > 1
# uses libFuzzer's -fork).
#
# 1. Configures build-fuzz/ with clang and PF_FUZZ=ON (the libraries built
#    with -fsanitize=fuzzer-no-link,address,undefined; UBSan reports abort)
#    and builds the fuzzers.
# 2. Copies fuzz/corpus/TARGET to a scratch dir under build-fuzz/fuzz-run/
#    and fuzzes that copy, under `nice -n $PF_FUZZ_NICE` (default 10), with
#    fuzz/dict/TARGET.dict as a dictionary when it exists.
# 3. Merges the result back into fuzz/corpus/TARGET with -merge=1,
#    minimized (edges, -use_counters=0): files with a chosen name (real
#    samples, hand-made seeds, regress-*) are always kept; files named by
#    their SHA-1 (fz_<sha1>, what libFuzzer found) only while they add
#    coverage.
# 4. Copies crash-/leak-/timeout-/oom- inputs to fuzz/crashes/TARGET/ and
#    appends a line to build-fuzz/fuzz-run/summary.tsv: date, target,
#    seconds it ran, jobs, CPU-minutes, executions, cov, ft, corpus files before
#    and after, crashes, CPU-minutes measured (user + sys; under nice on a
#    shared machine it can be less than SECONDS x JOBS).  The full log is
#    build-fuzz/fuzz-run/TARGET/log.
#
# Environment: PF_FUZZ_BUILD (default build-fuzz), PF_FUZZ_NICE (10),
# PF_FUZZ_ARGS (extra libFuzzer flags), CC (default clang),
# PF_FUZZ_NO_MERGE=1 to leave fuzz/corpus alone, PF_FUZZ_KEEP_GOING=1 to go
# on after a crash (libFuzzer -fork mode).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${PF_FUZZ_BUILD:-$root/build-fuzz}
case $build in /*) ;; *) build=$root/$build ;; esac
nice_n=${PF_FUZZ_NICE:-10}

targets() { (cd "$root/fuzz" && ls fuzz_*.c | sed -e 's/^fuzz_//' -e 's/\.c$//'); }

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

[ $# -ge 1 ] || usage
if [ "$1" = --list ]; then targets; exit 0; fi
target=$1
secs=${2:-300}
jobs=${3:-1}
case $secs in '' | *[!0-9]*) usage ;; esac
case $jobs in '' | *[!0-9]* | 0) usage ;; esac

if [ "$target" = all ]; then
    list=$(targets)
else
    [ -f "$root/fuzz/fuzz_$target.c" ] || { echo "no such target: $target (try --list)" >&2; exit 2; }
    list=$target
fi

# --- build ----------------------------------------------------------------
if [ ! -f "$build/build.ninja" ]; then
    CC=${CC:-clang} cmake -S "$root" -B "$build" -G Ninja -DPF_FUZZ=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-Wno-unknown-warning-option >/dev/null
fi
bins=()
for t in $list; do bins+=("fuzz_$t"); done
nice -n "$nice_n" ninja -C "$build" "${bins[@]}" >/dev/null

# Names of fuzzer-found inputs: their SHA-1, kept as fz_<sha1>.
is_hash_name() { [[ $1 =~ ^(fz_)?[0-9a-f]{40}$ ]]; }

run_one() {
    local t=$1 bin="$build/fuzz_$t" corpus="$root/fuzz/corpus/$t" secs_run=0
    local run="$build/fuzz-run/$t"
    rm -rf "$run"
    mkdir -p "$run/corpus" "$run/artifacts" "$corpus"
    cp -pR "$corpus"/. "$run/corpus/"
    local before
    before=$(find "$corpus" -maxdepth 1 -type f | wc -l)

    local mode=()
    # A libFuzzer dictionary of the format's tokens, when there is one.
    if [ -f "$root/fuzz/dict/$t.dict" ]; then mode+=(-dict="$root/fuzz/dict/$t.dict"); fi
    # Several jobs, or PF_FUZZ_KEEP_GOING=1: fork mode, which goes on after
    # a crash (one job stops at the first).
    if [ "$jobs" -gt 1 ] || [ "${PF_FUZZ_KEEP_GOING:-0}" = 1 ]; then
        mode+=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    fi
    echo "== fuzz_$t: ${secs}s x $jobs job(s), corpus $before files"
    local rc=0 started=$SECONDS
    echo "0 0" >"$run/cputime"
    if [ "$secs" -gt 0 ]; then
        set +e
        # The CPU time the fuzzer really got (user + sys), which under nice
        # on a shared machine can be less than SECONDS x JOBS.
        local TIMEFORMAT='%U %S'
        # shellcheck disable=SC2086
        { time nice -n "$nice_n" "$bin" "${mode[@]}" -max_total_time="$secs" -timeout=20 \
            -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$run/artifacts/" \
            ${PF_FUZZ_ARGS:-} "$run/corpus" >"$run/log" 2>&1; } 2>"$run/cputime"
        rc=$?
        set -e
        secs_run=$((SECONDS - started)) # less than asked when it crashed
    else
        : >"$run/log" # 0 seconds: only minimize the corpus
    fi

    # Coverage and executions from the log (fork mode prints its own lines).
    local execs cov ft
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$run/log" | grep -Eo '[0-9]+$' | tail -1 || true)
    if [ -z "$execs" ]; then
        execs=$(grep -Eo '^#[0-9]+' "$run/log" | tr -d '#' | tail -1 || true)
    fi
    cov=$(grep -Eo 'cov: [0-9]+' "$run/log" | grep -Eo '[0-9]+' | tail -1 || true)
    ft=$(grep -Eo 'ft: [0-9]+' "$run/log" | grep -Eo '[0-9]+' | tail -1 || true)

    # Crashes, leaks, timeouts, OOMs.
    local ncrash=0 f
    for f in "$run"/artifacts/crash-* "$run"/artifacts/leak-* "$run"/artifacts/timeout-* \
             "$run"/artifacts/oom-*; do
        [ -f "$f" ] || continue
        mkdir -p "$root/fuzz/crashes/$t"
        cp -p "$f" "$root/fuzz/crashes/$t/"
        ncrash=$((ncrash + 1))
    done
    if [ "$rc" -ne 0 ] && [ "$ncrash" -eq 0 ]; then
        echo "   fuzz_$t exited $rc without an artifact; see $run/log" >&2
    fi

    # Minimizing merge back into fuzz/corpus/TARGET.
    local after=$before
    if [ "${PF_FUZZ_NO_MERGE:-0}" != 1 ]; then
        local merged="$run/merged"
        mkdir -p "$merged" "$run/old"
        for f in "$corpus"/*; do
            [ -f "$f" ] || continue
            if is_hash_name "$(basename "$f")"; then cp -p "$f" "$run/old/"; else cp -p "$f" "$merged/"; fi
        done
        if nice -n "$nice_n" "$bin" -merge=1 -use_counters=0 -timeout=20 -rss_limit_mb=2048 \
            "$merged" "$run/old" "$run/corpus" >"$run/merge.log" 2>&1; then
            find "$corpus" -maxdepth 1 -type f -regextype posix-extended \
                -regex '.*/(fz_)?[0-9a-f]{40}' -delete
            for f in "$merged"/*; do
                [ -f "$f" ] || continue
                local b
                b=$(basename "$f")
                if is_hash_name "$b"; then cp -p "$f" "$corpus/fz_${b#fz_}"; fi
            done
            after=$(find "$corpus" -maxdepth 1 -type f | wc -l)
        else
            echo "   merge failed (corpus left as it was); see $run/merge.log" >&2
        fi
    fi

    local cpumin used
    cpumin=$(awk -v s="${secs_run:-0}" -v j="$jobs" 'BEGIN { printf "%.1f", s * j / 60 }')
    used=$(awk '{ printf "%.1f", ($1 + $2) / 60 }' "$run/cputime")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "${secs_run:-0}" "$jobs" \
        "$cpumin" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$before" "$after" "$ncrash" "$used" \
        >>"$build/fuzz-run/summary.tsv"
    echo "   execs ${execs:-?}  cov ${cov:-?}  ft ${ft:-?}  corpus $before -> $after  crashes $ncrash  CPU-min $used"
    [ "$ncrash" -eq 0 ] && return 0 || return 1
}

mkdir -p "$build/fuzz-run"
status=0
for t in $list; do run_one "$t" || status=1; done
exit $status
