#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver from Debian (`chromium`, `chromium-driver`), which
# the studio's browser test drives; without them that test checks the page without a browser.
set -euo pipefail
if command -v chromedriver >/dev/null && { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }; then
  echo "chromium and chromedriver already installed: $(command -v chromedriver)"; exit 0
fi
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
$sudo_cmd apt-get install -y -qq chromium chromium-driver fonts-noto-cjk
