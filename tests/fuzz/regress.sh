#!/bin/sh
# Runs each fuzz harness over its committed corpus, tests/fuzz/corpus/NAME/,
# every input once: a regression run of seconds, part of `make check`. Prints
# "ok - fuzz_NAME" or "not ok - fuzz_NAME: WHY" for each harness of
# tests/fuzz. A harness that is not built fails: without clang nothing is
# fuzzed, and that must not pass unseen.
set -u
cd "$(dirname "$0")/../.." || exit 2
fcc=${FUZZ_CC:-clang}
# The harnesses' temp folders go in one of this run, which also takes what
# a crashed harness leaves behind.
TMPDIR=$(mktemp -d) || exit 2
export TMPDIR
log=$TMPDIR/log
trap 'rm -rf "$TMPDIR"' EXIT
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	bin=build/fuzz/$name
	corpus=tests/fuzz/corpus/${name#fuzz_}
	# Without the compiler a harness left from an earlier build may be stale.
	if ! command -v "$fcc" >/dev/null 2>&1; then
		echo "not ok - $name: $fcc is not installed, so the fuzz harnesses cannot be" \
			"built; 'make deps' installs clang and libclang-rt-14-dev"
		continue
	fi
	if [ ! -x "$bin" ]; then
		echo "not ok - $name: $bin is not built; run 'make $bin'"
		continue
	fi
	n=$(find "$corpus" -type f 2>/dev/null | wc -l)
	if [ "$n" -eq 0 ]; then
		echo "not ok - $name: no corpus in $corpus"
		continue
	fi
	# Inputs given as files are each run once, not fuzzed.
	if find "$corpus" -type f -print0 | xargs -0 "$bin" -timeout=30 -rss_limit_mb=2048 \
		>"$log" 2>&1; then
		echo "ok - $name"
	else
		why=$(grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|fuzz:|.*runtime error)' "$log")
		input=$(grep '^Running: ' "$log" | tail -n 1 | cut -c10-)
		echo "not ok - $name: ${why:-exited non-zero} (input $input)"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz:)|runtime error| in .*(/src/|/tests/fuzz/)' \
			"$log" | head -n 12 | sed 's/^/#   /'
	fi
done
