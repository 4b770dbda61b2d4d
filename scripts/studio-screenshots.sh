#!/usr/bin/env bash
# The README's studio screenshots: trains small real runs under runs/studio (about 6 minutes on
# 2 cores; runs already there are kept), then drives every tab of the studio in headless
# Chromium over them (crates/aigc-serve/tests/studio.rs) and saves docs/studio/TAB.png.
# Needs a release build (target/release/aigc, or $AIGC) and scripts/install-browser.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
aigc=${AIGC:-${CARGO_TARGET_DIR:-target}/release/aigc}
[ -x "$aigc" ] || { echo "no aigc binary at $aigc (cargo build --release, or set AIGC)" >&2; exit 1; }
out=runs/studio
mkdir -p "$out"
train() {
  local run=$1; shift
  [ -f "$out/$run/config.toml" ] && { echo "$out/$run: trained already"; return; }
  "$aigc" train "$@" --out "$out/$run" --quiet
}
train text-gpt text --steps 600
train poems-gpt text --data tang-poems --steps 600
train diffusion-cond diffusion --conditional --widths 8,16,32 --batch-size 16 --steps 1500 --ema 0.995
train vae-mlp vae --steps 2000
train music-markov music --arch markov
rm -rf "$out/studio-gan"
AIGC_STUDIO_RUNS="$PWD/$out" AIGC_SCREENSHOTS="$PWD/docs/studio" cargo test --release -p aigc-serve --test studio -- --nocapture
ls docs/studio
