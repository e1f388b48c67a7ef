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
