//! National incidents (DESIGN §5): what the detector opens and analysts work.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    PortScan,
    Ddos,
    BruteForce,
    Exfiltration,
    Beaconing,
    DnsTunnel,
    VolumeAnomaly,
    IocMatch,
    Sigma,
    Threshold,
    Campaign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// Lifecycle: new → acknowledged → in_progress → resolved → closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Acknowledged,
    InProgress,
    Resolved,
    Closed,
}

macro_rules! str_names {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub const ALL: &'static [$t] = &[$(<$t>::$v),*];
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }
        }
        impl std::str::FromStr for $t {
            type Err = crate::ModelError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok(<$t>::$v),)*
                    _ => Err(crate::ModelError::UnknownName { what: stringify!($t), name: s.chars().take(64).collect() }),
                }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_names!(IncidentKind {
    PortScan => "port_scan", Ddos => "ddos", BruteForce => "brute_force", Exfiltration => "exfiltration",
    Beaconing => "beaconing", DnsTunnel => "dns_tunnel", VolumeAnomaly => "volume_anomaly",
    IocMatch => "ioc_match", Sigma => "sigma", Threshold => "threshold", Campaign => "campaign",
});
str_names!(Severity { Low => "low", Medium => "medium", High => "high", Critical => "critical" });
str_names!(Status {
    New => "new", Acknowledged => "acknowledged", InProgress => "in_progress", Resolved => "resolved", Closed => "closed",
});

impl Status {
    /// Whether an analyst may move an incident from `self` to `next`. Forward steps may
    /// skip intermediate states; a resolved or closed incident may be reopened as new.
    pub fn can_move_to(self, next: Status) -> bool {
        use Status::*;
        match (self, next) {
            (a, b) if a == b => false,
            (Resolved | Closed, New) => true,
            (Closed, _) => false,
            (a, b) => b > a,
        }
    }
}

/// Something an incident is about: an address, a /24, a domain, a user, an indicator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entity {
    /// `ip`, `cidr`, `domain`, `url`, `user`, `host`, `hash`, `indicator`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    /// `attacker`, `victim`, `c2`, `scanner`, `target`, ...
    pub role: String,
}

/// One detector signal behind an incident, with the numbers that justify it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Evidence {
    pub at: Timestamp,
    pub sector: String,
    /// The detector or rule family: `nbad.port_scan`, `sigma`, `ioc`, ...
    pub signal: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The window the figures were computed over, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<String>,
    /// The TLP of the indicator material in this evidence: TLP:RED and AMBER+STRICT
    /// evidence is shown only to analysts of the sector it was seen in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlp: Option<crate::Tlp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_event_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub at: Timestamp,
    pub author: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub kind: IncidentKind,
    pub severity: Severity,
    /// 0 to 100.
    pub score: u8,
    pub status: Status,
    pub sectors: Vec<String>,
    pub entities: Vec<Entity>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// MITRE ATT&CK technique ids (`T1046`, ...).
    #[serde(default)]
    pub attack: Vec<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub notes: Vec<Note>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Same key, same incident: repeated signals update it instead of opening another.
    #[serde(default)]
    pub dedup_key: String,
    /// How many signals were folded into it.
    #[serde(default)]
    pub signal_count: u64,
    /// Wall-clock time of the last change, for sync and webhooks.
    #[serde(default)]
    pub updated_at: Timestamp,
    /// Set when an analyst merged this incident into another: it is closed, and later
    /// signals of it are folded into that one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// The incidents merged into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// The part of `signal_count` that came with merged incidents.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub merged_signal_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_transitions() {
        use Status::*;
        assert!(New.can_move_to(Acknowledged));
        assert!(New.can_move_to(Resolved));
        assert!(!Acknowledged.can_move_to(New));
        assert!(Resolved.can_move_to(New));
        assert!(Resolved.can_move_to(Closed));
        assert!(!Closed.can_move_to(InProgress));
        assert!(!New.can_move_to(New));
    }

    #[test]
    fn names_match_serde() {
        for k in IncidentKind::ALL {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::from(k.as_str())
            );
            assert_eq!(k.as_str().parse::<IncidentKind>().unwrap(), *k);
        }
        for s in Status::ALL {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::from(s.as_str())
            );
        }
        assert!("bogus".parse::<Severity>().is_err());
    }
}
