//! API tokens. Only a SHA-256 digest of each token is stored; the token itself is shown
//! once, when it is created. Tokens are 32 random bytes, so a plain digest is enough (no
//! password hashing needed: there is nothing to guess).

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{json_list, parse_json_list, ControlStore};
use crate::{Result, Scope, StoreError};
use ncsoc_model::Timestamp;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    sectors TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    last_used_at INTEGER
);";

/// What a token may do. Forwarders only ingest (on the intake listener, for their own
/// sector); analysts read and work incidents, optionally limited to sectors; admins also
/// manage tokens, webhooks, indicators and read the audit log.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Forwarder,
    Analyst,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Forwarder => "forwarder",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "forwarder" => Ok(Role::Forwarder),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::BadQuery(format!(
                "unknown role `{}` (forwarder, analyst, admin)",
                other.chars().take(32).collect::<String>()
            ))),
        }
    }
}

/// A token as stored (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Empty: every sector.
    pub sectors: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl TokenRecord {
    /// The sectors this token may read.
    pub fn scope(&self) -> Scope {
        if self.sectors.is_empty() {
            Scope::All
        } else {
            Scope::Sectors(self.sectors.clone())
        }
    }

    pub fn is_usable_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// Hex SHA-256 of a token, as stored and as written in `ncsoc.toml` for intake tokens.
pub fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Unavailable(format!("no randomness for a token: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn read_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    let role: String = r.get(2)?;
    let sectors: String = r.get(3)?;
    Ok(TokenRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: role.parse().unwrap_or(Role::Forwarder),
        sectors: parse_json_list(&sectors),
        created_at: Timestamp(r.get(4)?),
        expires_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        revoked_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
        last_used_at: r.get::<_, Option<i64>>(7)?.map(Timestamp),
    })
}

const COLUMNS: &str = "id, name, role, sectors, created_at, expires_at, revoked_at, last_used_at";

impl ControlStore {
    /// Creates a token and returns its record and the secret, which is not kept.
    pub fn create_token(
        &self,
        name: &str,
        role: Role,
        sectors: &[String],
        expires_at: Option<Timestamp>,
    ) -> Result<(TokenRecord, String)> {
        let id = format!("tok_{}", random_hex(8)?);
        let secret = format!("ncsoc_{}", random_hex(32)?);
        let mut sectors = sectors.to_vec();
        sectors.sort();
        sectors.dedup();
        let rec = TokenRecord {
            id,
            name: name.to_string(),
            role,
            sectors,
            created_at: Timestamp::now(),
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let d = digest(&secret);
        self.call(|c| {
            c.execute(
                "INSERT INTO tokens (id, name, digest, role, sectors, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    rec.id,
                    rec.name,
                    d,
                    rec.role.as_str(),
                    json_list(&rec.sectors),
                    rec.created_at.nanos(),
                    rec.expires_at.map(|t| t.nanos())
                ],
            )
        })?;
        Ok((rec, secret))
    }

    /// The token whose secret this is, if it exists, is not revoked and has not expired
    /// at `now`. Records the use.
    pub fn verify_token(&self, secret: &str, now: Timestamp) -> Result<Option<TokenRecord>> {
        let d = digest(secret);
        let rec = self.call(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM tokens WHERE digest = ?1"),
                [&d],
                read_record,
            )
            .optional()
        })?;
        let Some(rec) = rec.filter(|r| r.is_usable_at(now)) else {
            return Ok(None);
        };
        // Coarse (one write a minute per token at most), so verifying stays a read.
        if rec
            .last_used_at
            .is_none_or(|t| now.nanos() - t.nanos() > 60_000_000_000)
        {
            self.call(|c| {
                c.execute(
                    "UPDATE tokens SET last_used_at = ?1 WHERE id = ?2",
                    params![now.nanos(), rec.id],
                )
            })?;
        }
        Ok(Some(rec))
    }

    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.call(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM tokens ORDER BY created_at, id"
            ))?;
            let rows = st.query_map([], read_record)?;
            rows.collect()
        })
    }

    pub fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.call(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1"),
                [id],
                read_record,
            )
            .optional()
        })
    }

    /// Revokes a token; false when there is no such token or it was already revoked.
    pub fn revoke_token(&self, id: &str, now: Timestamp) -> Result<bool> {
        let n = self.call(|c| {
            c.execute(
                "UPDATE tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
                params![now.nanos(), id],
            )
        })?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_revoked_or_expired() {
        let c = ControlStore::in_memory().unwrap();
        let (rec, secret) = c
            .create_token(
                "alice",
                Role::Analyst,
                &["finance".into(), "energy".into()],
                Some(Timestamp::from_secs(2_000)),
            )
            .unwrap();
        assert!(secret.starts_with("ncsoc_") && secret.len() == 6 + 64);
        assert_eq!(rec.sectors, vec!["energy", "finance"]);
        let got = c
            .verify_token(&secret, Timestamp::from_secs(1_000))
            .unwrap()
            .unwrap();
        assert_eq!(got.id, rec.id);
        assert_eq!(
            got.scope(),
            Scope::Sectors(vec!["energy".into(), "finance".into()])
        );
        assert!(c
            .verify_token("ncsoc_wrong", Timestamp::from_secs(1_000))
            .unwrap()
            .is_none());
        assert!(
            c.verify_token(&secret, Timestamp::from_secs(2_000))
                .unwrap()
                .is_none(),
            "expired"
        );
        assert!(c
            .revoke_token(&rec.id, Timestamp::from_secs(1_500))
            .unwrap());
        assert!(!c
            .revoke_token(&rec.id, Timestamp::from_secs(1_500))
            .unwrap());
        assert!(
            c.verify_token(&secret, Timestamp::from_secs(1_000))
                .unwrap()
                .is_none(),
            "revoked"
        );
        // The secret is nowhere in the database.
        let all: String = c
            .call(|c| {
                c.query_row(
                    "SELECT group_concat(id || name || digest) FROM tokens",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert!(!all.contains(&secret[6..]));
    }
}
