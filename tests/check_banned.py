#!/usr/bin/env python3
"""Banned-functions check (as curl's checksrc): fails when a C source under
the given directories calls an unsafe string or conversion function.

  check_banned.py DIR...      (ctest runs it on src/ and examples/)

Comments and string literals are blanked first, so a function named in a
comment or a message does not count.  Use snprintf, memcpy with an explicit
length, strtol/strtoul with an end pointer, strtok_r's callers: a hand
loop.  Exit 0 when clean, 1 with one line per call site otherwise."""
import os
import re
import sys

BANNED = [
    "gets", "strcpy", "strcat", "strncpy", "strncat", "sprintf", "vsprintf",
    "strtok", "atoi", "atol", "atoll", "atof", "tmpnam", "tempnam", "mktemp",
]
CALL = re.compile(r"\b(" + "|".join(BANNED) + r")\s*\(")


def blank(text):
    """Comments and string/char literals replaced by spaces (lines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def main(dirs):
    bad = 0
    files = 0
    for d in dirs:
        for root, _, names in os.walk(d):
            for name in sorted(names):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(root, name)
                files += 1
                with open(path, encoding="utf-8", errors="replace") as f:
                    code = blank(f.read())
                for no, line in enumerate(code.split("\n"), 1):
                    for m in CALL.finditer(line):
                        print(f"{path}:{no}: banned function {m.group(1)}()")
                        bad += 1
    if files == 0:
        print("check_banned: no C sources found in " + " ".join(dirs))
        return 1
    print(f"check_banned: {files} files, {bad} banned call(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["src"]))
