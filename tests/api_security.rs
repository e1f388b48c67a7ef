//! Security of the analyst listener, over real HTTP against `ncsoc serve`: tokens made with
//! `ncsoc token`, roles, expiry and revocation while the server runs, the audit log, rate
//! limits, request limits, CORS, security headers, and TLS.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, Server};
use serde_json::Value;

/// `ncsoc ARGS...` on the data directory; returns (success, stdout, stderr).
fn ncsoc(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .args(args)
        .env("NCSOC_STORE__DATA_DIR", dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run ncsoc");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `ncsoc token create ARGS... --json`; returns (id, secret).
fn token(dir: &Path, args: &[&str]) -> (String, String) {
    let mut all = vec!["token", "create", "--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = ncsoc(dir, &all);
    assert!(ok, "token create {args:?}: {err}");
    let v: Value = serde_json::from_str(out.trim()).expect("token create --json prints JSON");
    (
        v["id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    )
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    /// The `code` of an API error body.
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// One HTTP/1.1 exchange on `stream` (`Connection: close`).
fn exchange(
    mut stream: impl Read + Write,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    read_response(stream)
}

fn read_response(stream: impl Read) -> std::io::Result<Resp> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut raw = Vec::new();
    r.read_to_end(&mut raw)?;
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(&raw) } else { raw };
    Ok(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        raw = &raw[end + 2..];
        if size == 0 || raw.len() < size {
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[(size + 2).min(raw.len())..];
    }
    out
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    exchange(connect(addr), method, path, &headers, body.as_bytes()).unwrap()
}

fn get(addr: SocketAddr, path: &str, token: &str) -> Resp {
    call(addr, "GET", path, Some(token), "")
}

fn audit(addr: SocketAddr, admin: &str, query: &str) -> Vec<Value> {
    let r = get(addr, &format!("/api/v1/audit?{query}"), admin);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["entries"].as_array().unwrap().clone()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn tokens_roles_expiry_revocation_and_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    // The CLI refuses what a token may not be.
    for bad in [
        &["--role", "analyst", "--sectors", "Energy"][..],
        &["--role", "analyst", "--sectors", "a/b"],
        &["--role", "forwarder"],
        &["--role", "forwarder", "--sectors", "energy,finance"],
        &["--role", "admin", "--sectors", "energy"],
        &["--role", "root"],
        &["--role", "analyst", "--expires", "soon"],
    ] {
        let mut args = vec!["token", "create"];
        args.extend_from_slice(bad);
        let (ok, out, err) = ncsoc(data, &args);
        assert!(!ok && out.is_empty(), "{bad:?} was accepted: {out}");
        assert!(!err.is_empty());
    }

    let (admin_id, admin) = token(data, &["--role", "admin", "--name", "root"]);
    let (analyst_id, analyst) = token(
        data,
        &[
            "--role",
            "analyst",
            "--sectors",
            "energy,finance",
            "--name",
            "alice",
        ],
    );
    let (_, forwarder) = token(data, &["--role", "forwarder", "--sectors", "energy"]);
    let (_, short) = token(
        data,
        &["--role", "analyst", "--name", "brief", "--expires", "3s"],
    );
    let (revokee_id, revokee) = token(data, &["--role", "analyst", "--name", "carol"]);
    let made = Instant::now();
    let mut secrets = vec![
        admin.clone(),
        analyst.clone(),
        forwarder.clone(),
        short.clone(),
        revokee.clone(),
    ];
    // Without --json the secret alone goes to stdout.
    let (ok, out, err) = ncsoc(
        data,
        &["token", "create", "--role", "analyst", "--name", "plain"],
    );
    assert!(ok, "{err}");
    assert!(
        out.trim().starts_with("ncsoc_") && out.trim().len() == 70,
        "{out}"
    );
    assert!(err.contains("tok_") && !err.contains(out.trim()), "{err}");
    secrets.push(out.trim().to_string());

    let server = Server::start(data, &[("RUST_LOG", "debug")]);
    let addr = server.addr;
    let whoami = "/api/v1/whoami";

    // Valid tokens: who they are, with their sectors.
    let me = get(addr, whoami, &analyst);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["name"], "alice");
    assert_eq!(
        me.json()["sectors"],
        serde_json::json!(["energy", "finance"])
    );
    assert_eq!(me.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(me.header("cache-control"), Some("no-store"));
    assert_eq!(me.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(get(addr, whoami, &short).status, 200);

    // No token, a malformed one, an unknown one: 401 with a challenge and a JSON error.
    let no_token = call(addr, "GET", whoami, None, "");
    for (what, r) in [
        ("no token", no_token),
        (
            "basic auth",
            exchange(
                connect(addr),
                "GET",
                whoami,
                &[("Authorization", "Basic YTpi")],
                b"",
            )
            .unwrap(),
        ),
        (
            "empty bearer",
            exchange(
                connect(addr),
                "GET",
                whoami,
                &[("Authorization", "Bearer ")],
                b"",
            )
            .unwrap(),
        ),
        ("unknown", get(addr, whoami, "ncsoc_0000000000000000")),
    ] {
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"ncsoc\""),
            "{what}"
        );
        assert_eq!(r.code(), "unauthorized", "{what}");
    }

    // A forwarder ingests on the intake listener, not here.
    let r = get(addr, whoami, &forwarder);
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "forbidden"),
        "{}",
        r.body
    );

    // An analyst is refused the admin endpoints, and the attempt is audited.
    for (m, p) in [
        ("GET", "/api/v1/tokens"),
        ("GET", "/api/v1/audit"),
        ("DELETE", "/api/v1/tokens/x"),
    ] {
        let r = call(addr, m, p, Some(&analyst), "");
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
    }
    let r = call(
        addr,
        "POST",
        "/api/v1/tokens",
        Some(&analyst),
        r#"{"name":"x","role":"admin"}"#,
    );
    assert_eq!(r.status, 403);
    let r = call(addr, "GET", "/api/v1/tokens", None, "");
    assert_eq!(r.status, 401);

    // Revoked with the CLI while the server runs: refused from the next request on.
    assert_eq!(get(addr, whoami, &revokee).status, 200);
    let (ok, _, err) = ncsoc(data, &["token", "revoke", &revokee_id]);
    assert!(ok, "{err}");
    let r = get(addr, whoami, &revokee);
    assert_eq!(r.status, 401, "revoked: {}", r.body);
    let (ok, _, _) = ncsoc(data, &["token", "revoke", &revokee_id]);
    assert!(!ok, "revoking twice is an error");
    let (ok, _, _) = ncsoc(data, &["token", "revoke", "tok_nope"]);
    assert!(!ok, "unknown ids are an error");

    // Admin endpoints: create (the secret once), list (never secrets), revoke.
    let r = call(
        addr,
        "POST",
        "/api/v1/tokens",
        Some(&admin),
        r#"{"name":"dave","role":"analyst","sectors":["health"],"expires":"1d"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let dave = created["secret"].as_str().unwrap().to_string();
    let dave_id = created["token"]["id"].as_str().unwrap().to_string();
    secrets.push(dave.clone());
    assert_eq!(
        get(addr, whoami, &dave).json()["sectors"],
        serde_json::json!(["health"])
    );
    for bad in [
        r#"{"name":"x","role":"forwarder"}"#,
        r#"{"name":"x","role":"analyst","sectors":["BAD"]}"#,
        r#"{"name":"","role":"analyst"}"#,
        r#"{"name":"x","role":"analyst","expires":"yesterday"}"#,
        r#"{"name":"x","role":"analyst","extra":1}"#,
        r#"{"name":"x","role":"wizard"}"#,
        "not json",
    ] {
        let r = call(addr, "POST", "/api/v1/tokens", Some(&admin), bad);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "bad_request"),
            "{bad}: {}",
            r.body
        );
    }
    let list = get(addr, "/api/v1/tokens", &admin);
    assert_eq!(list.status, 200);
    let tokens = list.json()["tokens"].as_array().unwrap().clone();
    assert_eq!(tokens.len(), 7);
    assert!(tokens.iter().any(|t| t["id"] == revokee_id.as_str()
        && t["active"] == false
        && !t["revoked_at"].is_null()));
    for s in &secrets {
        assert!(!list.body.contains(&s[6..]), "a secret is listed");
    }
    let r = call(
        addr,
        "DELETE",
        &format!("/api/v1/tokens/{dave_id}"),
        Some(&admin),
        "",
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(get(addr, whoami, &dave).status, 401);
    let r = call(
        addr,
        "DELETE",
        &format!("/api/v1/tokens/{dave_id}"),
        Some(&admin),
        "",
    );
    assert_eq!(r.status, 409);
    let r = call(addr, "DELETE", "/api/v1/tokens/tok_nope", Some(&admin), "");
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));

    // The short-lived token expires on its own.
    let left = Duration::from_secs(4).saturating_sub(made.elapsed());
    std::thread::sleep(left);
    let r = get(addr, whoami, &short);
    assert_eq!(r.status, 401, "expired: {}", r.body);

    // The audit log: newest first, everything this test did, filterable, paged.
    let all = audit(addr, &admin, "limit=1000");
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    let find = |action: &str, target: &str| {
        all.iter()
            .filter(|e| e["action"] == action && e["target"] == target)
            .cloned()
            .collect::<Vec<_>>()
    };
    let cli_create = find("token.create", &analyst_id);
    assert_eq!(cli_create.len(), 1, "CLI creations are audited");
    assert!(cli_create[0]["actor"].as_str().unwrap().starts_with("cli:"));
    assert_eq!(
        cli_create[0]["detail"]["sectors"],
        serde_json::json!(["energy", "finance"])
    );
    assert_eq!(find("token.create", &admin_id).len(), 1);
    assert_eq!(find("token.revoke", &revokee_id).len(), 1);
    let api_create = find("token.create", &dave_id);
    assert_eq!(api_create.len(), 1);
    assert_eq!(api_create[0]["actor"], "root");
    assert_eq!(api_create[0]["outcome"], "ok");
    let api_revoke = find("token.revoke", &dave_id);
    assert_eq!(
        (api_revoke.len(), &api_revoke[0]["actor"]),
        (1, &Value::from("root"))
    );
    let denied: Vec<&Value> = all
        .iter()
        .filter(|e| e["action"] == "admin.access" && e["outcome"] == "denied")
        .collect();
    let by_alice: Vec<&str> = denied
        .iter()
        .filter(|e| e["actor"] == "alice")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        by_alice,
        [
            "/api/v1/tokens",
            "/api/v1/tokens/x",
            "/api/v1/audit",
            "/api/v1/tokens"
        ],
        "every refused attempt, newest first"
    );
    assert!(
        denied
            .iter()
            .any(|e| e["actor"] == "anonymous" && e["detail"]["client"] == "127.0.0.1"),
        "unauthenticated attempts too"
    );
    let only = audit(addr, &admin, "action=token.revoke");
    assert_eq!(only.len(), 2);
    assert!(only.iter().all(|e| e["action"] == "token.revoke"));
    let by_actor = audit(addr, &admin, "actor=alice&limit=2");
    assert_eq!(by_actor.len(), 2);
    let page = get(addr, "/api/v1/audit?actor=alice&limit=2", &admin).json();
    let cursor = page["next_cursor"].as_i64().unwrap();
    let rest = audit(addr, &admin, &format!("actor=alice&cursor={cursor}"));
    assert_eq!(rest.len(), 2, "the older half");
    assert!(rest.iter().all(|e| e["seq"].as_i64().unwrap() < cursor));
    let future = audit(addr, &admin, "from=2200-01-01T00:00:00Z");
    assert!(future.is_empty());
    let past = audit(addr, &admin, "to=2000-01-01T00:00:00Z");
    assert!(past.is_empty());
    for bad in [
        "limit=0",
        "limit=abc",
        "limit=1001",
        "cursor=-1",
        "from=yesterday",
    ] {
        let r = get(addr, &format!("/api/v1/audit?{bad}"), &admin);
        assert_eq!((r.status, r.code().as_str()), (400, "bad_request"), "{bad}");
    }
    // Reading the log is itself audited.
    assert!(!audit(addr, &admin, "action=audit.read").is_empty());
    // No CORS unless configured.
    let r = exchange(
        connect(addr),
        "GET",
        whoami,
        &[
            ("Authorization", &format!("Bearer {analyst}")),
            ("Origin", "https://evil.example"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());

    // The log cannot be rewritten, even with direct access to the database.
    let db = rusqlite::Connection::open(data.join("control.db")).unwrap();
    let before: i64 = db
        .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    assert!(db.execute("DELETE FROM audit_log", []).is_err());
    assert!(db
        .execute(
            "UPDATE audit_log SET actor = 'mallory' WHERE actor = 'alice'",
            []
        )
        .is_err());
    let after: i64 = db
        .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(before, after);
    drop(db);

    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    assert!(log.contains("HTTP listening"), "{log}");
    // No secret in the log or anywhere in the control store's files.
    let mut files = Vec::new();
    for e in std::fs::read_dir(data).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("control.db")
        {
            files.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    assert!(!files.is_empty());
    for s in &secrets {
        let hex = &s[6..];
        assert!(!log.contains(hex), "a token secret is in the server's log");
        for (name, bytes) in &files {
            assert!(
                !bytes.windows(hex.len()).any(|w| w == hex.as_bytes()),
                "a token secret is in {name}"
            );
        }
    }
}

#[test]
fn rate_limits_request_limits_and_cors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (_, admin) = token(data, &["--role", "admin", "--name", "root"]);
    let (_, analyst) = token(data, &["--role", "analyst", "--name", "alice"]);
    let server = Server::start(
        data,
        &[
            ("NCSOC_API__SECURITY__RATE_LIMIT_PER_SECOND", "1"),
            ("NCSOC_API__SECURITY__RATE_LIMIT_BURST", "3"),
            ("NCSOC_API__SECURITY__AUTH_FAILURES_PER_MINUTE", "6"),
            ("NCSOC_API__SECURITY__MAX_BODY_BYTES", "2048"),
            ("NCSOC_API__SECURITY__REQUEST_TIMEOUT_SECS", "2"),
            (
                "NCSOC_API__SECURITY__CORS_ORIGINS",
                r#"["https://soc.example.gov"]"#,
            ),
            ("NCSOC_API__SECURITY__MAX_CONNECTIONS", "2"),
        ],
    );
    let addr = server.addr;

    // At most two connections: a third is answered only once one of them is gone.
    let hogs = [connect(addr), connect(addr)];
    let mut third = connect(addr);
    write!(
        third,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = third.read(&mut byte);
    assert!(
        early.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "answered while two connections were open: {early:?}"
    );
    drop(hogs);
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let r = read_response(&mut third).unwrap();
    assert_eq!(r.status, 200);

    // A burst beyond the limit is answered 429 with Retry-After; other tokens are not
    // affected; after the wait, the token works again.
    let mut limited = None;
    for _ in 0..20 {
        let r = get(addr, "/api/v1/whoami", &analyst);
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = limited.expect("20 requests at 1/s with a burst of 3 were all let through");
    assert_eq!(r.code(), "rate_limited");
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    assert_eq!(get(addr, "/api/v1/whoami", &admin).status, 200, "per token");
    std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(200));
    assert_eq!(
        get(addr, "/api/v1/whoami", &analyst).status,
        200,
        "recovered"
    );

    // Bodies over the limit: 413, whether declared or streamed.
    let big = format!(r#"{{"name":"{}","role":"analyst"}}"#, "x".repeat(4000));
    let r = call(addr, "POST", "/api/v1/tokens", Some(&admin), &big);
    assert_eq!(
        (r.status, r.code().as_str()),
        (413, "too_large"),
        "{}",
        r.body
    );
    let mut s = connect(addr);
    write!(
        s,
        "POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    for _ in 0..4 {
        let chunk = "y".repeat(1000);
        let _ = write!(s, "{:x}\r\n{chunk}\r\n", chunk.len());
    }
    let _ = write!(s, "0\r\n\r\n");
    let r = read_response(s).unwrap();
    assert_eq!(
        (r.status, r.code().as_str()),
        (413, "too_large"),
        "{}",
        r.body
    );
    std::thread::sleep(Duration::from_secs(1)); // refill the admin's bucket

    // A request head over the limit: 431.
    let huge = "a".repeat(40_000);
    let r = exchange(
        connect(addr),
        "GET",
        "/api/v1/whoami",
        &[("X-Big", &huge)],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 431);

    // A request that does not complete in time (here: its body never comes) gets 503.
    let mut s = connect(addr);
    write!(
        s,
        "POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
         Content-Length: 100\r\nConnection: close\r\n\r\n{{\"name\""
    )
    .unwrap();
    let r = read_response(&mut s).unwrap();
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "timeout"),
        "{}",
        r.body
    );

    // CORS for the listed origin only.
    let pre = |origin: &str| {
        exchange(
            connect(addr),
            "OPTIONS",
            "/api/v1/whoami",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
            b"",
        )
        .unwrap()
    };
    let ok = pre("https://soc.example.gov");
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://soc.example.gov")
    );
    assert!(ok
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    let other = pre("https://evil.example");
    assert_eq!(other.status, 403);
    assert!(other.header("access-control-allow-origin").is_none());
    std::thread::sleep(Duration::from_secs(1));
    let r = exchange(
        connect(addr),
        "GET",
        "/api/v1/whoami",
        &[
            ("Authorization", &format!("Bearer {admin}")),
            ("Origin", "https://soc.example.gov"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://soc.example.gov")
    );

    // Security headers outside the API too.
    let r = exchange(connect(addr), "GET", "/healthz", &[], b"").unwrap();
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));

    // Guessing tokens: after the allowed failures the address gets 429, even with a valid
    // token, so the guesser learns nothing more. (Last: it locks this client out.)
    let mut failures = 0;
    let blocked = loop {
        let r = get(addr, "/api/v1/whoami", &format!("ncsoc_guess{failures}"));
        if r.status == 429 {
            break r;
        }
        assert_eq!(r.status, 401);
        failures += 1;
        assert!(failures <= 20, "guessing is never slowed down");
    };
    assert!(failures >= 6, "only {failures} failures were allowed");
    assert!(blocked.header("retry-after").is_some());
    assert_eq!(get(addr, "/api/v1/whoami", &admin).status, 429);
    assert!(common::metric(addr, "ncsoc_api_auth_failures_total") >= 6);
    assert!(common::metric(addr, "ncsoc_api_rate_limited_total{limit=\"token\"}") >= 1);
    drop(server);
}

/// A rustls client trusting only `cert`, for at most `versions`.
fn tls_connect(
    addr: SocketAddr,
    cert: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::IpAddress(addr.ip().into()))
            .unwrap();
    let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    sock.set_read_timeout(Some(Duration::from_secs(20)))?;
    Ok(rustls::StreamOwned::new(conn, sock))
}

fn https(addr: SocketAddr, cert: &Path, path: &str, token: Option<&str>) -> std::io::Result<Resp> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let versions = rustls::DEFAULT_VERSIONS;
    exchange(
        tls_connect(addr, cert, versions)?,
        "GET",
        path,
        &headers,
        b"",
    )
}

#[test]
fn the_api_speaks_tls_with_the_configured_certificate() {
    if !have("openssl") {
        eprintln!("SKIP: `openssl` is not installed (the README's test set-up installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (cert, key) = common::make_cert(dir.path());
    let (_, analyst) = token(&data, &["--role", "analyst", "--name", "alice"]);

    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .arg("serve")
        .env("NCSOC_SERVER__LISTEN", addr.to_string())
        .env("NCSOC_STORE__DATA_DIR", &data)
        .env("NCSOC_SERVER__TLS_CERT", &cert)
        .env("NCSOC_SERVER__TLS_KEY", &key)
        .env("NCSOC_API__SECURITY__HANDSHAKE_TIMEOUT_SECS", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ncsoc serve");
    let server = Server::adopt(child, addr);
    let start = Instant::now();
    while https(addr, &cert, "/healthz", None).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no HTTPS on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let r = https(addr, &cert, "/api/v1/whoami", Some(&analyst)).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "alice");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    // TLS 1.2 and 1.3 both.
    for v in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let s = tls_connect(addr, &cert, &[v]).unwrap();
        let r = exchange(s, "GET", "/healthz", &[], b"").unwrap();
        assert_eq!(r.status, 200, "{v:?}");
    }
    // A client that does not trust the certificate is refused by its own side.
    let other = tempfile::tempdir().unwrap();
    let (stranger, _) = common::make_cert(other.path());
    assert!(https(addr, &stranger, "/healthz", None).is_err());

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut s = connect(addr);
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    assert!(
        !String::from_utf8_lossy(&back).contains("HTTP/1.1"),
        "plain HTTP was answered: {:?}",
        String::from_utf8_lossy(&back)
    );

    // A client that connects and never starts the handshake is dropped.
    let mut idle = connect(addr);
    let mut buf = [0u8; 16];
    let n = idle
        .read(&mut buf)
        .expect("the server closes, it does not hang");
    assert_eq!(n, 0);

    // curl, as a person would, trusting the test certificate.
    if have("curl") {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&cert)
            .args(["-H", &format!("Authorization: Bearer {analyst}")])
            .arg(format!("https://127.0.0.1:{}/api/v1/whoami", addr.port()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"alice\""));
    }

    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    assert!(log.contains("tls=true"), "{log}");
    assert!(!log.contains(&analyst[6..]));
}

#[test]
fn forwarder_tokens_ingest_on_the_http_intake_for_their_sector_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (fwd_id, forwarder) = token(
        data,
        &[
            "--role",
            "forwarder",
            "--sectors",
            "energy",
            "--name",
            "grid-siem",
        ],
    );
    let (_, analyst) = token(data, &["--role", "analyst", "--name", "alice"]);
    let hec: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let hec_listen = hec.to_string();
    let server = Server::start(data, &[("NCSOC_INTAKE__HEC__LISTEN", hec_listen.as_str())]);
    let send = |token: &str| {
        let auth = format!("Splunk {token}");
        // The body claims another sector; the token decides.
        let body = br#"{"event": "<34>Oct 11 22:14:15 plc1 sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2", "fields": {"ncsoc.sector": "finance"}}"#;
        exchange(
            connect(hec),
            "POST",
            "/services/collector/event",
            &[("Authorization", auth.as_str())],
            body,
        )
        .unwrap()
    };
    let r = send(&forwarder);
    assert_eq!(r.status, 200, "{}", r.body);
    let parsed = r#"ncsoc_intake_parsed_total{listener="hec",sector="energy",source="grid-siem"}"#;
    assert_eq!(common::metric(server.addr, parsed), 1);
    assert_eq!(
        common::metric(
            server.addr,
            r#"ncsoc_intake_parsed_total{listener="hec",sector="finance""#
        ),
        0
    );
    // Analyst tokens do not ingest; unknown and revoked ones neither.
    assert_eq!(send(&analyst).status, 403);
    assert_eq!(send("ncsoc_0000").status, 403);
    let (ok, _, err) = ncsoc(data, &["token", "revoke", &fwd_id]);
    assert!(ok, "{err}");
    assert_eq!(send(&forwarder).status, 403);
    assert_eq!(common::metric(server.addr, parsed), 1);
}
