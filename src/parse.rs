//! `ncsoc parse`: log lines on stdin, one normalised event per line as JSON on stdout. A
//! line that does not parse gives a JSON error record on stderr with its line number, and
//! processing goes on; the exit status is non-zero only when reading or writing fails.

use std::io::{self, BufRead, BufWriter, Write};

use ncsoc_model::Timestamp;
use ncsoc_parsers::{parse_line, Context, Format};

pub fn run(
    format: &str,
    sector: &str,
    source: &str,
    utc_offset_minutes: i32,
) -> anyhow::Result<()> {
    let format: Format = format.parse().map_err(anyhow::Error::msg)?;
    let mut ctx = Context {
        sector: sector.to_string(),
        source: source.to_string(),
        now: Timestamp::now(),
        default_offset_secs: utc_offset_minutes * 60,
    };
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut err = io::stderr().lock();
    let mut line = Vec::with_capacity(4096);
    let mut n = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        n += 1;
        let mut text = line.as_slice();
        if let Some(rest) = text.strip_suffix(b"\n") {
            text = rest;
        }
        if let Some(rest) = text.strip_suffix(b"\r") {
            text = rest;
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        ctx.now = Timestamp::now();
        match parse_line(format, text, &ctx) {
            Ok(event) => {
                out.write_all(event.to_json_string().as_bytes())?;
                out.write_all(b"\n")?;
            }
            Err(e) => {
                let record = serde_json::json!({
                    "line": n,
                    "format": e.format.as_str(),
                    "error": e.reason,
                    "raw": String::from_utf8_lossy(text),
                });
                writeln!(err, "{record}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
