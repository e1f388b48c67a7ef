#!/usr/bin/env python3
"""Writes a NetFlow v9 export stream for the UDP benchmark: a template (id 256: bytes,
packets, protocol, ports, IPv4 addresses, first/last switched), then N data packets of 24
records each. The file holds the datagrams, each prefixed by its 16-bit length.

    python3 scripts/gen-netflow.py OUT [N]
"""
import random
import struct
import sys

out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
rng = random.Random(11)
FIELDS = [(1, 4), (2, 4), (4, 1), (7, 2), (8, 4), (11, 2), (12, 4), (21, 4), (22, 4)]
RECORDS = 24
unix = 1_764_216_000


def header(count, seq):
    return struct.pack("!HHIIII", 9, count, 3_600_000, unix + seq // 1000, seq, 1)


def template():
    body = struct.pack("!HH", 256, len(FIELDS)) + b"".join(struct.pack("!HH", t, l) for t, l in FIELDS)
    fs = struct.pack("!HH", 0, 4 + len(body)) + body
    return header(1, 0) + fs


with open(out, "wb") as f:
    t = template()
    f.write(struct.pack("!H", len(t)) + t)
    for seq in range(1, n + 1):
        recs = b""
        for _ in range(RECORDS):
            recs += struct.pack(
                "!IIBHIHIII",
                rng.randrange(40, 1_500_000), rng.randrange(1, 1000), rng.choice([6, 17]),
                rng.randrange(1024, 65535), 0x0A000000 | rng.randrange(1 << 24),
                rng.choice([22, 53, 80, 443]), 0xC0000200 | rng.randrange(256),
                3_599_000, 3_590_000)
        pad = (4 - (4 + len(recs)) % 4) % 4
        fs = struct.pack("!HH", 256, 4 + len(recs) + pad) + recs + b"\0" * pad
        p = header(RECORDS, seq) + fs
        f.write(struct.pack("!H", len(p)) + p)
