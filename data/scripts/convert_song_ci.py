#!/usr/bin/env python3
"""Build the embedded `song-ci` corpus from the npm package `chinese-poetry@2.0.1`.

Usage:
    npm pack chinese-poetry@2.0.1
    python3 data/scripts/convert_song_ci.py chinese-poetry-2.0.1.tgz data/song-ci

Reads the Complete Song Ci (全宋詞), `package/dist/songci/ci.song.<N>.json` (N = 0, 1000, ...,
21000: 22 files of up to 1,000 entries {"author", "rhythmic", "paragraphs"}; the supplement
`ci.song.2019y.json` and the anthology `宋词三百首.json` are not read), straight from the .tgz,
in file order (N ascending, numerically) and entry order. `rhythmic` is the tune title (词牌).

Kept: a ci whose tune title is 1 to 6 CJK ideographs and not 失调名 ("tune lost"), and whose
body (the paragraphs joined) is runs of CJK ideographs each followed by one mark. The marks become
the two of the corpus: "，" for a pause ("，", "、", "；", "：") and "。" for a stop ("。", "？",
"！"). A ci with any other character (□ for lost characters, 《》「」（）, notes, ASCII, ...) is
dropped, and so are exact duplicates (title and body; the first one stays). The script is the
source's, simplified characters, kept as it is (as tang-poems keeps its traditional one). Ci are
taken in order until the next one would pass 1,500,000 bytes of UTF-8 (newlines included) and
written one per line, title, "：", body, e.g.

    如梦令：常记溪亭日暮，沉醉不知归路。兴尽晚回舟，误入藕花深处。争渡，争渡，惊起一滩鸥鹭。

to `song-ci.txt.gz`. Standard library only; the output is reproducible byte for byte (gzip
mtime 0).
"""
import collections
import gzip
import io
import json
import os
import re
import sys
import tarfile
import unicodedata

CAP_BYTES = 1_500_000
SOURCE = re.compile(r"^package/dist/songci/ci\.song\.(\d+)\.json$")
PAUSE, STOP = "，、；：", "。？！"


def is_cjk(c):
    name = unicodedata.name(c, "")
    return name.startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))


def body_of(paragraphs):
    """The ci's lines with their marks mapped to "，" and "。"; or None."""
    out, run = [], 0
    for c in "".join(paragraphs):
        if c in PAUSE or c in STOP:
            if run == 0:
                return None  # two marks in a row, or a leading mark
            out.append("，" if c in PAUSE else "。")
            run = 0
        elif is_cjk(c):
            out.append(c)
            run += 1
        else:
            return None
    if run or not out:
        return None  # the last line has no mark
    return "".join(out)


def main(tgz, dst):
    files = []
    with tarfile.open(tgz, "r:gz") as tar:
        for member in tar.getmembers():
            m = SOURCE.match(member.name)
            if m and member.isfile():
                files.append((int(m.group(1)), json.loads(tar.extractfile(member).read())))
    files.sort(key=lambda f: f[0])
    assert files and [n for n, _ in files] == list(range(0, 1000 * len(files), 1000)), "file set"

    seen, lines, size, total, dropped = set(), [], 0, 0, collections.Counter()
    tunes = collections.Counter()
    for _, entries in files:
        for entry in entries:
            total += 1
            title = (entry.get("rhythmic") or "").strip()
            if not (1 <= len(title) <= 6 and all(is_cjk(c) for c in title)) or title == "失调名":
                dropped["title"] += 1
                continue
            body = body_of(entry.get("paragraphs") or [])
            if body is None:
                dropped["body"] += 1
                continue
            line = f"{title}：{body}"
            if line in seen:
                dropped["duplicate"] += 1
                continue
            cost = len(line.encode("utf-8")) + 1
            if size + cost > CAP_BYTES:
                break
            seen.add(line)
            size += cost
            lines.append(line)
            tunes[title] += 1
        else:
            continue
        break
    text = "".join(l + "\n" for l in lines)
    payload = text.encode("utf-8")
    assert len(payload) == size <= CAP_BYTES
    os.makedirs(dst, exist_ok=True)
    out = os.path.join(dst, "song-ci.txt.gz")
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(payload)
    with open(out, "wb") as f:
        f.write(raw.getvalue())
    print(f"read {total} entries; dropped {dict(dropped)}")
    print(f"kept {len(lines)} ci of {len(tunes)} tunes; most common: "
          + ", ".join(f"{t} {n}" for t, n in tunes.most_common(10)))
    print(f"wrote {out}: {len(text)} characters ({len(payload)} bytes UTF-8), "
          f"{len(set(text))} distinct characters, {len(raw.getvalue())} bytes gzipped")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
