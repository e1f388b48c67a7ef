//! Capture files: classic libpcap and pcapng, read from a borrowed buffer (the caller
//! memory-maps or reads the file) as an iterator of [`Packet`]s that borrow their bytes.
//!
//! # Classic pcap
//! A 24-byte global header — magic `a1b2c3d4` (microsecond timestamps) or `a1b23c4d`
//! (nanosecond), written in the writer's byte order, version, zone, accuracy, snap length
//! and link type — then records of a 16-byte header (seconds, sub-seconds, captured
//! length, original length) followed by the captured bytes.
//!
//! # pcapng
//! A sequence of blocks `type(4) total_length(4) body total_length(4)`, lengths a multiple
//! of 4. A Section Header Block (`0a0d0d0a`, byte-order magic `1a2b3c4d`) starts each
//! section and fixes its byte order; Interface Description Blocks (type 1) declare, in
//! order, interface 0, 1, … with their link type and `if_tsresol` (option 9: `10^-n`, or
//! `2^-n` when the top bit is set; default microseconds) and `if_tsoffset` (option 14,
//! seconds). Enhanced Packet Blocks (6) carry an interface id, a 64-bit timestamp in that
//! interface's units and the packet; Simple Packet Blocks (3) carry only the original
//! length and the packet, for interface 0 and without time; the obsolete Packet Block (2)
//! is read like an EPB. Every other block type is skipped.
//!
//! Nothing is copied: [`Packet::data`] borrows the input. Every length is checked against
//! the bytes that remain; a malformed file gives a [`PcapError`] with the byte offset, and
//! iteration stops after it.

use std::fmt;

use ncsoc_model::Timestamp;

/// Link-layer header types (tcpdump.org `LINKTYPE_*`) that [`crate::packet`] decodes.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW: u32 = 101;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const NFLOG: u32 = 239;
    pub const LINUX_SLL2: u32 = 276;
}

/// One captured packet, borrowing the capture buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Capture time; `None` for pcapng Simple Packet Blocks, which carry none.
    pub ts: Option<Timestamp>,
    /// `LINKTYPE_*` of the interface the packet was captured on.
    pub linktype: u32,
    /// pcapng interface id (0 for classic pcap).
    pub interface: u32,
    /// The captured bytes (possibly cut to the snap length).
    pub data: &'a [u8],
    /// The packet's length on the wire.
    pub orig_len: u32,
}

/// What was wrong with a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcapErrorKind {
    /// Neither a pcap magic nor a pcapng section header.
    UnknownMagic,
    /// The structure named by `field` runs past the end of the input.
    Truncated,
    /// A length field is inconsistent (not a multiple of 4, smaller than its header, …).
    BadLength,
    /// A pcapng section header's byte-order magic is neither `1a2b3c4d` nor swapped.
    BadByteOrder,
    /// A packet block names an interface no Interface Description Block declared.
    UnknownInterface,
    /// A pcapng packet block before any section header.
    NoSection,
}

/// A capture file error: the byte offset, the structure being read and what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapError {
    pub offset: usize,
    pub field: &'static str,
    pub kind: PcapErrorKind,
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.kind {
            PcapErrorKind::UnknownMagic => "not a pcap or pcapng magic number",
            PcapErrorKind::Truncated => "truncated",
            PcapErrorKind::BadLength => "inconsistent length",
            PcapErrorKind::BadByteOrder => "bad byte-order magic",
            PcapErrorKind::UnknownInterface => "undeclared interface id",
            PcapErrorKind::NoSection => "no section header before it",
        };
        write!(f, "capture {} at byte {}: {why}", self.field, self.offset)
    }
}

impl std::error::Error for PcapError {}

/// Per-interface state of a pcapng section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// `true`: resolution is `2^-exp` s; `false`: `10^-exp` s.
    binary: bool,
    exp: u8,
    offset_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Format {
    Classic {
        big_endian: bool,
        nanos: bool,
        linktype: u32,
    },
    Ng {
        /// `None` before the first section header has been read.
        big_endian: Option<bool>,
        interfaces: Vec<Interface>,
    },
}

/// Iterator over the packets of a capture held in memory.
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    data: &'a [u8],
    pos: usize,
    format: Format,
    failed: bool,
}

/// The pcapng Section Header Block type, also the first four bytes of a pcapng file.
const SHB: u32 = 0x0A0D_0D0A;
/// Most interfaces a section may declare (each is a few bytes of state).
const MAX_INTERFACES: usize = 65_536;

fn rd_u16(d: &[u8], at: usize, be: bool) -> Option<u16> {
    let b: [u8; 2] = d.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if be {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

fn rd_u32(d: &[u8], at: usize, be: bool) -> Option<u32> {
    let b: [u8; 4] = d.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if be {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

impl<'a> PcapReader<'a> {
    /// Reads the file header (classic) or checks the first section header (pcapng).
    pub fn new(data: &'a [u8]) -> Result<Self, PcapError> {
        let err = |kind| PcapError {
            offset: 0,
            field: "file header",
            kind,
        };
        let magic = rd_u32(data, 0, true).ok_or(err(PcapErrorKind::Truncated))?;
        let (big_endian, nanos) = match magic {
            0xA1B2_C3D4 => (true, false),
            0xD4C3_B2A1 => (false, false),
            0xA1B2_3C4D => (true, true),
            0x4D3C_B2A1 => (false, true),
            SHB => {
                return Ok(Self {
                    data,
                    pos: 0,
                    format: Format::Ng {
                        big_endian: None,
                        interfaces: Vec::new(),
                    },
                    failed: false,
                })
            }
            _ => return Err(err(PcapErrorKind::UnknownMagic)),
        };
        let network = rd_u32(data, 20, big_endian).ok_or(err(PcapErrorKind::Truncated))?;
        Ok(Self {
            data,
            pos: 24,
            format: Format::Classic {
                big_endian,
                nanos,
                // The upper bits carry FCS length flags (pcap-linktype(7)).
                linktype: network & 0x0FFF_FFFF,
            },
            failed: false,
        })
    }

    /// `true` for a pcapng file.
    pub fn is_ng(&self) -> bool {
        matches!(self.format, Format::Ng { .. })
    }

    /// Byte offset of the next record or block.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn classic_next(&mut self) -> Option<Result<Packet<'a>, PcapError>> {
        let Format::Classic {
            big_endian: be,
            nanos,
            linktype,
        } = self.format
        else {
            return None;
        };
        let d = self.data;
        let at = self.pos;
        if at >= d.len() {
            return None;
        }
        let err = |field, kind| {
            Some(Err(PcapError {
                offset: at,
                field,
                kind,
            }))
        };
        let (Some(sec), Some(sub), Some(incl), Some(orig)) = (
            rd_u32(d, at, be),
            rd_u32(d, at + 4, be),
            rd_u32(d, at + 8, be),
            rd_u32(d, at + 12, be),
        ) else {
            return err("record header", PcapErrorKind::Truncated);
        };
        let start = at + 16;
        let Some(data) = start
            .checked_add(incl as usize)
            .and_then(|end| d.get(start..end))
        else {
            return err("record data", PcapErrorKind::Truncated);
        };
        self.pos = start + data.len();
        let sub_ns = if nanos {
            i64::from(sub)
        } else {
            i64::from(sub) * 1_000
        };
        Some(Ok(Packet {
            ts: Some(Timestamp(i64::from(sec) * 1_000_000_000 + sub_ns)),
            linktype,
            interface: 0,
            data,
            orig_len: orig,
        }))
    }

    fn ng_next(&mut self) -> Option<Result<Packet<'a>, PcapError>> {
        let d = self.data;
        loop {
            let at = self.pos;
            if at >= d.len() {
                return None;
            }
            let Format::Ng {
                big_endian,
                interfaces,
            } = &mut self.format
            else {
                return None;
            };
            let err = |field, kind| {
                Some(Err(PcapError {
                    offset: at,
                    field,
                    kind,
                }))
            };
            if d.len() - at < 12 {
                return err("block header", PcapErrorKind::Truncated);
            }
            let block_type_be = rd_u32(d, at, true)?;
            if block_type_be == SHB {
                // The byte order of this section, from its byte-order magic.
                let be = match rd_u32(d, at + 8, true)? {
                    0x1A2B_3C4D => true,
                    0x4D3C_2B1A => false,
                    _ => return err("section header", PcapErrorKind::BadByteOrder),
                };
                *big_endian = Some(be);
                interfaces.clear();
            }
            let Some(be) = *big_endian else {
                return err("block", PcapErrorKind::NoSection);
            };
            let block_type = rd_u32(d, at, be)?;
            let total = rd_u32(d, at + 4, be)? as usize;
            if total < 12 || !total.is_multiple_of(4) {
                return err("block length", PcapErrorKind::BadLength);
            }
            let Some(block) = at.checked_add(total).and_then(|end| d.get(at..end)) else {
                return err("block", PcapErrorKind::Truncated);
            };
            if rd_u32(block, total - 4, be) != Some(total as u32) {
                return err("block trailing length", PcapErrorKind::BadLength);
            }
            self.pos = at + total;
            let body = &block[8..total - 4];
            match block_type {
                1 => {
                    // Interface Description Block.
                    let (Some(lt), Some(snaplen)) = (rd_u16(body, 0, be), rd_u32(body, 4, be))
                    else {
                        return err("interface description", PcapErrorKind::Truncated);
                    };
                    if interfaces.len() >= MAX_INTERFACES {
                        return err("interface description", PcapErrorKind::BadLength);
                    }
                    let mut iface = Interface {
                        linktype: u32::from(lt),
                        snaplen,
                        binary: false,
                        exp: 6,
                        offset_secs: 0,
                    };
                    read_idb_options(body.get(8..).unwrap_or_default(), be, &mut iface);
                    interfaces.push(iface);
                }
                2 | 6 => {
                    // Obsolete Packet Block (16-bit interface id) / Enhanced Packet Block.
                    let iface_id = if block_type == 2 {
                        rd_u16(body, 0, be).map(u32::from)
                    } else {
                        rd_u32(body, 0, be)
                    };
                    let (Some(iface_id), Some(hi), Some(lo), Some(cap), Some(orig)) = (
                        iface_id,
                        rd_u32(body, 4, be),
                        rd_u32(body, 8, be),
                        rd_u32(body, 12, be),
                        rd_u32(body, 16, be),
                    ) else {
                        return err("packet block", PcapErrorKind::Truncated);
                    };
                    let Some(iface) = interfaces.get(iface_id as usize) else {
                        return err("packet block", PcapErrorKind::UnknownInterface);
                    };
                    let Some(data) = (cap as usize)
                        .checked_add(20)
                        .and_then(|end| body.get(20..end))
                    else {
                        return err("packet data", PcapErrorKind::Truncated);
                    };
                    let ticks = (u64::from(hi) << 32) | u64::from(lo);
                    return Some(Ok(Packet {
                        ts: Some(ticks_to_ts(ticks, iface)),
                        linktype: iface.linktype,
                        interface: iface_id,
                        data,
                        orig_len: orig,
                    }));
                }
                3 => {
                    // Simple Packet Block: interface 0, captured length implied.
                    let Some(iface) = interfaces.first() else {
                        return err("simple packet block", PcapErrorKind::UnknownInterface);
                    };
                    let Some(orig) = rd_u32(body, 0, be) else {
                        return err("simple packet block", PcapErrorKind::Truncated);
                    };
                    let room = body.len() - 4;
                    let mut cap = (orig as usize).min(room);
                    if iface.snaplen != 0 {
                        cap = cap.min(iface.snaplen as usize);
                    }
                    return Some(Ok(Packet {
                        ts: None,
                        linktype: iface.linktype,
                        interface: 0,
                        data: &body[4..4 + cap],
                        orig_len: orig,
                    }));
                }
                _ => {}
            }
        }
    }
}

fn read_idb_options(mut opts: &[u8], be: bool, iface: &mut Interface) {
    while let (Some(code), Some(len)) = (rd_u16(opts, 0, be), rd_u16(opts, 2, be)) {
        let len = usize::from(len);
        let Some(value) = opts.get(4..4 + len) else {
            return;
        };
        match (code, value) {
            (0, _) => return,
            (9, [v]) => {
                iface.binary = v & 0x80 != 0;
                iface.exp = v & 0x7F;
            }
            (14, _) => {
                if let Ok(b) = <[u8; 8]>::try_from(value) {
                    iface.offset_secs = if be {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    };
                }
            }
            _ => {}
        }
        let padded = (len + 3) & !3;
        opts = opts.get(4 + padded..).unwrap_or_default();
    }
}

/// A pcapng timestamp in interface units to nanoseconds since the epoch (saturating).
fn ticks_to_ts(ticks: u64, iface: &Interface) -> Timestamp {
    let t = i128::from(ticks);
    let ns: i128 = if iface.binary {
        let exp = u32::from(iface.exp.min(120));
        (t * 1_000_000_000) >> exp
    } else if iface.exp <= 9 {
        t * 10i128.pow(9 - u32::from(iface.exp))
    } else {
        t / 10i128.pow(u32::from(iface.exp.min(38)) - 9)
    };
    let ns = ns.saturating_add(i128::from(iface.offset_secs) * 1_000_000_000);
    Timestamp(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<Packet<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = match self.format {
            Format::Classic { .. } => self.classic_next(),
            Format::Ng { .. } => self.ng_next(),
        };
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic(be: bool, nanos: bool, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() })
        };
        let mut v = Vec::new();
        w32(&mut v, if nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 });
        v.extend_from_slice(&if be { [0, 2, 0, 4] } else { [2, 0, 4, 0] });
        w32(&mut v, 0);
        w32(&mut v, 0);
        w32(&mut v, 65535);
        w32(&mut v, 1);
        for (s, sub, data) in records {
            w32(&mut v, *s);
            w32(&mut v, *sub);
            w32(&mut v, data.len() as u32);
            w32(&mut v, data.len() as u32 + 10);
            v.extend_from_slice(data);
        }
        v
    }

    #[test]
    fn classic_both_orders_and_resolutions() {
        for be in [false, true] {
            for nanos in [false, true] {
                let f = classic(be, nanos, &[(10, 5, b"abc"), (11, 0, b"")]);
                let pkts: Vec<_> = PcapReader::new(&f).unwrap().collect();
                assert_eq!(pkts.len(), 2);
                let p = pkts[0].unwrap();
                assert_eq!(p.data, b"abc");
                assert_eq!(p.orig_len, 13);
                assert_eq!(p.linktype, linktype::ETHERNET);
                let sub = if nanos { 5 } else { 5_000 };
                assert_eq!(p.ts, Some(Timestamp(10_000_000_000 + sub)));
            }
        }
    }

    #[test]
    fn classic_truncated_record_is_an_error_then_stops() {
        let mut f = classic(false, false, &[(1, 0, b"abcdef")]);
        f.truncate(f.len() - 2);
        let mut r = PcapReader::new(&f).unwrap();
        let e = r.next().unwrap().unwrap_err();
        assert_eq!(e.kind, PcapErrorKind::Truncated);
        assert_eq!(e.offset, 24);
        assert!(r.next().is_none());
        assert_eq!(
            PcapReader::new(b"nope, not pcap").unwrap_err().kind,
            PcapErrorKind::UnknownMagic
        );
        assert_eq!(
            PcapReader::new(b"\xd4\xc3").unwrap_err().kind,
            PcapErrorKind::Truncated
        );
    }

    fn block(be: bool, ty: u32, body: &[u8]) -> Vec<u8> {
        let w = |x: u32| if be { x.to_be_bytes() } else { x.to_le_bytes() };
        let mut padded = body.to_vec();
        while !padded.len().is_multiple_of(4) {
            padded.push(0);
        }
        let total = padded.len() as u32 + 12;
        let mut v = Vec::new();
        v.extend_from_slice(&w(ty));
        v.extend_from_slice(&w(total));
        v.extend_from_slice(&padded);
        v.extend_from_slice(&w(total));
        v
    }

    fn ng(be: bool) -> Vec<u8> {
        let w32 = |x: u32| if be { x.to_be_bytes() } else { x.to_le_bytes() };
        let w16 = |x: u16| if be { x.to_be_bytes() } else { x.to_le_bytes() };
        let mut f = Vec::new();
        let mut shb = w32(0x1A2B_3C4D).to_vec();
        shb.extend_from_slice(&w16(1));
        shb.extend_from_slice(&w16(0));
        shb.extend_from_slice(&[0xFF; 8]);
        f.extend(block(be, SHB, &shb));
        // Interface 0: Ethernet, default µs. Interface 1: raw IP, ns (if_tsresol 9).
        let mut idb0 = w16(1).to_vec();
        idb0.extend_from_slice(&[0, 0]);
        idb0.extend_from_slice(&w32(0));
        f.extend(block(be, 1, &idb0));
        let mut idb1 = w16(101).to_vec();
        idb1.extend_from_slice(&[0, 0]);
        idb1.extend_from_slice(&w32(0));
        idb1.extend_from_slice(&w16(9));
        idb1.extend_from_slice(&w16(1));
        idb1.extend_from_slice(&[9, 0, 0, 0]);
        idb1.extend_from_slice(&[0, 0, 0, 0]);
        f.extend(block(be, 1, &idb1));
        // An unknown block (name resolution) is skipped.
        f.extend(block(be, 4, &[0, 0, 0, 0]));
        for (iface, ticks, data) in [(0u32, 1_500_000u64, &b"hello"[..]), (1, 7, b"ip")] {
            let mut epb = w32(iface).to_vec();
            epb.extend_from_slice(&w32((ticks >> 32) as u32));
            epb.extend_from_slice(&w32(ticks as u32));
            epb.extend_from_slice(&w32(data.len() as u32));
            epb.extend_from_slice(&w32(data.len() as u32));
            epb.extend_from_slice(data);
            f.extend(block(be, 6, &epb));
        }
        let mut spb = w32(3).to_vec();
        spb.extend_from_slice(b"xyz");
        f.extend(block(be, 3, &spb));
        f
    }

    #[test]
    fn pcapng_interfaces_resolutions_and_skipped_blocks() {
        for be in [false, true] {
            let f = ng(be);
            let r = PcapReader::new(&f).unwrap();
            assert!(r.is_ng());
            let pkts: Vec<_> = r.map(Result::unwrap).collect();
            assert_eq!(pkts.len(), 3, "be={be}");
            assert_eq!(pkts[0].data, b"hello");
            assert_eq!(pkts[0].ts, Some(Timestamp(1_500_000_000)));
            assert_eq!(pkts[0].linktype, 1);
            assert_eq!(pkts[1].data, b"ip");
            assert_eq!(pkts[1].ts, Some(Timestamp(7)));
            assert_eq!(pkts[1].linktype, 101);
            assert_eq!(pkts[1].interface, 1);
            assert_eq!(pkts[2].data, b"xyz");
            assert_eq!(pkts[2].ts, None);
        }
    }

    #[test]
    fn pcapng_errors() {
        let f = ng(false);
        // Cut inside the last block.
        let cut = &f[..f.len() - 3];
        let last = PcapReader::new(cut).unwrap().last().unwrap();
        assert_eq!(last.unwrap_err().kind, PcapErrorKind::Truncated);
        // A packet on an undeclared interface.
        let mut bad = f[..28].to_vec();
        bad.extend(block(
            false,
            6,
            &[5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ));
        let e = PcapReader::new(&bad).unwrap().next().unwrap().unwrap_err();
        assert_eq!(e.kind, PcapErrorKind::UnknownInterface);
        assert_eq!(e.offset, 28);
        // Block length not a multiple of 4.
        let mut odd = f.clone();
        odd[4] = 29;
        let e = PcapReader::new(&odd).unwrap().next().unwrap().unwrap_err();
        assert_eq!(e.kind, PcapErrorKind::BadLength);
    }

    #[test]
    fn binary_resolution() {
        let iface = Interface {
            linktype: 1,
            snaplen: 0,
            binary: true,
            exp: 10,
            offset_secs: 2,
        };
        assert_eq!(ticks_to_ts(1024, &iface), Timestamp(3_000_000_000));
    }
}
