#!/usr/bin/env bash
# Trains and evaluates the runs behind the README's diffusion rows, one after another (so each
# training run has the machine to itself), and prints `aigc report` of each folder.
# Usage: scripts/diffusion-rows.sh digits|conditional|budget|fashion|faces|inpaint|all [OUT]
# OUT defaults to runs/rows; a run folder that already holds an eval.json is skipped, so an
# interrupted script continues where it stopped. Needs a release build (target/release/aigc,
# or $AIGC); Fashion-MNIST needs scripts/install-data.sh. About 15–25 min per trained row on
# 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:?usage: scripts/diffusion-rows.sh digits|conditional|budget|fashion|faces|inpaint|all [OUT]}
out=${2:-runs/rows}
aigc=${AIGC:-${CARGO_TARGET_DIR:-target}/release/aigc}
[ -x "$aigc" ] || { echo "no aigc binary at $aigc (cargo build --release, or set AIGC)" >&2; exit 1; }
echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(date -u +%F)"

# row FOLDER RUN EVAL_FLAGS -- TRAIN_ARGS...: trains (timed) and evaluates one run.
row() {
  local dir=$out/$1 run=$2 eval_flags=$3; shift 4
  [ -f "$dir/$run/eval.json" ] && { echo "$dir/$run: evaluated already"; return; }
  mkdir -p "$dir"
  local start=$SECONDS
  "$aigc" train "$@" --out "$dir/$run" --force --quiet
  echo "$dir/$run: trained in $((SECONDS - start)) s (aigc train $*)"
  # shellcheck disable=SC2086
  "$aigc" eval --run "$dir/$run" $eval_flags --quiet
}

digits() {
  row digits dcgan-hinge-1000 "" -- gan --arch dcgan --loss hinge --steps 1000
  row digits diff-b32-e7 "--sample-steps 20" -- diffusion
}
conditional() { row conditional diff-cond-b32-e7 "--sample-steps 20" -- diffusion --conditional; }
budget() {
  row budget diff-s340 "--sample-steps 20" -- diffusion --steps 340
  row budget diff-w8-s700 "--sample-steps 20" -- diffusion --widths 8,16,32 --steps 700
  row budget diff-w8-s950 "--sample-steps 20" -- diffusion --widths 8,16,32 --steps 950
  row budget diff-w8-s950-lr2 "--sample-steps 20" -- diffusion --widths 8,16,32 --steps 950 --lr 0.002 --warmup-steps 50
  row budget diff-w8-b16-s1900 "--sample-steps 20" -- diffusion --widths 8,16,32 --batch-size 16 --steps 1900
  row budget diff-w8-b16-s1500-ema995 "--sample-steps 20" -- diffusion --widths 8,16,32 --batch-size 16 --steps 1500 --ema 0.995
}
fashion() {
  row fashion gan-r1-3000 "" -- gan --data fashion-mnist --steps 3000
  row fashion diff-s1967 "--sample-steps 20" -- diffusion --data fashion-mnist --steps 1967
  row fashion diff-w8-b16-s1150-ema995 "--sample-steps 20" -- diffusion --data fashion-mnist --widths 8,16,32 --batch-size 16 --steps 1150 --ema 0.995
}
faces() {
  row faces dcgan-1500 "" -- gan --arch dcgan --data faces-100 --image-size 32 --batch-size 32 --steps 1500
  row faces diff-s1500 "--sample-steps 20" -- diffusion --data faces-100 --image-size 32 --steps 1500
}
inpaint() {
  digits
  row inpaint gan-r1-3000 "" -- gan --steps 3000
  "$aigc" eval inpaint --run "$out/inpaint/gan-r1-3000" --masks centre,half --quiet
  "$aigc" eval inpaint --run "$out/digits/dcgan-hinge-1000" --masks centre,half --quiet
  "$aigc" eval inpaint --run "$out/digits/diff-b32-e7" --masks centre,half --sample-steps 10 --quiet
}

case "$which" in
  digits|conditional|budget|fashion|faces|inpaint) "$which" ;;
  all) digits; conditional; budget; fashion; faces; inpaint ;;
  *) echo "unknown row set '$which' (expected digits, conditional, budget, fashion, faces, inpaint or all)" >&2; exit 2 ;;
esac
for dir in "$out"/*/; do echo "## $dir"; "$aigc" report "$dir"; done
