//! `ncsoc token create|list|revoke`: API tokens in the control store of the configured
//! data directory (`<data_dir>/control.db`, SQLite in WAL mode, so this works while
//! `ncsoc serve` runs; a revoked token is refused from its next request on).
//!
//! A created token's secret is printed once, on stdout, and never stored: only its
//! SHA-256 digest is. Every create and revoke is written to the audit log, with the actor
//! `cli:<user>`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use ncsoc_model::Timestamp;
use ncsoc_store::control::{AuditEntry, Role};
use ncsoc_store::ControlStore;

use crate::config::Config;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once) on stdout; its id, role, sectors and expiry go
    /// to stderr, or with --json everything goes to stdout as one JSON object.
    Create {
        /// forwarder (ingest for one sector), analyst (read and work incidents) or admin.
        #[arg(long)]
        role: String,
        /// Comma-separated sectors (a-z, 0-9, `_`, `-`). A forwarder needs exactly one; an
        /// analyst without any sees every sector; an admin has none.
        #[arg(long, value_delimiter = ',')]
        sectors: Vec<String>,
        /// Who or what uses it (the actor in the audit log); defaults to the role.
        #[arg(long)]
        name: Option<String>,
        /// A lifetime (90s, 45m, 12h, 30d, 2w) or an RFC 3339 time; none: no expiry.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// List the tokens (never their secrets).
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Revoke a token by id: it is refused from its next request on.
    Revoke {
        id: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn open(config: Option<&std::path::Path>) -> anyhow::Result<ControlStore> {
    let cfg = Config::load(config, std::env::vars())?;
    ControlStore::open(&cfg.store.data_dir).with_context(|| {
        format!(
            "opening the control store in {}",
            cfg.store.data_dir.display()
        )
    })
}

fn audit(
    control: &ControlStore,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    control
        .append_audit(&AuditEntry {
            seq: 0,
            at: Timestamp::now(),
            token_id: String::new(),
            actor: format!("cli:{user}"),
            role: "cli".into(),
            action: action.into(),
            target: target.into(),
            outcome: "ok".into(),
            detail,
        })
        .context("writing the audit log")?;
    Ok(())
}

fn show(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".into(), |t| t.to_rfc3339())
}

pub fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            role,
            sectors,
            name,
            expires,
            json,
            config,
        } => {
            let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
            let now = Timestamp::now();
            let expires_at = expires
                .as_deref()
                .map(|e| ncsoc_api::auth::parse_expiry(e, now))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let name = name.unwrap_or_else(|| role.as_str().to_string());
            let sectors: Vec<String> = sectors
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            ncsoc_api::auth::validate_new_token(&name, role, &sectors)
                .map_err(anyhow::Error::msg)?;
            if expires_at.is_some_and(|e| e <= now) {
                bail!("--expires: must be in the future");
            }
            let control = open(config.as_deref())?;
            let (rec, secret) = control.create_token(&name, role, &sectors, expires_at)?;
            let detail = serde_json::json!({
                "name": rec.name, "role": rec.role.as_str(), "sectors": rec.sectors,
                "expires_at": rec.expires_at,
            });
            if let Err(e) = audit(&control, "token.create", &rec.id, detail) {
                let _ = control.revoke_token(&rec.id, Timestamp::now());
                return Err(e.context("the token was not audited, so it is revoked"));
            }
            if json {
                let mut v = serde_json::to_value(&rec)?;
                v["token"] = serde_json::Value::String(secret);
                println!("{v}");
            } else {
                println!("{secret}");
                eprintln!(
                    "created {} (name {}, role {}, sectors {}, expires {}); the token above is shown only now",
                    rec.id,
                    rec.name,
                    rec.role.as_str(),
                    if rec.sectors.is_empty() {
                        "all".into()
                    } else {
                        rec.sectors.join(",")
                    },
                    show(rec.expires_at),
                );
            }
            Ok(())
        }
        TokenCommand::List { json, config } => {
            let control = open(config.as_deref())?;
            let tokens = control.tokens()?;
            if json {
                println!("{}", serde_json::to_string(&tokens)?);
                return Ok(());
            }
            let now = Timestamp::now();
            println!(
                "{:<22} {:<10} {:<20} {:<24} {:<8} {:<24} LAST USED",
                "ID", "ROLE", "NAME", "SECTORS", "STATE", "EXPIRES"
            );
            for t in tokens {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if !t.is_usable_at(now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<22} {:<10} {:<20} {:<24} {:<8} {:<24} {}",
                    t.id,
                    t.role.as_str(),
                    t.name,
                    if t.sectors.is_empty() {
                        "all".into()
                    } else {
                        t.sectors.join(",")
                    },
                    state,
                    show(t.expires_at),
                    show(t.last_used_at),
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { id, config } => {
            let control = open(config.as_deref())?;
            let Some(rec) = control.token(&id)? else {
                bail!("no token `{id}` (see `ncsoc token list`)");
            };
            if rec.revoked_at.is_some() {
                bail!("token `{id}` is already revoked");
            }
            audit(
                &control,
                "token.revoke",
                &rec.id,
                serde_json::json!({"name": rec.name, "role": rec.role.as_str()}),
            )?;
            if !control.revoke_token(&id, Timestamp::now())? {
                bail!("token `{id}` is already revoked");
            }
            eprintln!("revoked {id} ({})", rec.name);
            Ok(())
        }
    }
}
