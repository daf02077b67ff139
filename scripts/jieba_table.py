#!/usr/bin/env python3
"""Write src/frontend/zh/jieba_dict.txt, the Mandarin segmenter's dictionary, from jieba-rs's.

The segmenter (src/frontend/zh/segment.rs) cuts text exactly as jieba-rs 0.8.1's
`Jieba::new().cut(text, false)` does, but reads its dictionary where it lies in the binary:
lines `word freq`, sorted by the word's UTF-8 bytes, one per word, after a first line `total N`.
Building jieba-rs's own dictionary (inflating it, then ~350,000 trie inserts) was the largest
part of the Mandarin voice's start. This script makes that table from jieba-rs's bundled
`src/data/dict.txt` (found with `cargo metadata`), merging repeated words as jieba-rs's
`load_dict` does (the last frequency wins, the total is the sum over words).

    scripts/jieba_table.py           # write the table
    scripts/jieba_table.py --check   # fail unless the committed table is what it would write
"""
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TABLE = ROOT / "src/frontend/zh/jieba_dict.txt"
VERSION = "0.8.1"


def source() -> pathlib.Path:
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    for package in meta["packages"]:
        if package["name"] == "jieba-rs":
            if package["version"] != VERSION:
                sys.exit(f"jieba_table.py: jieba-rs is {package['version']}, the table is {VERSION}'s")
            return pathlib.Path(package["manifest_path"]).parent / "src/data/dict.txt"
    sys.exit("jieba_table.py: jieba-rs is not in Cargo.lock")


def table(text: str) -> bytes:
    line = re.compile(r"^(\S+) (\d+)(?: \S+)?$")
    freqs: dict[str, int] = {}
    for n, row in enumerate(text.split("\n"), 1):
        if not row:
            continue
        m = line.match(row)
        # Only plain rows, which jieba-rs's split_whitespace reads the same way.
        if not m:
            sys.exit(f"jieba_table.py: line {n} is not `word freq [tag]`: {row!r}")
        freqs[m.group(1)] = int(m.group(2))
    words = sorted(freqs, key=lambda w: w.encode())
    out = [f"total {sum(freqs.values())}"] + [f"{w} {freqs[w]}" for w in words]
    return ("\n".join(out) + "\n").encode()


def main() -> None:
    made = table(source().read_text(encoding="utf-8"))
    if sys.argv[1:] == ["--check"]:
        if not TABLE.exists() or TABLE.read_bytes() != made:
            sys.exit(f"jieba_table.py: {TABLE.relative_to(ROOT)} is not jieba-rs {VERSION}'s dictionary; run scripts/jieba_table.py")
        print(f"jieba_table.py: {TABLE.relative_to(ROOT)} is jieba-rs {VERSION}'s dictionary")
    elif sys.argv[1:]:
        sys.exit(__doc__)
    else:
        TABLE.write_bytes(made)
        print(f"jieba_table.py: wrote {TABLE.relative_to(ROOT)} ({len(made)} bytes)")


if __name__ == "__main__":
    main()
