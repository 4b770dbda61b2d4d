#!/usr/bin/env python3
"""Build the embedded test pictures (`data/pictures/`) from scikit-image's sample images.

Usage:
    pip download scikit-image==0.26.0 --no-deps --only-binary :all: -d .
    python3 data/scripts/convert_pictures.py scikit_image-0.26.0-*.whl data/pictures

Reads six PNG files of `skimage/data/` straight from the wheel (a zip file; the data files are the
same in every platform's wheel, and each is checked against the sha256 that scikit-image's own
`skimage/data/_registry.py` lists for it):

  photos (kept RGB):       astronaut.png (512x512), chelsea.png (451x300), coffee.png (600x400)
  textures (kept gray):    brick.png, grass.png, gravel.png (512x512 each, already 8-bit gray)

Each image is decoded (our own PNG decoder: 8-bit gray, gray+alpha, RGB or RGBA, non-interlaced,
all five row filters), converted to the wanted colour type (RGB -> gray by integer BT.601 luma
(299 R + 587 G + 114 B + 500) // 1000; gray -> RGB by repeating it; an alpha channel is dropped
and must be fully opaque), and, if its longer side is over 256 pixels, scaled down so that the
longer side is 256 and the shorter one round(short * 256 / long) (chelsea 256x170, coffee 256x171,
the others 256x256). Scaling is a box filter: each output pixel is the exact area-weighted mean of
the source pixels its footprint covers (separable integer weights, rounded half up at the end),
computed on the stored 8-bit values (no gamma linearisation). The ICC profiles (both sRGB), XMP,
text and time chunks of the sources are not carried over.

Output: `<name>.png`, 8-bit, colour type 2 (RGB) or 0 (gray), non-interlaced, every row with filter
type 0 (None), one IDAT chunk compressed by zlib at level 9, no ancillary chunks (no timestamp), so
the files are reproducible byte for byte (given the same zlib; the printed pixel sha256 is
independent of it). Standard library only.
"""
import hashlib
import os
import struct
import sys
import zipfile
import zlib

MAX_SIDE = 256

# name -> (colour type of the output: 2 = RGB, 0 = gray, sha256 of skimage/data/<name>.png)
PICTURES = {
    "astronaut": (2, "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    "chelsea": (2, "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    "coffee": (2, "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    "brick": (0, "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
    "grass": (0, "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"),
    "gravel": (0, "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"),
}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel (8-bit only)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    if pb <= pc:
        return b
    return c


def decode_png(data, what="PNG"):
    """Decode a PNG: returns (width, height, colour type, pixel bytes, row-major, interleaved)."""
    if data[:8] != PNG_SIGNATURE:
        sys.exit(f"{what}: not a PNG file")
    pos, ihdr, idat, ended = 8, None, [], False
    while pos < len(data):
        if pos + 8 > len(data):
            sys.exit(f"{what}: truncated chunk header")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if len(body) != length or zlib.crc32(kind + body) != crc:
            sys.exit(f"{what}: bad or truncated {kind!r} chunk")
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            ended = True
            break
        elif kind[0] & 0x20 == 0:  # critical chunk we do not know (e.g. PLTE)
            sys.exit(f"{what}: unsupported critical chunk {kind!r}")
    if ihdr is None or not idat or not ended:
        sys.exit(f"{what}: missing IHDR, IDAT or IEND")
    width, height, depth, ctype, method, filt, interlace = ihdr
    if depth != 8 or ctype not in CHANNELS or method != 0 or filt != 0 or interlace != 0:
        sys.exit(f"{what}: unsupported PNG (bit depth {depth}, colour type {ctype}, "
                 f"interlace {interlace}); need 8-bit gray/gray+alpha/RGB/RGBA, non-interlaced")
    bpp = CHANNELS[ctype]
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != height * (stride + 1):
        sys.exit(f"{what}: image data has {len(raw)} bytes, expected {height * (stride + 1)}")
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype = raw[start]
        cur = bytearray(raw[start + 1:start + 1 + stride])
        if ftype == 0:
            pass
        elif ftype == 1:  # Sub
            for i in range(bpp, stride):
                cur[i] = (cur[i] + cur[i - bpp]) & 0xFF
        elif ftype == 2:  # Up
            cur = bytearray((a + b) & 0xFF for a, b in zip(cur, prev))
        elif ftype == 3:  # Average
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                cur[i] = (cur[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:  # Paeth
            for i in range(stride):
                if i >= bpp:
                    cur[i] = (cur[i] + paeth(cur[i - bpp], prev[i], prev[i - bpp])) & 0xFF
                else:
                    cur[i] = (cur[i] + prev[i]) & 0xFF  # paeth(0, b, 0) == b
        else:
            sys.exit(f"{what}: row {y} has unknown filter type {ftype}")
        out[y * stride:(y + 1) * stride] = cur
        prev = cur
    return width, height, ctype, bytes(out)


def to_colour(pixels, ctype, want, what):
    """Convert interleaved 8-bit pixels of PNG colour type `ctype` to `want` (2 = RGB, 0 = gray)."""
    bpp = CHANNELS[ctype]
    if ctype in (4, 6):  # drop alpha, which must be opaque
        if any(a != 255 for a in pixels[bpp - 1::bpp]):
            sys.exit(f"{what}: has transparent pixels")
        colour = bpp - 1
        pixels = bytes(b for i, b in enumerate(pixels) if i % bpp != colour)
        ctype = 0 if ctype == 4 else 2
    if ctype == want:
        return pixels
    if want == 0:  # RGB -> gray, integer BT.601 luma
        r, g, b = pixels[0::3], pixels[1::3], pixels[2::3]
        return bytes((299 * x + 587 * y + 114 * z + 500) // 1000 for x, y, z in zip(r, g, b))
    return bytes(v for v in pixels for _ in range(3))  # gray -> RGB


def target_size(width, height):
    long_side, short_side = max(width, height), min(width, height)
    if long_side <= MAX_SIDE:
        return width, height
    short_out = max(1, (short_side * MAX_SIDE + long_side // 2) // long_side)
    return (MAX_SIDE, short_out) if width >= height else (short_out, MAX_SIDE)


def box_weights(src, dst):
    """For each source index, the (output index, weight) pairs of a box filter from src to dst.

    In units where a source pixel is dst long and an output pixel src long, source pixel i covers
    [i*dst, (i+1)*dst) and output pixel o covers [o*src, (o+1)*src); the weight is the overlap, so
    the weights of each output pixel sum to src."""
    table = []
    for i in range(src):
        lo, hi = i * dst, (i + 1) * dst
        table.append([(o, min(hi, (o + 1) * src) - max(lo, o * src))
                      for o in range(lo // src, (hi - 1) // src + 1)])
    return table


def box_resize(pixels, width, height, channels, out_w, out_h):
    """Area-average downscaling with exact integer arithmetic (rounded half up)."""
    wx, wy = box_weights(width, out_w), box_weights(height, out_h)
    out_stride = out_w * channels
    acc = [[0] * out_stride for _ in range(out_h)]
    for y in range(height):
        row = pixels[y * width * channels:(y + 1) * width * channels]
        hsum = [0] * out_stride  # horizontal pass: weights sum to `width`
        for x in range(width):
            base = x * channels
            for o, w in wx[x]:
                ob = o * channels
                for c in range(channels):
                    hsum[ob + c] += w * row[base + c]
        for o, w in wy[y]:  # vertical pass: weights sum to `height`
            target = acc[o]
            for i in range(out_stride):
                target[i] += w * hsum[i]
    total = width * height
    half = total // 2
    return bytes((v + half) // total for row in acc for v in row)


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode_png(pixels, width, height, ctype):
    stride = width * CHANNELS[ctype]
    raw = b"".join(b"\x00" + pixels[y * stride:(y + 1) * stride] for y in range(height))
    return (PNG_SIGNATURE
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def main(wheel, dst):
    os.makedirs(dst, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name, (want, sha) in PICTURES.items():
            member = f"skimage/data/{name}.png"
            data = zf.read(member)
            if hashlib.sha256(data).hexdigest() != sha:
                sys.exit(f"{member}: sha256 differs from scikit-image's registry ({sha})")
            width, height, ctype, pixels = decode_png(data, member)
            pixels = to_colour(pixels, ctype, want, member)
            out_w, out_h = target_size(width, height)
            if (out_w, out_h) != (width, height):
                pixels = box_resize(pixels, width, height, CHANNELS[want], out_w, out_h)
            png = encode_png(pixels, out_w, out_h, want)
            check = decode_png(png, "output")
            assert check == (out_w, out_h, want, pixels), "round trip failed"
            out = os.path.join(dst, f"{name}.png")
            with open(out, "wb") as f:
                f.write(png)
            kind = "RGB" if want == 2 else "gray"
            print(f"{member} ({len(data)} bytes, {width}x{height}, colour type {ctype}) -> {out}: "
                  f"{out_w}x{out_h} {kind}, {len(png)} bytes, "
                  f"pixels sha256 {hashlib.sha256(pixels).hexdigest()}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
