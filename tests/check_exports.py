#!/usr/bin/env python3
"""The shared library exports exactly the public API.

  check_exports.py LIBPEERFLOW_SO INCLUDE_DIR [CLI_BINARY]

1. `nm -D --defined-only` on the library lists only functions declared in
   INCLUDE_DIR/peerflow/*.h (no internal symbol, no data).
2. Every function those headers declare is exported (a declaration without
   a definition, or one left hidden, is a broken API).
3. With CLI_BINARY: the CLI defines none of the engine's public functions
   itself (client, session, control, metainfo): it uses the library's.
Exit 0 when all hold; one line per problem otherwise."""
import os
import re
import subprocess
import sys

OPTIONAL = set()  # headers whose functions may stay unexported (none now)
ENGINE = {"client.h", "session.h", "metainfo.h"}


def strip_c(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^\s*#.*?(?<!\\)$", " ", text, flags=re.M | re.S)  # directives
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    return text


def skip_block(text, i):
    """i at a '{': index after its matching '}'."""
    depth = 0
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def declared_functions(path):
    """Names of the functions a header declares (not inline ones, not
    function-pointer typedefs or struct members)."""
    text = strip_c(open(path, encoding="utf-8").read())
    text = text.replace('extern ""', " ")  # extern "C" {
    out, stmt, i = set(), [], 0
    while i < len(text):
        c = text[i]
        if c == "{":
            head = "".join(stmt)
            if re.search(r"\)\s*$", head):  # a function body: inline, not exported
                stmt = []
            elif re.search(r"^\s*$", head):  # extern "C" { ... }
                i += 1
                continue
            else:  # struct/enum/union body: part of the statement, skipped
                stmt.append(" {} ")
            i = skip_block(text, i)
            continue
        if c == "}":  # end of extern "C"
            i += 1
            continue
        if c == ";":
            s = "".join(stmt)
            stmt = []
            if not re.match(r"\s*typedef\b", s):
                m = re.search(r"\b(pf_\w+)\s*\(", s)
                if m:
                    out.add(m.group(1))
            i += 1
            continue
        stmt.append(c)
        i += 1
    return out


def nm_defined(path, dynamic):
    args = ["nm", "--defined-only"] + (["-D"] if dynamic else []) + [path]
    res = subprocess.run(args, check=True, capture_output=True, text=True)
    syms = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = parts[1]
    return syms


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    lib, inc = sys.argv[1], sys.argv[2]
    cli = sys.argv[3] if len(sys.argv) > 3 else None
    hdir = os.path.join(inc, "peerflow")
    by_header = {}
    for name in sorted(os.listdir(hdir)):
        if name.endswith(".h"):
            by_header[name] = declared_functions(os.path.join(hdir, name))
    declared = set().union(*by_header.values())
    required = set().union(*(v for k, v in by_header.items() if k not in OPTIONAL))
    exported = nm_defined(lib, True)
    problems = []
    for sym, kind in sorted(exported.items()):
        if sym in declared:
            if kind not in "TW":
                problems.append(f"{sym}: exported as '{kind}', not a function")
        elif not sym.startswith(("_init", "_fini")) and kind not in "AU":
            problems.append(f"{sym}: exported ({kind}) but declared in no include/peerflow/*.h")
    for sym in sorted(required - set(exported)):
        problems.append(f"{sym}: declared in include/peerflow/ but not exported by {os.path.basename(lib)}")
    for name in sorted(OPTIONAL & set(by_header)):
        missing = by_header[name] - set(exported)
        if missing:
            print(f"note: {name}: {len(missing)} functions not exported yet")
    if cli:
        engine = set().union(*(v for k, v in by_header.items() if k in ENGINE))
        own = nm_defined(cli, False)
        for sym in sorted(engine & {s for s, k in own.items() if k in "Tt"}):
            problems.append(f"{sym}: defined in the CLI binary itself (it must come from the library)")
    for p in problems:
        print(p)
    print(f"check_exports: {len(exported)} exported, {len(declared)} declared "
          f"in {len(by_header)} headers, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
