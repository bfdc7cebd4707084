#!/usr/bin/python3
"""Turns peer_capture.py streams into corpus files for the wire, session
and extension targets.  See docs/FUZZING.md.

  to_corpus.py NAME STREAM --session-flags F[,F...] [--corpus fuzz/corpus]

writes
  wire/NAME                the stream as captured (handshake + messages)
  wire/NAME-nopiece        the same without PIECE messages (small)
  session/NAME-fF          [F, seed, 0] + stream, for each F (fuzz_session's
                           input: flags, PRNG seed, HTTP tail length)
  extension/NAME           each extended message of at most 254 bytes as a
                           fuzz_extension "op 0" record, after a flags byte
                           (magnet, harness extension handshake)
"""
import argparse
import os


def messages(b):
    i = 68
    while i + 4 <= len(b):
        n = int.from_bytes(b[i:i + 4], 'big')
        if i + 4 + n > len(b):
            break
        yield b[i:i + 4 + n]
        i += 4 + n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('name')
    ap.add_argument('stream')
    ap.add_argument('--session-flags', default='0')
    ap.add_argument('--corpus', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'corpus'))
    a = ap.parse_args()
    b = open(a.stream, 'rb').read()
    if len(b) < 68 or b[:20] != b'\x13BitTorrent protocol':
        raise SystemExit('%s: not a plaintext BitTorrent stream' % a.stream)

    def put(target, name, data):
        d = os.path.join(a.corpus, target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)
        print('%s/%s: %d bytes' % (target, name, len(data)))

    put('wire', a.name, b)
    nopiece = b[:68] + b''.join(m for m in messages(b) if len(m) < 5 or m[4] != 7)
    if nopiece != b:
        put('wire', a.name + '-nopiece', nopiece)
    for k, f in enumerate(int(x, 0) for x in a.session_flags.split(',')):
        put('session', '%s-f%d' % (a.name, f), bytes([f, 17 + k, 0]) + b)
    ops = bytearray([3])  # magnet, harness extension handshake
    for m in messages(b):
        if len(m) >= 6 and m[4] == 20 and len(m) - 5 <= 255:
            ops += bytes([0, len(m) - 5]) + m[5:]
            ops += bytes([6, 1, 2])  # two clock steps in between
    if len(ops) > 1:
        put('extension', a.name, bytes(ops))


if __name__ == '__main__':
    main()
