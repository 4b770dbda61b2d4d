#!/usr/bin/env python3
"""Build the embedded `folk` corpus (folk tunes in ABC notation) from the PyPI wheel `music21`.

Usage:
    pip download music21==10.5.1 --no-deps -d .
    python3 data/scripts/convert_folk.py music21-10.5.1-py3-none-any.whl data/folk

Reads O'Neill's collection from music21's corpus, straight from the wheel (a zip file):

  * `music21/corpus/oneills1850/*.abc` -- O'Neill's "Music of Ireland" (1903, 1850 melodies),
    39 files transcribed by volunteers. Some files overlap or are alternative transcriptions of
    the same numbers (0626-0635 and 0626-0700, 0732-0758_bs and _mh, 1116-1135_mh and _ml,
    1556-1576 / 1556-1624 / 1577-1624, 1701-1780 and 1710-1750, and single tunes at the file
    boundaries). A tune is identified by its X: number; when a number appears in several files the
    tune of the first file in file-name order is kept. A tune whose number lies outside its file's
    name range (X:800 in 0626-0700 is O'Carolan's Farewell to Music, X:1781 in 1701-1780 is
    Caroline O'Neill's Hornpipe: misnumbered, distinct tunes) is always kept and does not take
    the number.

The wheel's other folk collection, Seymour Shlien's ABC version of the Essen folk-song collection
(`music21/corpus/essenFolksong/*.abc`), is NOT embedded: its permission covers non-commercial
distribution and use in music21 only (`essenFolksong/license.txt`), which aigc's MIT/Apache-2.0
licence cannot pass on. Users who accept its terms train on it directly:
    unzip music21-10.5.1-py3-none-any.whl 'music21/corpus/essenFolksong/*' -d essen
    aigc train music --data essen/music21/corpus/essenFolksong

A tune is, as in the ABC standard, the text from an `X:` line up to the first empty (or
whitespace-only) line; free text between tunes (e.g. a stray `:1646` in O'Neill's 1625-1700) is
dropped. The tune text is kept as it is, except that a comment line `% source: <collection>/<file>`
is inserted after the `X:` line. Tunes are written in order (files in file-name order, tunes in file
order), separated by one empty line, with `\\n` line endings and a
final newline, to `folk.abc.gz` (UTF-8; gzip mtime 0, so the output is reproducible byte for byte).
Standard library only.
"""
import gzip
import io
import os
import re
import sys
import zipfile

ONEILL = re.compile(r"^music21/corpus/(oneills1850)/((\d{4})-(\d{4})(?:_[a-z]+)?\.abc)$")
X_LINE = re.compile(r"^X:\s*(\d+)")


def split_tunes(text):
    """The tunes of an ABC file: lists of lines, from an X: line to the first empty line."""
    tunes, cur = [], None
    for line in text.split("\n"):
        if cur is None:
            if X_LINE.match(line):
                cur = [line]
        elif line.strip() == "":
            tunes.append(cur)
            cur = None
        else:
            cur.append(line)
    if cur is not None:
        tunes.append(cur)
    return tunes


def tune_text(lines, source):
    return "\n".join([lines[0], f"% source: {source}"] + lines[1:]) + "\n"


def main(wheel, dst):
    oneill = []
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(z.namelist()):
            m = ONEILL.match(name)
            if m:
                text = z.read(name).decode("utf-8").replace("\r\n", "\n")
                oneill.append((m.group(2), int(m.group(3)), int(m.group(4)), text))
    assert len(oneill) == 39, ("file set", len(oneill))

    out, counts = [], []
    taken = set()
    for fname, lo, hi, text in oneill:
        kept = 0
        for lines in split_tunes(text):
            x = int(X_LINE.match(lines[0]).group(1))
            in_range = lo <= x <= hi
            if in_range:
                if x in taken:
                    continue
                taken.add(x)
            t = tune_text(lines, f"oneills1850/{fname}")
            out.append(t)
            kept += 1
        counts.append((f"oneills1850/{fname}", kept))
    payload = "\n".join(out).encode("utf-8")
    os.makedirs(dst, exist_ok=True)
    path = os.path.join(dst, "folk.abc.gz")
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(payload)
    with open(path, "wb") as f:
        f.write(raw.getvalue())
    for source, n in counts:
        print(f"{source}: {n}")
    print(f"wrote {path}: {len(out)} tunes, {len(payload)} bytes, "
          f"{len(raw.getvalue())} bytes gzipped")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
