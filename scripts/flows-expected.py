#!/usr/bin/env python3
"""Derives the expected flow records of parsers/tests/flows_conformance.rs from tshark.

For each case (a sequence of pcaps from ../shared/testdata/flows, replayed in order), the
files are concatenated with `mergecap -a` so tshark keeps template state across them, then
`tshark -T json` is walked: every NetFlow/IPFIX data record with addresses and every sFlow
flow sample gives one line `src dst sport dport proto bytes packets rate`. RFC 5103
biflow records give a second, reversed line when their reverse counts are non-zero. The
NetFlow rate is the v5 header's, else the interval tshark shows in options data for the
record's sampler id, else the options data without sampler id, else 1.
Counter samples give `counter ifindex in_octets out_octets`.

Usage: scripts/flows-expected.py > /tmp/expected.txt   (prints Rust const data)
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "testdata", "flows")

CASES = [
    ("nfv5", ["akvorado_nf_nfv5.pcap"]),
    ("v9-sampler", ["akvorado_nf_options-template.pcap", "akvorado_nf_options-data.pcap",
                    "akvorado_nf_template.pcap", "akvorado_nf_data.pcap"]),
    ("v9-data+templates", ["akvorado_nf_data+templates.pcap"]),
    # The same packet twice: tshark decodes the leading data set of the second copy with the
    # template of the first, which gives a reference for the set this decoder held.
    ("v9-data+templates-twice", ["akvorado_nf_data+templates.pcap", "akvorado_nf_data+templates.pcap"]),
    ("v9-multiple-sampling-rates", ["akvorado_nf_multiplesamplingrates-options-template.pcap",
                                    "akvorado_nf_multiplesamplingrates-options-data.pcap",
                                    "akvorado_nf_multiplesamplingrates-template.pcap",
                                    "akvorado_nf_multiplesamplingrates-data.pcap"]),
    ("ipfix-biflow", ["akvorado_nf_ipfixprobe-templates.pcap", "akvorado_nf_ipfixprobe-data.pcap"]),
    ("ipfix-datalink", ["akvorado_nf_datalink-template.pcap", "akvorado_nf_datalink-data.pcap"]),
    ("sflow-1140", ["akvorado_sflow_data-1140.pcap"]),
    ("sflow-expanded", ["akvorado_sflow_data-sflow-expanded-sample.pcap"]),
    # Five NetFlow v5 datagrams from UDP/40000 share the sFlow port: a second tshark pass
    # decodes them as NetFlow.
    ("sflow-counters-30", ["tcpdump_sflow_multiple_counter_30_pdus.pcap"],
     [("udp.port==6343,cflow", "udp.srcport==40000")]),
    ("sflow-v6", ["tcpdump_sflow-print-v6.pcap"]),
]


def pairs(kv):
    return kv  # keep duplicate keys: a list of (key, value)


def get_all(obj, key):
    out = []
    if isinstance(obj, list):
        for k, v in obj:
            if k == key:
                out.append(v)
            out.extend(get_all(v, key))
    return out


def first(obj, *keys):
    for k in keys:
        vs = [v for kk, v in obj if kk == k] if isinstance(obj, list) else []
        if vs:
            return vs[0]
    return None


def last_nested(obj, *keys):
    for k in keys:
        vs = get_all(obj, k)
        if vs:
            return vs[-1]
    return None


def netflow_records(cflow, lines, samplers):
    """Data records as (fields, sampler id); options records fill `samplers`."""
    v5_rate = first(cflow, "cflow.samplerate")
    records = []
    for k, s in cflow:
        if k.startswith("pdu ") and isinstance(s, list):
            records.append(s)
        if not (k.startswith("Set ") or k.startswith("FlowSet ")) or not isinstance(s, list):
            continue
        for fk, f in s:
            if fk.startswith("Flow ") and isinstance(f, list):
                records.append(f)
    for f in records:
        src = first(f, "cflow.srcaddr", "cflow.srcaddrv6") or last_nested(f, "ip.src", "ipv6.src")
        dst = first(f, "cflow.dstaddr", "cflow.dstaddrv6") or last_nested(f, "ip.dst", "ipv6.dst")
        if src is None:
            interval = first(f, "cflow.sampling_interval", "cflow.sampler_random_interval")
            if interval is not None:
                samplers[first(f, "cflow.sampler_id")] = interval
            continue
        sport = first(f, "cflow.srcport") or last_nested(f, "tcp.srcport", "udp.srcport") or "-"
        dport = first(f, "cflow.dstport") or last_nested(f, "tcp.dstport", "udp.dstport") or "-"
        proto = first(f, "cflow.protocol") or last_nested(f, "ip.proto", "ipv6.nxt") or "-"
        octets = [v for kk, v in f if kk == "cflow.octets"]
        packets = [v for kk, v in f if kk == "cflow.packets"]
        if not octets:
            octets = [first(f, "cflow.data_link_frame_size") or "-"]
            packets = ["1"]
        # The rate column is filled in by resolve(): v5 header rate, else sampler table.
        rate = ("v5", v5_rate) if v5_rate is not None else ("sampler", first(f, "cflow.sampler_id"))
        lines.append(([src, dst, sport, dport, proto, octets[0], packets[0]], rate))
        if len(octets) > 1 and (octets[1] != "0" or packets[1] != "0"):
            lines.append(([dst, src, dport, sport, proto, octets[1], packets[1]], rate))


def resolve(lines, samplers):
    out = []
    for l in lines:
        if isinstance(l, str):
            out.append(l)
            continue
        fields, (kind, v) = l
        if kind == "v5":
            rate = max(int(v), 1)
        else:
            rate = samplers.get(v, samplers.get(None, "1"))
        out.append(" ".join(fields + [str(rate)]))
    return out


def sflow_records(sf, lines):
    for k, s in sf:
        if not isinstance(s, list):
            continue
        if "low sample" in k:
            rate = first(s, "sflow.flow_sample.sampling_rate") or "-"
            hdr = first(s, "Raw packet header")
            frame_len = first(hdr, "sflow_245.header.frame_length") if hdr else None
            tree = first(hdr, "sflow_245.header_tree") if hdr else None
            src = last_nested(tree, "ip.src", "ipv6.src") if tree else None
            dst = last_nested(tree, "ip.dst", "ipv6.dst") if tree else None
            sport = last_nested(tree, "tcp.srcport", "udp.srcport") if tree else None
            dport = last_nested(tree, "tcp.dstport", "udp.dstport") if tree else None
            proto = last_nested(tree, "ip.proto", "ipv6.nxt") if tree else None
            lines.append(f"{src or '-'} {dst or '-'} {sport or '-'} {dport or '-'} {proto or '-'} {frame_len or '-'} 1 {rate}")
        elif "ounters sample" in k:
            for rk, r in s:
                if rk.startswith("Generic interface counters") and isinstance(r, list):
                    ifi = first(r, "sflow_245.ifindex")
                    ino = first(r, "sflow_245.ifinoct")
                    outo = first(r, "sflow_245.ifoutoct")
                    lines.append(f"counter {ifi} {ino} {outo}")


def run(files, passes):
    with tempfile.TemporaryDirectory() as tmp:
        merged = os.path.join(tmp, "m.pcap")
        subprocess.run(["mergecap", "-a", "-w", merged] + [os.path.join(ROOT, f) for f in files], check=True)
        packets = []
        for decode_as, filt in [("udp.port==9990,cflow", "")] + passes:
            cmd = ["tshark", "-r", merged, "-T", "json", "-d", "udp.port==2055,cflow", "-d", decode_as]
            if filt:
                cmd += ["-Y", filt]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            packets += json.loads(out, object_pairs_hook=pairs)
    lines = []
    samplers = {}
    for p in packets:
        layers = first(first(p, "_source"), "layers")
        for k, v in layers:
            if k == "cflow":
                netflow_records(v, lines, samplers)
            elif k == "sflow":
                sflow_records(v, lines)
    return resolve(lines, samplers)


def main():
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"// Generated by scripts/flows-expected.py with {version}")
    for name, files, *passes in CASES:
        lines = run(files, passes[0] if passes else [])
        print(f'    Case {{\n        name: "{name}",\n        files: &{json.dumps(files)},\n        expected: "\\')
        for l in lines:
            print(f"{l}\\n\\")
        print('",\n    },')


if __name__ == "__main__":
    sys.exit(main())
