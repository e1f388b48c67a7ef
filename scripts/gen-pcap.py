#!/usr/bin/env python3
"""Writes a synthetic classic pcap (Ethernet/IPv4, µs timestamps, snap length 96) for the
metering benchmark: N packets over F concurrent bidirectional TCP and UDP conversations
(TCP with SYN, SYN-ACK, data and FIN both ways), 10 ms apart per flow, sizes 60-1500 bytes.

    python3 scripts/gen-pcap.py OUT.pcap [N [F]]
"""
import random
import struct
import sys

out, n, nflows = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000, int(sys.argv[3]) if len(sys.argv) > 3 else 50_000
rng = random.Random(7)
SNAP = 96


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def frame(src, dst, sport, dport, proto, flags, wire):
    ip_len = wire - 14
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, proto, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 0x50, flags, 65535, 0, 0)
    else:
        l4 = struct.pack("!HHHH", sport, dport, ip_len - 20, 0)
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    body = eth + ip + l4
    return (body + b"\x00" * SNAP)[:SNAP]


flows = []
for i in range(nflows):
    c = bytes([10, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])
    s = bytes([192, 0, 2, rng.randrange(1, 255)]) if i % 3 else bytes([198, 51, 100, rng.randrange(1, 255)])
    proto = 6 if i % 4 else 17
    flows.append([c, s, 1024 + rng.randrange(60000), rng.choice([22, 53, 80, 443, 3389, 8080]), proto, 0])

with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAP, 1))
    t = 1_764_216_000_000_000
    for k in range(n):
        fl = flows[k % nflows]
        c, s, cp, sp, proto, step = fl
        fl[5] += 1
        if proto == 6:
            flags, fwd = [(0x02, True), (0x12, False), (0x10, True)][step] if step < 3 else ((0x18, step % 2 == 1) if step < 38 else (0x11, step % 2 == 0))
            if step >= 40:
                fl[5] = 0
        else:
            flags, fwd = 0, step % 2 == 0
        wire = 60 if flags & 0x07 else rng.randrange(60, 1500)
        pkt = frame(c, s, cp, sp, proto, flags, wire) if fwd else frame(s, c, sp, cp, proto, flags, wire)
        t += 200  # µs between packets overall
        f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(pkt), wire))
        f.write(pkt)
