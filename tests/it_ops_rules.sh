#!/usr/bin/env bash
# The operator's Prometheus rules (ops/): recording rules for the fleet view
# of the trackers' QoE aggregates (offload, CDN bytes, start-up p50/p90,
# stall ratio, streams) and alerts (stalls, slow start-up, offload collapsed
# unless P2P is switched off, tracker down, forged tokens).
#  1. `promtool check rules` accepts ops/peerflow.rules.yml;
#  2. `promtool test rules` passes ops/peerflow.rules.test.yml: every
#     recording rule's exact value on a small synthetic fleet and each
#     alert firing (or not) where it must.
# No peerflow binary is needed: the rules are checked against the metric
# names docs/CLI.md lists.
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_cmd promtool prometheus

rules=$PF_SRC/ops/peerflow.rules.yml
tests=$PF_SRC/ops/peerflow.rules.test.yml
[ -f "$rules" ] || fail "missing $rules (PF_SRC=$PF_SRC)"
[ -f "$tests" ] || fail "missing $tests"

# 1. syntax, PromQL, templates
promtool check rules "$rules" >"$T/check.out" 2>&1 || fail "promtool check rules: $(cat "$T/check.out")"
grep -q SUCCESS "$T/check.out" || fail "promtool check rules: $(cat "$T/check.out")"
log "promtool check rules: $(grep -o '[0-9]* rules found' "$T/check.out")"

# 2. unit tests (promtool resolves rule_files relative to the test file)
promtool test rules "$tests" >"$T/test.out" 2>&1 || fail "promtool test rules: $(cat "$T/test.out")"
grep -q SUCCESS "$T/test.out" || fail "promtool test rules: $(cat "$T/test.out")"
! grep -q FAILED "$T/test.out" || fail "promtool test rules: $(cat "$T/test.out")"
log "promtool test rules: $(grep -c 'eval_time:' "$tests") evaluations passed"
