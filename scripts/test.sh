#!/usr/bin/env bash
# `make test`: the whole suite, as two pytest processes side by side (the machine has 2 cores
# and most slow tests wait on a node, a server or Chromium), each with its own temporary
# folder. World A: the pages and the town's side (browser, sales, staff, towns); world B:
# the chain layer, contracts and the rest. Each prints its own report; the exit status is
# non-zero if either fails. With arguments (make test PYTEST_ARGS=…) one pytest runs them.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=(.venv/bin/python -m pytest)
if [ "$#" -gt 0 ]; then
  exec "${PYTEST[@]}" "$@"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
world_a=(tests/browser tests/sales tests/staff tests/towns)
started=$(date +%s)
"${PYTEST[@]}" --basetemp "$tmp/a" "${world_a[@]}" > "$tmp/a.log" 2>&1 &
a_pid=$!
"${PYTEST[@]}" --basetemp "$tmp/b" $(printf -- "--ignore=%s " "${world_a[@]}") > "$tmp/b.log" 2>&1 &
b_pid=$!
wait "$a_pid"; a_status=$?
wait "$b_pid"; b_status=$?
echo "=== world A (${world_a[*]}) ==="; cat "$tmp/a.log"
echo "=== world B (the rest) ==="; cat "$tmp/b.log"
echo "make test: world A exit $a_status, world B exit $b_status, $(( $(date +%s) - started )) s in all"
[ "$a_status" -eq 0 ] && [ "$b_status" -eq 0 ]
