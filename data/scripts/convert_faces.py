#!/usr/bin/env python3
"""Convert the 100 face crops of scikit-image's `lfw_subset.npy` into a gzipped IDX file.

Usage:
    pip download scikit-image==0.26.0 --no-deps --only-binary :all:
    unzip -o scikit_image-0.26.0-*.whl skimage/data/lfw_subset.npy
    python3 data/scripts/convert_faces.py skimage/data/lfw_subset.npy data/faces-100

`lfw_subset.npy` holds 200 float64 images of 25x25 pixels in [0, 1]: the first 100 are faces,
the other 100 background patches (non-faces), which are dropped. Pixels are quantised to uint8
(round(x*255)). Standard library only; the output is reproducible byte for byte (gzip mtime 0).
"""
import ast
import gzip
import io
import os
import struct
import sys


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        sys.exit(f"{path}: not a .npy file")
    major = data[6]
    if major == 1:
        (header_len,) = struct.unpack("<H", data[8:10])
        start = 10
    else:
        (header_len,) = struct.unpack("<I", data[8:12])
        start = 12
    header = ast.literal_eval(data[start:start + header_len].decode("latin1"))
    if header["descr"] != "<f8" or header["fortran_order"]:
        sys.exit(f"{path}: expected little-endian float64 in C order, found {header}")
    shape = header["shape"]
    body = data[start + header_len:]
    count = 1
    for d in shape:
        count *= d
    values = struct.unpack(f"<{count}d", body[:8 * count])
    return shape, values


def main(src, dst):
    shape, values = read_npy(src)
    if len(shape) != 3 or shape[0] < 100:
        sys.exit(f"{src}: expected (200, 25, 25) images, found {shape}")
    n, h, w = 100, shape[1], shape[2]
    pixels = bytes(max(0, min(255, round(v * 255))) for v in values[: n * h * w])
    payload = struct.pack(">BBBBIII", 0, 0, 0x08, 3, n, h, w) + pixels
    os.makedirs(dst, exist_ok=True)
    out = os.path.join(dst, "faces-images-idx3-ubyte.gz")
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(payload)
    with open(out, "wb") as f:
        f.write(raw.getvalue())
    print(f"wrote {n} faces of {h}x{w} to {out} ({len(raw.getvalue())} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
