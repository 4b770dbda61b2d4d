#!/usr/bin/env bash
# Installs optional data sets from Debian packages.
#   scripts/install-data.sh fashion-mnist   # Fashion-MNIST, 70,000 images (IDX) in /usr/share/datasets
set -euo pipefail
case "${1:-}" in
  fashion-mnist)
    if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
      echo "Fashion-MNIST already installed in /usr/share/datasets/fashion-mnist"; exit 0
    fi
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq dataset-fashion-mnist
    ;;
  *)
    echo "usage: $0 fashion-mnist" >&2; exit 2 ;;
esac
