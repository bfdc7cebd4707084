#!/usr/bin/env python3
"""The CLI is an application of the library: src/cli includes only the
public headers (peerflow/*.h) and its own (cli/*.h), never "core/..." or
"net/...".  So is the simulator the CLI links (src/sim: sim/*.h).

  check_cli_includes.py SRC_DIR

PENDING lists the includes that wait for public headers another change
brings (include/peerflow/tracker.h and media_server.h); delete an entry
when its file switches.  An entry that is no longer needed fails too, so
the list only shrinks."""
import os
import re
import sys

PENDING = set()
# The simulator runs the tracker's sans-I/O core (docs/SIM.md "The
# tracker"): the library exports no sans-I/O tracker, so src/sim/node.c
# takes these from the static core.
ALLOWED = {("node.c", "core/codec/http_parse.h"), ("node.c", "core/tracker/alto.h"),
           ("node.c", "core/tracker/tracker.h"), ("node.c", "core/util/buf.h")}
INCLUDE = re.compile(r'^\s*#\s*include\s*"((?:core|net)/[^"]+)"', re.M)


def main(src):
    found, bad = set(), []
    for sub in ("cli", "sim"):
        d = os.path.join(src, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                for m in INCLUDE.finditer(f.read()):
                    key = (name, m.group(1))
                    found.add(key)
                    if key not in PENDING and not (sub == "sim" and key in ALLOWED):
                        bad.append(f"src/{sub}/{name}: #include \"{m.group(1)}\" (internal header)")
    for name, inc in sorted(PENDING - found):
        bad.append(f"src/cli/{name} no longer includes \"{inc}\": remove it from PENDING")
    for b in bad:
        print(b)
    print(f"check_cli_includes: {len(found)} internal includes, {len(found & PENDING)} pending "
          f"public headers, {len(bad)} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "src"))
