//! Helpers for tests that run the real `ncsoc` binary: free ports, a plain HTTP client,
//! and a server process that is stopped (or killed) when the test ends.
#![allow(dead_code)] // each test binary uses its own part of these helpers

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET; returns (status, body).
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// One HTTP/1.1 request with a bearer token and a JSON body (empty: none); returns the
/// status and the body as JSON (`Null` if it is not JSON). Chunked bodies are decoded.
pub fn call_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((resp.as_str(), ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, serde_json::from_str(&body).unwrap_or_default())
}

/// The payload of a chunked HTTP/1.1 body.
pub fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// What the server has logged so far: stderr is drained by a thread, so a chatty
    /// server never blocks on a full pipe.
    log: std::sync::Arc<std::sync::Mutex<String>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        Self::start_with(&[], data_dir, env)
    }

    /// `ncsoc serve ARGS...` with the data directory and listen address set through the
    /// environment; returns once `/healthz` answers.
    pub fn start_with(args: &[&str], data_dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ncsoc"));
        cmd.arg("serve")
            .args(args)
            .env("NCSOC_SERVER__LISTEN", addr.to_string())
            .env("NCSOC_STORE__DATA_DIR", data_dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start ncsoc serve");
        let server = Self::adopt(child, addr);
        let start = Instant::now();
        while get(addr, "/healthz").is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "ncsoc serve did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Sends `signal` and returns the exit status and what it logged.
    pub fn stop(mut self, signal: &str) -> (std::process::ExitStatus, String) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(d) = self.drain.take() {
                    let _ = d.join();
                }
                return (status, self.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "ncsoc serve did not stop on {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Server {
    /// Takes charge of a server started by hand (stderr piped): drains its log, stops it
    /// when dropped.
    pub fn adopt(mut child: Child, addr: SocketAddr) -> Self {
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        let drain = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push_str(&text);
            }
        });
        Self {
            child,
            addr,
            log,
            drain: Some(drain),
        }
    }

    /// What the server has logged up to now.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The value of one Prometheus sample line starting with `prefix`.
pub fn metric(addr: SocketAddr, prefix: &str) -> u64 {
    let (_, body) = get(addr, "/metrics").unwrap();
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// A self-signed certificate for 127.0.0.1 (openssl), returned as (cert, key) paths.
pub fn make_cert(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=ncsoc-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success(), "openssl could not make a test certificate");
    (cert, key)
}

/// The UDP payloads of a capture file, in order: the flow export datagrams to send to a
/// listener.
pub fn udp_payloads(file: &std::path::Path) -> Vec<Vec<u8>> {
    use ncsoc_parsers::{packet, pcap};
    let data = std::fs::read(file).unwrap();
    pcap::PcapReader::new(&data)
        .unwrap()
        .filter_map(|p| {
            let p = p.ok()?;
            let d = packet::decode(p.linktype, p.data).ok()?;
            (d.protocol == 17).then(|| d.payload.to_vec())
        })
        .collect()
}

/// Polls `cond` every 100 ms until it holds; fails the test after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
