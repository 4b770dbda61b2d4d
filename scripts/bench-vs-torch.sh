#!/usr/bin/env bash
# Times one workload of ../shared/peers/SPEC.md in aigc and in PyTorch eager, back to back,
# ROUNDS times, and prints each round's medians and their ratio (aigc / PyTorch).
# Usage: scripts/bench-vs-torch.sh w1|w2|w3|w4|w4-sample|w4-sample-uncached|w5|w5-sample STEPS [ROUNDS]
# Needs a release build (target/release/aigc, or $AIGC) and the venv of ../shared/peers/setup.sh
# ($PEERS_PYTHON, default ~/.cache/aigc-peers-venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:?usage: scripts/bench-vs-torch.sh WORKLOAD STEPS [ROUNDS]}
steps=${2:?usage: scripts/bench-vs-torch.sh WORKLOAD STEPS [ROUNDS]}
rounds=${3:-3}
aigc=${AIGC:-${CARGO_TARGET_DIR:-target}/release/aigc}
python=${PEERS_PYTHON:-$HOME/.cache/aigc-peers-venv/bin/python}
peers=${PEERS_DIR:-../shared/peers}
[ -x "$aigc" ] || { echo "no aigc binary at $aigc (cargo build --release, or set AIGC)" >&2; exit 1; }
[ -x "$python" ] || { echo "no PyTorch venv at $python (run $peers/setup.sh, or set PEERS_PYTHON)" >&2; exit 1; }
case "$workload" in
  w1|w2) torch_cmd=(env TORCH_BENCH_GAN_REUSE_FAKE=1 "$python" "$peers/torch_ref.py" "$workload" "$steps") ;;
  w3|w4|w5) torch_cmd=("$python" "$peers/torch_ref.py" "$workload" "$steps") ;;
  w5-sample) torch_cmd=("$python" scripts/torch_w5_sample.py "$steps" "$peers") ;;
  w4-sample|w4-sample-uncached) torch_cmd=("$python" scripts/torch_w4_sample.py "$steps" "$peers") ;;
  *) echo "unknown workload '$workload' (expected w1, w2, w3, w4, w4-sample, w4-sample-uncached, w5 or w5-sample)" >&2; exit 2 ;;
esac
# Sampling workloads compare the mean per token (tokens/s over whole draws); the others medians.
stat=median_ms
case "$workload" in w4-sample*) stat=mean_ms ;; esac
median() { sed -n "s/^RESULT .* $stat=\([0-9.]*\).*/\1/p"; }
echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(date -u +%F)"
for round in $(seq "$rounds"); do
  ours=$("$aigc" bench "$workload" --steps "$steps" | median)
  theirs=$("${torch_cmd[@]}" | median)
  echo "round $round ($stat): aigc $ours ms, torch-eager $theirs ms, ratio $(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')x"
done
