//! RFC 6587 framing for syslog over TCP and TLS.
//!
//! The first byte of a connection decides its framing: a digit starts an octet count
//! (`LEN SP MSG`, RFC 6587 §3.4.1 and RFC 5425), anything else means newline-terminated
//! frames (§3.4.2). Frames are bounded: a longer one is cut to the limit, reported as
//! [`FrameError::TooLong`] with what was kept, and the stream resumes at the next frame.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

#[derive(Debug)]
pub enum FrameError {
    Io(io::Error),
    /// The frame was longer than the limit; `kept` holds its first bytes.
    TooLong {
        kept: Vec<u8>,
    },
    /// An octet count that is not a number (or too long to be one); the connection's
    /// framing is lost. Holds the bytes read.
    BadLength(Vec<u8>),
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    OctetCounting,
    Newline,
}

pub struct FrameReader<R> {
    r: R,
    max: usize,
    framing: Option<Framing>,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> FrameReader<R> {
    pub fn new(r: R, max_frame: usize) -> Self {
        Self {
            r,
            max: max_frame,
            framing: None,
            buf: Vec::with_capacity(1024),
        }
    }

    /// The framing detected on this connection, once the first frame has arrived.
    pub fn framing(&self) -> Option<Framing> {
        self.framing
    }

    /// The next frame, `None` at the end of the stream.
    pub async fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        // Line ends and NULs between frames carry nothing.
        loop {
            let avail = self.r.fill_buf().await?;
            let Some(&first) = avail.first() else {
                return Ok(None);
            };
            if matches!(first, b'\n' | b'\r' | 0) {
                self.r.consume(1);
                continue;
            }
            if self.framing.is_none() {
                self.framing = Some(if first.is_ascii_digit() {
                    Framing::OctetCounting
                } else {
                    Framing::Newline
                });
            }
            break;
        }
        match self.framing {
            Some(Framing::OctetCounting) => self.octet_counted().await,
            _ => self.newline().await,
        }
    }

    async fn octet_counted(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let mut digits = Vec::with_capacity(8);
        loop {
            let b = match self.r.read_u8().await {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(FrameError::BadLength(digits))
                }
                Err(e) => return Err(e.into()),
            };
            match b {
                b'0'..=b'9' if digits.len() < 10 => digits.push(b),
                b' ' if !digits.is_empty() => break,
                _ => {
                    digits.push(b);
                    return Err(FrameError::BadLength(digits));
                }
            }
        }
        // Ten digits at most, so this fits in u64.
        let len = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        let keep = len.min(self.max as u64) as usize;
        self.buf.clear();
        self.buf.resize(keep, 0);
        self.r.read_exact(&mut self.buf).await?;
        if len > keep as u64 {
            // Skip the rest of the frame, in bounded reads.
            let rest = len - keep as u64;
            let skipped =
                tokio::io::copy(&mut (&mut self.r).take(rest), &mut tokio::io::sink()).await?;
            if skipped < rest {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            return Err(FrameError::TooLong {
                kept: std::mem::take(&mut self.buf),
            });
        }
        Ok(Some(&self.buf))
    }

    async fn newline(&mut self) -> Result<Option<&[u8]>, FrameError> {
        self.buf.clear();
        let mut too_long = false;
        loop {
            let avail = self.r.fill_buf().await?;
            if avail.is_empty() {
                break; // the last frame may lack its newline
            }
            let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (&avail[..i], Some(i + 1)),
                None => (avail, None),
            };
            if !too_long {
                let room = self.max - self.buf.len();
                if chunk.len() > room {
                    self.buf.extend_from_slice(&chunk[..room]);
                    too_long = true;
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let used = done.unwrap_or(avail.len());
            self.r.consume(used);
            if done.is_some() {
                break;
            }
        }
        if too_long {
            return Err(FrameError::TooLong {
                kept: std::mem::take(&mut self.buf),
            });
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(&self.buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, String>> {
        let mut r = FrameReader::new(input, max);
        let mut out = Vec::new();
        loop {
            match r.next_frame().await {
                Ok(None) => break,
                Ok(Some(f)) => out.push(Ok(f.to_vec())),
                Err(FrameError::TooLong { kept }) => {
                    out.push(Err(format!("long:{}", String::from_utf8_lossy(&kept))))
                }
                Err(FrameError::BadLength(b)) => {
                    out.push(Err(format!("bad:{}", String::from_utf8_lossy(&b))));
                    break;
                }
                Err(FrameError::Io(e)) => {
                    out.push(Err(format!("io:{e}")));
                    break;
                }
            }
        }
        out
    }

    fn ok(s: &str) -> Result<Vec<u8>, String> {
        Ok(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn octet_counting() {
        let got = frames(b"5 <1>ab3 <2>\n10 <3>a\nb\nc d", 100).await;
        assert_eq!(got, vec![ok("<1>ab"), ok("<2>"), ok("<3>a\nb\nc d")]);
    }

    #[tokio::test]
    async fn newline_framing_with_crlf_and_unterminated_last_frame() {
        let got = frames(b"<1>one\r\n\n<2>two\n<3>three", 100).await;
        assert_eq!(got, vec![ok("<1>one"), ok("<2>two"), ok("<3>three")]);
    }

    #[tokio::test]
    async fn long_frames_are_cut_and_the_stream_goes_on() {
        let got = frames(b"<1>0123456789\n<2>ok\n", 8).await;
        assert_eq!(got, vec![Err("long:<1>01234".into()), ok("<2>ok")]);
        let got = frames(b"12 <1>abcdefghi3 <2>", 5).await;
        assert_eq!(got, vec![Err("long:<1>ab".into()), ok("<2>")]);
    }

    #[tokio::test]
    async fn bad_octet_counts_stop_the_connection() {
        let got = frames(b"12x <1>", 100).await;
        assert_eq!(got, vec![Err("bad:12x".into())]);
        let got = frames(b"99999999999 x", 100).await;
        assert!(matches!(&got[0], Err(s) if s.starts_with("bad:")));
        // A count longer than what follows: the stream ended mid-frame.
        let got = frames(b"10 <1>", 100).await;
        assert!(matches!(&got[0], Err(s) if s.starts_with("io:")));
    }
}
