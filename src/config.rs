//! `ncsoc.toml`: one typed file, every key documented in `ncsoc.example.toml`.
//!
//! Unknown keys are rejected with their full path. Any key can be overridden from the
//! environment as `NCSOC_<SECTION>__<KEY>` (path segments joined by a double underscore,
//! e.g. `NCSOC_STORE__CLICKHOUSE__PASSWORD`); values are read as TOML (numbers, booleans)
//! and otherwise taken as strings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ncsoc_collectors::IntakeConfig;
use ncsoc_detector::DetectorConfig;
use ncsoc_store::StoreConfig;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub intake: IntakeConfig,
    pub detector: DetectorConfig,
    pub rules: RulesConfig,
    pub api: ncsoc_api::ApiConfig,
    pub intel: crate::intel::IntelConfig,
    /// The bus between intake and analysis nodes (`ncsoc serve --role intake|analyze`).
    pub kafka: ncsoc_collectors::kafka::KafkaConfig,
}

/// `[rules]`: Sigma and threshold rules evaluated by the detector (see rules/README.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Evaluate rules at all.
    pub enabled: bool,
    /// The rules folder. Unset: `rules/` in the working directory, when there is one
    /// (the folder shipped with ncsoc).
    pub dir: Option<PathBuf>,
    /// How often `ncsoc serve` looks for changed rule files, seconds; 0: never reload.
    pub reload_secs: u64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
            reload_secs: 5,
        }
    }
}

impl RulesConfig {
    /// The folder to load, if rules are on and one is there.
    pub fn folder(&self) -> Option<PathBuf> {
        if !self.enabled {
            return None;
        }
        match &self.dir {
            Some(d) => Some(d.clone()),
            None => Some(PathBuf::from("rules")).filter(|d| d.is_dir()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where `/healthz`, `/metrics` and the analyst API listen. Loopback by default.
    pub listen: SocketAddr,
    /// Log filter (`info`, `ncsoc_store=debug,info`, ...); `RUST_LOG` wins when set.
    pub log: String,
    /// PEM certificate chain: with `tls_key`, the listener speaks HTTPS only (TLS 1.2+).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            log: "info".into(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl ServerConfig {
    fn validate(&self) -> anyhow::Result<()> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => Ok(()),
            (Some(c), Some(k)) => {
                for (key, p) in [("server.tls_cert", c), ("server.tls_key", k)] {
                    if !p.is_file() {
                        bail!("config key `{key}`: {} is not a readable file", p.display());
                    }
                }
                Ok(())
            }
            _ => bail!("config keys `server.tls_cert` and `server.tls_key` go together"),
        }
    }

    /// Both TLS files, when TLS is on.
    pub fn tls(&self) -> Option<(&Path, &Path)> {
        Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?))
    }
}

const ENV_PREFIX: &str = "NCSOC_";

impl Config {
    /// Reads `path` (or the defaults when `None`), then applies `env` overrides.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config {}", p.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("{} is not valid TOML", p.display()))?
            }
            None => toml::Table::new(),
        };
        for (k, v) in env {
            let Some(rest) = k.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if !rest.contains("__") {
                continue; // NCSOC_FOO without a section is not a config override
            }
            let keys: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            if keys.iter().any(String::is_empty) {
                bail!("environment variable {k}: empty key segment");
            }
            set_path(&mut table, &keys, parse_env_value(&v))
                .with_context(|| format!("environment variable {k}"))?;
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let at = e.path().to_string();
                anyhow::anyhow!("config key `{at}`: {}", e.into_inner())
            })?;
        config.store.validate()?;
        config.intake.validate().map_err(anyhow::Error::msg)?;
        config.detector.validate().map_err(anyhow::Error::msg)?;
        config.api.webhooks.validate().map_err(anyhow::Error::msg)?;
        config.server.validate()?;
        config.intel.validate().map_err(anyhow::Error::msg)?;
        config.api.security.validate().map_err(anyhow::Error::msg)?;
        config.kafka.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
    }
}

fn parse_env_value(v: &str) -> toml::Value {
    format!("x = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("x"))
        .unwrap_or_else(|| toml::Value::String(v.to_string()))
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> anyhow::Result<()> {
    let (last, parents) = keys.split_last().context("empty key")?;
    let mut t = table;
    for k in parents {
        let entry = t
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(inner) => inner,
            _ => bail!("`{k}` is not a section"),
        };
    }
    t.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_run_on_one_machine() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.store.backend, ncsoc_store::Backend::Sqlite);
        assert!(c.server.listen.ip().is_loopback());
    }

    #[test]
    fn example_file_is_complete_and_valid() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("ncsoc.example.toml");
        let c = Config::load(Some(&p), env(&[])).unwrap();
        assert_eq!(c.store.batch_size, StoreConfig::default().batch_size);
        assert_eq!(c.intake.syslog.len(), 2);
        assert_eq!(c.intake.hec.as_ref().map(|h| h.tokens.len()), Some(1));
        assert_eq!(c.intake.flows.len(), 1);
        assert_eq!(c.intake.flows[0].exporters.len(), 2);
        // Every detector key is written out, with the defaults.
        let d = ncsoc_detector::DetectorConfig::default();
        assert_eq!(
            serde_json::to_value(&c.detector).unwrap(),
            serde_json::to_value(&d).unwrap()
        );
        let text = std::fs::read_to_string(&p).unwrap();
        let table: toml::Table = text.parse().unwrap();
        let written = serde_json::to_value(&table["detector"]).unwrap();
        assert_eq!(
            written.as_object().unwrap().len(),
            serde_json::to_value(&d).unwrap().as_object().unwrap().len(),
            "every [detector] key is in the example"
        );
    }

    #[test]
    fn every_intel_key_is_in_the_example() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("ncsoc.example.toml");
        let c = Config::load(Some(&p), env(&[])).unwrap();
        let d = crate::intel::IntelConfig::default();
        assert_eq!(
            serde_json::to_value(&c.intel).unwrap(),
            serde_json::to_value(&d).unwrap(),
            "the example shows the defaults"
        );
        let text = std::fs::read_to_string(&p).unwrap();
        for key in [
            "reload_secs = ",
            "max_indicators = ",
            "# name = ",
            "# url = ",
            "# collection = ",
            "# auth = ",
            "# secret_env = ",
            "# interval_secs = ",
            "# page_size = ",
            "# max_page_bytes = ",
            "# timeout_secs = ",
            "# source = ",
            "# ca_file = ",
        ] {
            assert!(text.contains(key), "{key} is documented");
        }
        // The commented TAXII example is a valid collection.
        let start = text.find("# [[intel.taxii]]").unwrap();
        let block: String = text[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("# "))
            .filter(|l| !l.starts_with("# #"))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        let t: ncsoc_collectors::taxii::TaxiiConfig = toml::from_str(&block).unwrap();
        t.validate().unwrap();
    }

    #[test]
    fn every_api_security_key_is_in_the_example() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("ncsoc.example.toml");
        let c = Config::load(Some(&p), env(&[])).unwrap();
        let d = ncsoc_api::SecurityConfig::default();
        assert_eq!(
            serde_json::to_value(&c.api.security).unwrap(),
            serde_json::to_value(&d).unwrap(),
            "the example shows the defaults"
        );
        let text = std::fs::read_to_string(&p).unwrap();
        let table: toml::Table = text.parse().unwrap();
        let written = serde_json::to_value(&table["api"]["security"]).unwrap();
        assert_eq!(
            written.as_object().unwrap().len(),
            serde_json::to_value(&d).unwrap().as_object().unwrap().len(),
            "every [api.security] key is in the example"
        );
        for key in ["tls_cert", "tls_key"] {
            assert!(text.contains(&format!("# {key} = ")), "{key} is documented");
        }
    }

    #[test]
    fn security_mistakes_are_named() {
        for (k, v, needle) in [
            ("NCSOC_SERVER__TLS_CERT", "/nonexistent.pem", "go together"),
            (
                "NCSOC_API__SECURITY__MAX_BODY_BYTES",
                "10",
                "max_body_bytes",
            ),
            (
                "NCSOC_API__SECURITY__RATE_LIMIT_PER_SECOND",
                "-1",
                "rate_limit_per_second",
            ),
            (
                "NCSOC_API__SECURITY__CORS_ORIGINS",
                "[\"*\"]",
                "cors_origins[0]",
            ),
        ] {
            let err = format!("{:#}", Config::load(None, env(&[(k, v)])).unwrap_err());
            assert!(err.contains(needle), "{k}: {err}");
        }
        let err = format!(
            "{:#}",
            Config::load(
                None,
                env(&[
                    ("NCSOC_SERVER__TLS_CERT", "/nonexistent.pem"),
                    ("NCSOC_SERVER__TLS_KEY", "/nonexistent.key"),
                ])
            )
            .unwrap_err()
        );
        assert!(err.contains("server.tls_cert"), "{err}");
    }

    #[test]
    fn intake_mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        for (text, needle) in [
            (
                "[[intake.syslog]]\nprotocol = \"tls\"\nlisten = \"127.0.0.1:1\"\nsector = \"a\"\nsource = \"b\"\n",
                "tls_cert",
            ),
            (
                "[[intake.syslog]]\nprotocol = \"udp\"\nlisten = \"127.0.0.1:1\"\nsector = \"a\"\nsource = \"b\"\nallowed_senders = [\"10.0.0.0/40\"]\n",
                "intake.syslog[0].allowed_senders",
            ),
            (
                "[intake.hec]\nlisten = \"127.0.0.1:1\"\n[[intake.hec.tokens]]\nname = \"t\"\ntoken_sha256 = \"secret\"\nsector = \"a\"\nsource = \"b\"\n",
                "token_sha256",
            ),
            (
                "[[intake.syslog]]\nprotocol = \"udp\"\nlisten = \"127.0.0.1:1\"\nsector = \"a\"\nsource = \"b\"\nformat = \"xml\"\n",
                "unknown format",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let err = format!("{:#}", Config::load(Some(&p), env(&[])).unwrap_err());
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[store.clickhouse]\nurl = \"http://x:1\"\nhots = 1\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p), env(&[])).unwrap_err());
        assert!(
            err.contains("store.clickhouse") && err.contains("hots"),
            "{err}"
        );
    }

    #[test]
    fn environment_overrides_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[store]\nbatch_size = 10\n").unwrap();
        let c = Config::load(
            Some(&p),
            env(&[
                ("NCSOC_STORE__BATCH_SIZE", "500"),
                ("NCSOC_STORE__BACKEND", "clickhouse"),
                ("NCSOC_STORE__CLICKHOUSE__URL", "http://127.0.0.1:18123"),
                ("NCSOC_TEST_CLICKHOUSE_URL", "ignored: no section"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.store.batch_size, 500);
        assert_eq!(c.store.backend, ncsoc_store::Backend::Clickhouse);
        assert_eq!(c.store.clickhouse.url, "http://127.0.0.1:18123");
        let err = format!(
            "{:#}",
            Config::load(None, env(&[("NCSOC_STORE__NOPE", "1")])).unwrap_err()
        );
        assert!(err.contains("store.nope") || err.contains("nope"), "{err}");
    }

    #[test]
    fn invalid_values_are_rejected() {
        let err = format!(
            "{:#}",
            Config::load(None, env(&[("NCSOC_STORE__BATCH_SIZE", "0")])).unwrap_err()
        );
        assert!(err.contains("batch_size"), "{err}");
        let err = format!(
            "{:#}",
            Config::load(None, env(&[("NCSOC_SERVER__LISTEN", "not-an-address")])).unwrap_err()
        );
        assert!(err.contains("server.listen"), "{err}");
    }
}
