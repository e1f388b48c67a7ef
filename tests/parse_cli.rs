//! `ncsoc parse` as DESIGN §5 states it: lines on stdin, one event per line as JSON on
//! stdout, a JSON error record with the line number on stderr for a bad line, exit 0.

use std::io::Write;
use std::process::{Command, Stdio};

fn parse(args: &[&str], input: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .arg("parse")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn good_lines_become_events_and_bad_lines_errors_with_their_number() {
    let input = b"<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - 'su root' failed\r\n\
        \xff\xfe not a syslog line\n\
        \n\
        <13>Feb  5 17:32:18 10.0.0.99 sshd[42]: Accepted password for admin\n";
    let (code, out, err) = parse(&["--format", "syslog", "--sector", "energy"], input);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{out}");
    assert_eq!(events[0]["@timestamp"], "2003-10-11T22:14:15.003Z");
    assert_eq!(events[0]["ncsoc.sector"], "energy");
    assert_eq!(events[0]["ncsoc.source"], "stdin");
    assert_eq!(events[0]["host.name"], "mymachine");
    assert_eq!(events[1]["process.pid"], 42);
    assert_eq!(
        events[1]["event.original"],
        "<13>Feb  5 17:32:18 10.0.0.99 sshd[42]: Accepted password for admin"
    );
    let errors: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(errors[0]["line"], 2);
    assert_eq!(errors[0]["format"], "syslog");
    assert!(errors[0]["error"].as_str().unwrap().contains("byte"));
}

#[test]
fn an_unknown_format_is_refused() {
    let (code, _, err) = parse(&["--format", "xml"], b"x\n");
    assert_ne!(code, 0);
    assert!(err.contains("unknown format"), "{err}");
}
