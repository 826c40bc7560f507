#!/bin/sh
# make bench: hypotop's figures beside its peers', on this machine, now.
# Prints each measurement and the ratios; never fails on a figure.
set -eu
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
BS=build/tools/bench_state

repo() {
	mkdir -p "$1"
	git -C "$1" init -q
	echo 'print("val_loss=1")' >"$1/train.py"
	git -C "$1" add .
	git -C "$1" -c user.name=b -c user.email=b@b commit -qm init
}
workdir() {
	./hypotop init "$1" --source-dir "$T/src" --launch 'python3 train.py' --metric val_loss >/dev/null
}
field() { # field KEY LINE
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
ratio() { awk "BEGIN { printf \"%.1f\", $1 / $2 }"; }

repo "$T/src"
echo "== durable state (SPEC §4): journal vs rewriting one JSON document per change"
N=2000
workdir "$T/j1"
ours1=$($BS journal "$T/j1" $N 1)
workdir "$T/j64"
ours64=$($BS journal "$T/j64" 20000 64)
mkdir "$T/peer"
peer=$($PY tests/bench/peer_state.py journal "$T/peer" $N)
echo "hypotop, one fsync per change:      $ours1"
echo "hypotop, group commit of 64:        $ours64"
echo "peer stand-in, rewrite per change:  $peer"
o1=$(field ops_per_s "$ours1")
o64=$(field ops_per_s "$ours64")
p=$(field ops_per_s "$peer")
echo "ratio: $(ratio "$o1" "$p")x the peer's durable changes/s ($(ratio "$o64" "$p")x with group commit)"

echo
echo "== loading a workdir of 100 000 nodes"
workdir "$T/big"
$BS fill "$T/big" 100000 >/dev/null
ours=$($BS load "$T/big")
mkdir "$T/peerbig"
$PY tests/bench/peer_state.py fill "$T/peerbig" 100000 >/dev/null
peer=$($PY tests/bench/peer_state.py load "$T/peerbig")
echo "hypotop:       $ours"
echo "peer stand-in: $peer"
echo "ratio: load time $(ratio "$(field load_ms "$peer")" "$(field load_ms "$ours")")x faster;" \
	"memory $(ratio "$(field bytes_per_node "$peer")" "$(field bytes_per_node "$ours")")x smaller;" \
	"$(awk "BEGIN { printf \"%.2f\", $(field bytes_per_node "$ours") * 1000 / 1024 }") KiB per 1000 nodes" \
	"is $(awk "BEGIN { printf \"%.0f\", $(field bytes_per_node "$ours") }") B a node (target < 2048)"
