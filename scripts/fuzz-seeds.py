#!/usr/bin/env python3
"""Seeds fuzz/corpus/{netflow,sflow,pcap} with hand-built packets and BSD-licensed tcpdump
test captures (../shared/testdata/pcap/tcpdump, the-tcpdump-group/tcpdump, BSD-3-Clause).
No copyleft data: the Akvorado/pmacct/nDPI captures are not used as seeds."""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TCPDUMP = os.path.join(ROOT, "..", "..", "shared", "testdata", "pcap", "tcpdump", "tests")
if not os.path.isdir(TCPDUMP):
    TCPDUMP = "/work/shared/testdata/pcap/tcpdump/tests"


def out(target, name, data):
    d = os.path.join(ROOT, "fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def chunks(*packets, exporter=0):
    return b"".join(struct.pack(">H", len(p) | (exporter << 15)) + p for p in packets)


def v9(sets, secs=1700000000, uptime=100000, seq=1, src=0):
    body = b"".join(struct.pack(">HH", sid, len(b) + 4) + b for sid, b in sets)
    return struct.pack(">HHIIII", 9, len(sets), uptime, secs, seq, src) + body


def ipfix(sets, secs=1700000000, seq=1, dom=1):
    body = b"".join(struct.pack(">HH", sid, len(b) + 4) + b for sid, b in sets)
    return struct.pack(">HHIII", 10, 16 + len(body), secs, seq, dom) + body


def tmpl(tid, fields, ipfix_=False):
    b = struct.pack(">HH", tid, len(fields))
    for f in fields:
        ie, ln = f[0], f[1]
        if len(f) > 2:
            b += struct.pack(">HHI", ie | 0x8000, ln, f[2])
        else:
            b += struct.pack(">HH", ie, ln)
    return b


V9_FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (1, 4), (2, 4), (22, 4), (21, 4), (10, 2), (14, 2), (48, 1)]
rec = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack(">HHBBIIIIHHB", 1234, 443, 6, 0x12, 1500, 3, 90000, 99000, 1, 2, 1)
opt_tmpl = struct.pack(">HHH", 257, 4, 8) + struct.pack(">HHHHHH", 1, 4, 48, 1, 34, 4) + b"\0\0"
opt_data = struct.pack(">IBI", 0, 1, 100) + b"\0\0\0"
out("netflow", "v9-options-template-data", chunks(v9([(1, opt_tmpl), (257, opt_data), (0, tmpl(256, V9_FIELDS)), (256, rec + rec)])))
out("netflow", "v9-data-before-template", chunks(v9([(256, rec), (0, tmpl(256, V9_FIELDS))]), v9([(256, rec)], seq=2)))
out("netflow", "v9-template-zero-fields", chunks(v9([(0, struct.pack(">HH", 256, 0))])))

IPFIX_FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8), (1, 8, 29305), (2, 8, 29305), (152, 8), (153, 8), (82, 0xFFFF), (100, 2, 9)]
irec = bytes([192, 0, 2, 1, 198, 51, 100, 7]) + struct.pack(">HHBQQQQQQ", 5353, 53, 17, 100, 1, 300, 2, 1700000000000, 1700000001000)
irec += bytes([3]) + b"eth" + b"\0\1"
long_rec = irec[:-6] + bytes([255]) + struct.pack(">H", 300) + b"x" * 300 + b"\0\1"
out("netflow", "ipfix-biflow-varlen", chunks(ipfix([(2, tmpl(300, IPFIX_FIELDS)), (300, irec + long_rec)])))
out("netflow", "ipfix-withdraw", chunks(ipfix([(2, tmpl(300, IPFIX_FIELDS))]), ipfix([(2, struct.pack(">HH", 300, 0)), (300, irec)])))
sel_tmpl = struct.pack(">HHH", 400, 3, 1) + struct.pack(">HHHHHH", 302, 4, 305, 4, 306, 4)
out("netflow", "ipfix-options-selector", chunks(ipfix([(3, sel_tmpl), (400, struct.pack(">III", 7, 1, 999))]), exporter=1))

# NetFlow v5 and sFlow datagrams from tcpdump's sflow_multiple_counter_30_pdus.pcap.
def udp_payloads(path):
    data = open(path, "rb").read()
    at = 24
    while at + 16 <= len(data):
        incl = struct.unpack("<I", data[at + 8:at + 12])[0]
        frame = data[at + 16:at + 16 + incl]
        at += 16 + incl
        ihl = (frame[14] & 15) * 4
        yield frame[14 + ihl + 8:]

n_v5 = n_sflow = 0
for p in udp_payloads(os.path.join(TCPDUMP, "sflow_multiple_counter_30_pdus.pcap")):
    if p[:2] == b"\0\x05":
        n_v5 += 1
        out("netflow", f"tcpdump-v5-{n_v5}", chunks(p))
    elif n_sflow < 8:
        n_sflow += 1
        out("sflow", f"tcpdump-counters-{n_sflow}", p)

# A hand-built sFlow flow sample with a raw Ethernet/IPv4/UDP VXLAN header.
inner = bytes(12) + b"\x08\x00" + bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack(">HHHH", 53, 53, 8, 0)
vx = b"\x08\0\0\0" + struct.pack(">I", 42 << 8) + inner
udp = struct.pack(">HHHH", 12345, 4789, 8 + len(vx), 0) + vx
ip = bytes([0x45, 0, 0, 20 + len(udp) >> 8 & 0, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2])
ip = ip[:2] + struct.pack(">H", 20 + len(udp)) + ip[4:] + udp
frame = bytes(12) + b"\x08\x00" + ip
hdr = struct.pack(">IIII", 1, 1500, 4, len(frame)) + frame + bytes(-len(frame) % 4)
rec_hdr = struct.pack(">II", 1, len(hdr)) + hdr
switch = struct.pack(">IIIIII", 1001, 16, 100, 0, 200, 0)
sample = struct.pack(">IIIIIIII", 1, 5, 1000, 0, 0, 3, 4, 2) + rec_hdr + switch
dgram = struct.pack(">IIIIIII", 5, 1, 0xC0000201, 0, 1, 1000, 1) + struct.pack(">II", 1, len(sample)) + sample
out("sflow", "flow-sample-vxlan", dgram)

for name in ["dns_udp.pcap", "dns_tcp.pcap", "tcp-handshake-nano.pcap", "ipv4_tcp_http_xml.pcap", "RADIUS.pcap"]:
    out("pcap", "tcpdump-" + name, open(os.path.join(TCPDUMP, name), "rb").read())


def block(t, body):
    body += bytes(-len(body) % 4)
    return struct.pack("<II", t, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

ng = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
ng += block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0))
ng += block(6, struct.pack("<IIIII", 0, 0, 1000, len(frame), len(frame)) + frame)
ng += block(3, struct.pack("<I", len(frame)) + frame)
out("pcap", "pcapng-epb-spb", ng)
