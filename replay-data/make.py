#!/usr/bin/env python3
"""Writes the replay fixtures in this folder. They are ncsoc's own synthetic traffic (no
third-party data), deterministic, and small enough to commit:

- energy-scan.pcap      raw packets (Ethernet/IPv4): office traffic to web servers, then
                        203.0.113.77 sweeps 10.1.0.0/24 on 445/tcp (SYN, RST back);
- finance-netflow.pcap  NetFlow v9 export packets from a router: background flows, then
                        the same 203.0.113.77 sweeping 10.2.0.0/24 on 445 (SYN-only flows);
- health-auth.ndjson    Elastic ECS authentication events: 203.0.113.77 failing SSH logins
                        against 10.3.0.22;
- transport-dns.ndjson  Zeek dns.log (JSON): 10.4.0.66 tunnelling through long random
                        names under t.tunnel-example.net, among ordinary lookups.

The expected incidents are in expected.jsonl (see README.md).

    python3 replay-data/make.py
"""
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1_772_445_600  # 2026-03-02T10:00:00Z
ATTACKER = bytes([203, 0, 113, 77])


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def frame(src, dst, sport, dport, proto, payload=b"", flags=0):
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 0x50, flags, 65535, 0, 0) + payload
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return eth + ip + l4


class Pcap:
    def __init__(self, path):
        self.packets = []
        self.path = path

    def add(self, t, data):
        self.packets.append((t, data))

    def write(self):
        self.packets.sort(key=lambda p: p[0])
        with open(self.path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for t, data in self.packets:
                sec = int(t)
                usec = int(round((t - sec) * 1e6))
                f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
                f.write(data)


SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


def conversation(pcap, t, client, server, sport, dport, nbytes):
    pcap.add(t, frame(client, server, sport, dport, 6, flags=SYN))
    pcap.add(t + 0.01, frame(server, client, dport, sport, 6, flags=SYN | ACK))
    pcap.add(t + 0.02, frame(client, server, sport, dport, 6, flags=ACK))
    pcap.add(t + 0.03, frame(client, server, sport, dport, 6, b"x" * 200, flags=PSH | ACK))
    pcap.add(t + 0.05, frame(server, client, dport, sport, 6, b"y" * nbytes, flags=PSH | ACK))
    pcap.add(t + 0.07, frame(client, server, sport, dport, 6, flags=FIN | ACK))
    pcap.add(t + 0.08, frame(server, client, dport, sport, 6, flags=FIN | ACK))
    pcap.add(t + 0.09, frame(client, server, sport, dport, 6, flags=ACK))


def energy_scan(rng):
    p = Pcap(os.path.join(HERE, "energy-scan.pcap"))
    for i in range(300):
        t = T0 + rng.uniform(0, 900)
        client = ip4("10.1.0.%d" % rng.randrange(10, 60))
        server = ip4("198.51.100.%d" % rng.randrange(1, 20))
        conversation(p, t, client, server, rng.randrange(32768, 60000), 443, rng.randrange(300, 1400))
    for i in range(1, 81):
        t = T0 + 300 + i * 0.25
        victim = ip4("10.1.0.%d" % i)
        p.add(t, frame(ATTACKER, victim, 51000 + i, 445, 6, flags=SYN))
        p.add(t + 0.001, frame(victim, ATTACKER, 445, 51000 + i, 6, flags=RST | ACK))
    p.write()


FIELDS = [(1, 4), (2, 4), (4, 1), (6, 1), (7, 2), (8, 4), (11, 2), (12, 4), (21, 4), (22, 4)]


def finance_netflow(rng):
    p = Pcap(os.path.join(HERE, "finance-netflow.pcap"))
    exporter, collector = ip4("192.0.2.1"), ip4("192.0.2.100")
    boot = T0 - 86_400  # router up for a day
    flows = []
    for i in range(400):
        t = T0 + rng.uniform(0, 1800)
        flows.append((t, rng.randrange(2000, 900_000), rng.randrange(6, 700), 6, SYN | ACK | PSH | FIN,
                      rng.randrange(32768, 60000), ip4("10.2.0.%d" % rng.randrange(10, 60)), 443,
                      ip4("198.51.100.%d" % rng.randrange(1, 20))))
    for i in range(1, 61):
        t = T0 + 1200 + i * 0.5
        flows.append((t, 44, 1, 6, SYN, 52000 + i, ATTACKER, 445, ip4("10.2.0.%d" % i)))
    flows.sort(key=lambda f: f[0])
    seq = 0
    tmpl = struct.pack("!HH", 256, len(FIELDS)) + b"".join(struct.pack("!HH", t, l) for t, l in FIELDS)
    for chunk in range(0, len(flows), 20):
        batch = flows[chunk:chunk + 20]
        export_t = batch[-1][0] + 1
        uptime = int((export_t - boot) * 1000)
        recs = b""
        for (t, nbytes, pkts, proto, flags, sport, src, dport, dst) in batch:
            last = int((t - boot) * 1000)
            first = last - 50
            recs += struct.pack("!IIBBH4sH4sII", nbytes, pkts, proto, flags, sport, src, dport, dst, last, first)
        pad = (4 - (4 + len(recs)) % 4) % 4
        sets = b""
        count = len(batch)
        if chunk % 200 == 0:  # the template again now and then, as routers do
            sets += struct.pack("!HH", 0, 4 + len(tmpl)) + tmpl
            count += 1
        sets += struct.pack("!HH", 256, 4 + len(recs) + pad) + recs + b"\0" * pad
        seq += 1
        body = struct.pack("!HHIIII", 9, count, uptime, int(export_t), seq, 1) + sets
        p.add(export_t, frame(exporter, collector, 40000, 2055, 17, body))
    p.write()


def iso(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def health_auth(rng):
    lines = []
    for i in range(20):  # ordinary logins
        t = T0 + rng.uniform(0, 3600)
        lines.append((t, {"@timestamp": iso(t), "ecs": {"version": "8.11.0"}, "event": {"category": ["authentication"], "outcome": "success", "action": "ssh_login"},
                          "source": {"ip": "10.3.0.%d" % rng.randrange(10, 60)}, "destination": {"ip": "10.3.0.22", "port": 22},
                          "user": {"name": "admin%d" % rng.randrange(1, 4)}, "host": {"name": "jump-01"}}))
    for i in range(36):
        t = T0 + 2400 + i * 1.5
        lines.append((t, {"@timestamp": iso(t), "ecs": {"version": "8.11.0"}, "event": {"category": ["authentication"], "outcome": "failure", "action": "ssh_login"},
                          "source": {"ip": "203.0.113.77", "port": 40000 + i}, "destination": {"ip": "10.3.0.22", "port": 22},
                          "user": {"name": rng.choice(["root", "admin", "oracle", "test"])}, "host": {"name": "jump-01"}}))
    lines.sort(key=lambda x: x[0])
    with open(os.path.join(HERE, "health-auth.ndjson"), "w") as f:
        for _, d in lines:
            f.write(json.dumps(d, separators=(",", ":")) + "\n")


def transport_dns(rng):
    lines = []
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    for i in range(400):
        t = T0 + rng.uniform(0, 3600)
        lines.append((t, {"ts": t, "uid": "C%08x" % rng.getrandbits(32), "id.orig_h": "10.4.0.%d" % rng.randrange(10, 60),
                          "id.orig_p": rng.randrange(1024, 65535), "id.resp_h": "10.4.0.53", "id.resp_p": 53, "proto": "udp",
                          "query": rng.choice(["www.example.org", "mail.example.org", "updates.example.com", "intranet.transport.example"]),
                          "qtype_name": "A", "rcode_name": "NOERROR"}))
    for i in range(150):
        t = T0 + 3000 + i * 0.4
        label = "".join(rng.choice(alphabet) for _ in range(52))
        lines.append((t, {"ts": t, "uid": "C%08x" % rng.getrandbits(32), "id.orig_h": "10.4.0.66",
                          "id.orig_p": rng.randrange(1024, 65535), "id.resp_h": "10.4.0.53", "id.resp_p": 53, "proto": "udp",
                          "query": "%s.%d.t.tunnel-example.net" % (label, i), "qtype_name": "TXT", "rcode_name": "NOERROR"}))
    lines.sort(key=lambda x: x[0])
    with open(os.path.join(HERE, "transport-dns.ndjson"), "w") as f:
        for _, d in lines:
            d["ts"] = round(d["ts"], 6)
            f.write(json.dumps(dict(d, _path="dns"), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    energy_scan(random.Random(1))
    finance_netflow(random.Random(2))
    health_auth(random.Random(3))
    transport_dns(random.Random(4))
