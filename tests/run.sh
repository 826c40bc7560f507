#!/bin/sh
# Runs every test: the unit tests (plain and under ASan+UBSan), the fuzz
# harnesses over their corpora, then the end-to-end tests of tests/e2e
# against the real binary. Each test prints
# "ok - NAME" or "not ok - NAME: WHY"; this script counts them and ends
# with the failures listed again and one line "N passed, N failed". A test program that dies without
# reporting counts as a failure.
set -u
cd "$(dirname "$0")/.." || exit 2
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export HYPOTOP_BIN="$PWD/hypotop"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
out=$(mktemp)
failed=$(mktemp)
trap 'rm -f "$out" "$failed"' EXIT
pass=0
fail=0

run() {
	name=$1
	shift
	"$@" >"$out" 2>&1
	rc=$?
	grep -E '^(ok|not ok) - ' "$out" | sed "s|^|[$name] |"
	p=$(grep -c '^ok - ' "$out")
	f=$(grep -c '^not ok - ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "[$name] not ok - exited $rc without reporting a failure:"
		tail -n 20 "$out" | sed 's/^/#   /'
		f=1
		echo "[$name] exited $rc without reporting a failure" >>"$failed"
	elif [ "$f" -gt 0 ]; then
		grep -v -E '^(ok|not ok) - ' "$out" | tail -n 20 | sed 's/^/#   /'
		grep '^not ok - ' "$out" | sed "s|^|[$name] |" >>"$failed"
	fi
	pass=$((pass + p))
	fail=$((fail + f))
}

for t in build/tests/test_*; do
	run "$(basename "$t")" "$t"
done
for t in build/asan-tests/test_*; do
	run "asan $(basename "$t")" "$t"
done
# Each fuzz harness over its committed corpus (tests/fuzz/regress.sh).
run fuzz sh tests/fuzz/regress.sh
for t in tests/e2e/test_*.py; do
	run "$(basename "$t" .py)" "$PY" "$t"
done
# The failures again, last, where a reader of only the end sees them.
if [ "$fail" -gt 0 ]; then
	echo "failed:"
	sed 's/^/  /' "$failed"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
