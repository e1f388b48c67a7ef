//! Threat indicators shared by CERTs (STIX 2.1, MISP) and matched against events and flows.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IndicatorKind {
    Ipv4,
    Ipv6,
    /// An IPv4 or IPv6 prefix.
    Cidr,
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
}

/// Traffic Light Protocol 2.0 marking; decides who may see what an indicator matched.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum Tlp {
    #[default]
    Clear,
    Green,
    Amber,
    #[serde(rename = "amber+strict")]
    AmberStrict,
    Red,
}

impl IndicatorKind {
    /// The name as serialised (`ipv4`, `sha256`, ...), as stores keep it in a column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Cidr => "cidr",
            Self::Domain => "domain",
            Self::Url => "url",
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Email => "email",
        }
    }
}

impl Tlp {
    /// The name as serialised (`clear`, `amber+strict`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clear => "clear",
            Self::Green => "green",
            Self::Amber => "amber",
            Self::AmberStrict => "amber+strict",
            Self::Red => "red",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    pub id: String,
    pub kind: IndicatorKind,
    pub value: String,
    /// The feed or CERT it came from.
    pub source: String,
    #[serde(default)]
    pub confidence: Option<u8>,
    pub valid_from: Timestamp,
    #[serde(default)]
    pub valid_until: Option<Timestamp>,
    #[serde(default)]
    pub tlp: Tlp,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

impl Indicator {
    /// Whether it applies at event time `t`: expired indicators stop matching.
    pub fn is_valid_at(&self, t: Timestamp) -> bool {
        t >= self.valid_from && self.valid_until.is_none_or(|u| t < u)
    }
}

#[cfg(test)]
mod names {
    use super::*;

    #[test]
    fn names_are_the_serialised_ones() {
        use IndicatorKind::*;
        for k in [Ipv4, Ipv6, Cidr, Domain, Url, Md5, Sha1, Sha256, Email] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for t in [
            Tlp::Clear,
            Tlp::Green,
            Tlp::Amber,
            Tlp::AmberStrict,
            Tlp::Red,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
