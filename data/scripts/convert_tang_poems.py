#!/usr/bin/env python3
"""Build the embedded `tang-poems` corpus from the npm package `chinese-poetry@2.0.1`.

Usage:
    npm pack chinese-poetry@2.0.1
    python3 data/scripts/convert_tang_poems.py chinese-poetry-2.0.1.tgz data/tang-poems

Reads the Complete Tang Poems (全唐詩), `package/dist/quantangshi/poet.tang.<N>.json` (58 files of
up to 1,000 entries {"author", "title", "paragraphs", ...}), straight from the .tgz, in file order
(N ascending, numerically: 0, 1000, ..., 57000) and entry order, and keeps the regular forms only:

    五言絕句 4 lines x 5 characters     七言絕句 4 lines x 7 characters
    五言律詩 8 lines x 5 characters     七言律詩 8 lines x 7 characters

The body is the paragraphs joined. A line is a run of CJK ideographs; every line must be followed
by one punctuation mark, "，" after odd lines and "。" after even ones. The variants "？", "！", "；"
(and "，"/"。" in the other place) are rewritten to that pattern; a poem with any other character
(「」《》（）、： notes, □ for lost characters, ASCII, ...) is dropped. Titles and authors are not
kept. Exact duplicate bodies are dropped (the first one stays). Poems are taken in order until the
next one would pass 1,500,000 bytes of UTF-8 (newlines included) and written one per line, e.g.

    床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。

to `tang-poems.txt.gz`. The source is in traditional characters, kept as they are. Standard
library only; the output is reproducible byte for byte (gzip mtime 0).
"""
import gzip
import io
import json
import os
import re
import sys
import tarfile
import unicodedata

CAP_BYTES = 1_500_000
SOURCE = re.compile(r"^package/dist/quantangshi/poet\.tang\.(\d+)\.json$")
FORMS = {(4, 5): "五言絕句", (4, 7): "七言絕句", (8, 5): "五言律詩", (8, 7): "七言律詩"}
PUNCT = "，。？！；"


def is_cjk(c):
    name = unicodedata.name(c, "")
    return name.startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))


def regular_body(paragraphs):
    """The poem in the standard punctuation, its form and whether it was re-punctuated; or None."""
    text = "".join(paragraphs)
    lines, marks, run = [], [], []
    for c in text:
        if c in PUNCT:
            if not run:
                return None  # two marks in a row, or a leading mark
            lines.append("".join(run))
            marks.append(c)
            run = []
        elif is_cjk(c):
            run.append(c)
        else:
            return None
    if run:
        return None  # the last line has no mark
    length = len(lines[0]) if lines else 0
    form = FORMS.get((len(lines), length))
    if form is None or any(len(l) != length for l in lines):
        return None
    standard = ["，" if i % 2 == 0 else "。" for i in range(len(lines))]
    body = "".join(l + m for l, m in zip(lines, standard))
    return body, form, marks != standard


def main(tgz, dst):
    files = []
    with tarfile.open(tgz, "r:gz") as tar:
        for member in tar.getmembers():
            m = SOURCE.match(member.name)
            if m and member.isfile():
                files.append((int(m.group(1)), json.loads(tar.extractfile(member).read())))
    files.sort(key=lambda f: f[0])
    assert files and [n for n, _ in files] == list(range(0, 1000 * len(files), 1000)), "file set"

    seen, candidates, total, duplicates = set(), [], 0, 0
    for _, entries in files:
        for entry in entries:
            total += 1
            found = regular_body(entry["paragraphs"])
            if found is None:
                continue
            if found[0] in seen:
                duplicates += 1
                continue
            seen.add(found[0])
            candidates.append(found)
    poems, counts, size, repunctuated = [], {form: 0 for form in FORMS.values()}, 0, 0
    for body, form, changed in candidates:
        cost = len(body.encode("utf-8")) + 1
        if size + cost > CAP_BYTES:
            break
        size += cost
        poems.append(body)
        counts[form] += 1
        repunctuated += changed
    text = "".join(p + "\n" for p in poems)
    payload = text.encode("utf-8")
    assert len(payload) == size <= CAP_BYTES
    os.makedirs(dst, exist_ok=True)
    out = os.path.join(dst, "tang-poems.txt.gz")
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(payload)
    with open(out, "wb") as f:
        f.write(raw.getvalue())
    print(f"read {total} entries: {len(candidates)} distinct regular poems ({duplicates} duplicates)")
    print(f"kept {len(poems)} poems ({repunctuated} re-punctuated): "
          + ", ".join(f"{form} {n}" for form, n in counts.items()))
    print(f"wrote {out}: {len(text)} characters ({len(payload)} bytes UTF-8), "
          f"{len(set(text))} distinct characters, {len(raw.getvalue())} bytes gzipped")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
