#!/usr/bin/env python3
"""No function of the project's C sources runs over LIMIT lines (issue 14:
a function past ~150 lines is a sign to split it into named phases).

  check_function_length.py DIR... [--limit N]

A function is a definition whose body opens with "{" at the start of a
line and closes with "}" at the start of a line (the house's clang-format
style); its length is the lines between them."""
import os
import re
import sys

HEAD = re.compile(r'^[A-Za-z_][^;{}]*\)\s*$')


def check(path, limit, bad):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    name, start = None, None
    for i, line in enumerate(lines):
        if start is None:
            if line == "{" and i > 0:
                # the signature: the last line before "{" that starts at column 0
                k = i - 1
                while k > 0 and not re.match(r'^[A-Za-z_]', lines[k]):
                    k -= 1
                name, start = lines[k].strip(), i
        elif line.startswith("}"):
            n = i - start - 1
            if n > limit:
                bad.append((n, path, name))
            name, start = None, None


def main(argv):
    limit = 150
    dirs = []
    it = iter(argv)
    for a in it:
        if a == "--limit":
            limit = int(next(it))
        else:
            dirs.append(a)
    bad = []
    nfiles = 0
    for d in dirs:
        for root, _, files in os.walk(d):
            for fn in sorted(files):
                if fn.endswith(".c"):
                    nfiles += 1
                    check(os.path.join(root, fn), limit, bad)
    for n, path, name in sorted(bad, reverse=True):
        print(f"{path}: {name} is {n} lines (limit {limit})")
    print(f"check_function_length: {nfiles} files, {len(bad)} function(s) over {limit} lines")
    return 1 if bad or nfiles == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
