//! A webhook receiver for trying a destination out: verifies every signature, answers 204
//! once per delivery id (a retry of a handled delivery is acknowledged, not handled
//! again) and prints one JSON line per request on stdout.
//!
//! ```sh
//! NCSOC_WEBHOOK_SECRET=... cargo run -p ncsoc-api --example webhook_receiver -- 127.0.0.1:9000 [FAIL_FIRST]
//! ```
//!
//! With `FAIL_FIRST`, the first that many attempts of each delivery get a 503, to watch
//! the retries. Plain HTTP, one request per connection, bodies up to 16 MiB: a test tool,
//! not a server to expose.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use ncsoc_api::webhooks::sign;

const MAX_BODY: usize = 16 * 1024 * 1024;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9000".into());
    let fail_first: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let Ok(secret) = std::env::var("NCSOC_WEBHOOK_SECRET") else {
        eprintln!("set NCSOC_WEBHOOK_SECRET to the destination's secret");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(&listen)?;
    eprintln!("receiving on http://{}", listener.local_addr()?);
    let mut attempts: HashMap<String, u32> = HashMap::new();
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let mut reader = BufReader::new(conn);
        let mut headers = HashMap::new();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 && line.trim_end() != "" {
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
            line.clear();
        }
        let len = headers
            .get("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if len > MAX_BODY {
            continue;
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            continue;
        }
        let header = |k: &str| headers.get(k).cloned().unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let verdict = sign::verify(secret.as_bytes(), &header("x-ncsoc-signature"), &body, now);
        let key = header("x-ncsoc-delivery");
        let n = attempts.entry(key.clone()).or_default();
        *n += 1;
        let status = match &verdict {
            Err(_) => 401,
            Ok(()) if *n <= fail_first => 503,
            Ok(()) => 204,
        };
        let first = status == 204 && *n == fail_first + 1;
        println!(
            "{}",
            serde_json::json!({
                "status": status,
                "event": header("x-ncsoc-event"),
                "delivery": key,
                "attempt": *n,
                "duplicate": status == 204 && !first,
                "signature": verdict.map_or_else(|e| e.to_string(), |()| "valid".into()),
                "body": String::from_utf8_lossy(&body),
            })
        );
        let _ = write!(
            reader.get_mut(),
            "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            if status == 204 {
                "No Content"
            } else {
                "Refused"
            }
        );
    }
    Ok(())
}
