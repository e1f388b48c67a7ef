//! Detector settings: the `[detector]` section of `ncsoc.toml`. Every threshold has a
//! default that suits a sector of a few hundred to a few thousand hosts; memory is bounded
//! by the table capacities here, not by traffic.

use serde::{Deserialize, Serialize};

use crate::obs::Prefix;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Width of the fast time bin, seconds (scans, floods, brute force at full speed).
    pub bin_secs: u32,
    /// Width of the slow bin, seconds (the same detectors at lower rates, exfiltration).
    pub slow_bin_secs: u32,
    /// How late (event time) a record may arrive and still count in its bin.
    pub lateness_secs: u32,
    /// Baseline-driven detectors (volume anomalies, "new destination") stay quiet for
    /// this long after a sector's first record while its baselines learn. Threshold
    /// detectors (scans, floods, brute force, beaconing, DNS tunnels) fire from the start.
    pub warmup_secs: u32,
    /// Internal address space: exfiltration and beaconing are about internal hosts talking
    /// out. Default: RFC 1918, RFC 6598, fc00::/7.
    pub internal: Vec<String>,
    /// Internal scanners an operator already knows about (vulnerability scanners):
    /// their scans of internal addresses are not reported.
    pub known_scanners: Vec<String>,
    /// Per sector and bin: most sources, destinations, (source, destination, port) and
    /// DNS (source, domain) entries tracked. Beyond it the lightest entries are evicted.
    pub max_sources: usize,
    pub max_destinations: usize,
    pub max_pairs: usize,
    /// Long-lived tables: beacon candidates per sector, national attacker table.
    pub max_beacon_pairs: usize,
    pub max_national_sources: usize,
    /// Open incidents kept in memory for dedup and correlation.
    pub max_open_incidents: usize,
    /// Signals that share an entity within this long (event time) join one incident.
    pub correlation_window_secs: u32,

    pub scan: ScanConfig,
    pub flood: FloodConfig,
    pub brute_force: BruteConfig,
    pub exfiltration: ExfilConfig,
    pub beaconing: BeaconConfig,
    pub dns_tunnel: DnsTunnelConfig,
    pub volume: VolumeConfig,
    pub national: NationalConfig,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            bin_secs: 60,
            slow_bin_secs: 600,
            lateness_secs: 30,
            warmup_secs: 86_400,
            internal: [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "100.64.0.0/10",
                "fc00::/7",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            known_scanners: Vec::new(),
            max_sources: 100_000,
            max_destinations: 100_000,
            max_pairs: 100_000,
            max_beacon_pairs: 200_000,
            max_national_sources: 200_000,
            max_open_incidents: 50_000,
            correlation_window_secs: 6 * 3600,
            scan: ScanConfig::default(),
            flood: FloodConfig::default(),
            brute_force: BruteConfig::default(),
            exfiltration: ExfilConfig::default(),
            beaconing: BeaconConfig::default(),
            dns_tunnel: DnsTunnelConfig::default(),
            volume: VolumeConfig::default(),
            national: NationalConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    /// Distinct destinations one source probes in a fast bin (horizontal scan).
    pub hosts_per_bin: u32,
    /// ... and in a slow bin.
    pub hosts_per_slow_bin: u32,
    /// Distinct destination ports one source probes on at most `vertical_max_hosts` hosts.
    pub ports_per_bin: u32,
    pub ports_per_slow_bin: u32,
    pub vertical_max_hosts: u32,
    /// Internal hosts of one sector sweeping in the same bin that make an outbreak.
    pub outbreak_hosts: u32,
    /// Share of the source's TCP attempts that failed (unanswered SYN, reset)...
    pub min_failed_ratio: f64,
    /// ... and how many at least.
    pub min_failed: u64,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            hosts_per_bin: 20,
            hosts_per_slow_bin: 25,
            ports_per_bin: 20,
            ports_per_slow_bin: 25,
            vertical_max_hosts: 3,
            outbreak_hosts: 3,
            min_failed_ratio: 0.3,
            min_failed: 8,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FloodConfig {
    /// Unanswered SYNs to one destination in a fast bin.
    pub syn_per_bin: u64,
    /// UDP records from amplifier source ports to one destination in a fast bin.
    pub reflected_per_bin: u64,
    /// Packets to one destination in a fast bin (volumetric), and at least this many times
    /// the sector's usual busiest destination.
    pub packets_per_bin: u64,
    pub over_usual_top: f64,
    /// Distinct sources the flood must come from (fan-in).
    pub min_sources: u32,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            syn_per_bin: 200,
            reflected_per_bin: 200,
            packets_per_bin: 100_000,
            over_usual_top: 5.0,
            min_sources: 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BruteConfig {
    /// Ports of password-protected services.
    pub ports: Vec<u16>,
    /// Short sessions or failed logins from one source to one service in a fast bin...
    pub attempts_per_bin: u64,
    /// ... or in a slow bin, from an internal source...
    pub attempts_per_slow_bin: u64,
    /// ... or from an external one (password guessing from the Internet is slow on
    /// purpose; internal automation such as monitoring checks is not held to this).
    pub attempts_per_slow_bin_external: u64,
}

impl Default for BruteConfig {
    fn default() -> Self {
        Self {
            ports: vec![
                21, 22, 23, 25, 110, 143, 389, 445, 465, 587, 993, 995, 1433, 3306, 3389, 5432,
                5900, 8443,
            ],
            attempts_per_bin: 10,
            attempts_per_slow_bin: 30,
            attempts_per_slow_bin_external: 8,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExfilConfig {
    /// Bytes an internal host uploads to one external destination in a slow bin.
    pub bytes_per_slow_bin: u64,
    /// Upload over download for the pair (where the download is known).
    pub min_out_in_ratio: f64,
    /// A destination is new when first seen by the sector less than this long ago (a
    /// nightly backup target is a day old by its second night; keep this below a day).
    pub new_within_secs: u32,
    /// Slots of the per-sector "first seen" table (a power of two; 8 bytes each).
    pub seen_table_slots: usize,
}

impl Default for ExfilConfig {
    fn default() -> Self {
        Self {
            bytes_per_slow_bin: 20_000_000,
            min_out_in_ratio: 5.0,
            new_within_secs: 6 * 3600,
            seen_table_slots: 1 << 18,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BeaconConfig {
    /// Intervals needed before judging periodicity.
    pub min_intervals: u32,
    /// Period bounds, seconds.
    pub min_period_secs: f64,
    pub max_period_secs: f64,
    /// Robust dispersion of the intervals (MAD / median) below which they are periodic.
    pub max_jitter: f64,
    /// Destinations more internal hosts of the sector than this talk to are services
    /// (update servers, NTP), not command-and-control.
    pub max_popularity: u32,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        Self {
            min_intervals: 10,
            min_period_secs: 5.0,
            max_period_secs: 7_200.0,
            max_jitter: 0.2,
            max_popularity: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsTunnelConfig {
    /// Queries from one host under one domain in a fast bin / slow bin.
    pub queries_per_bin: u64,
    pub queries_per_slow_bin: u64,
    /// Mean length of the part left of the domain, characters.
    pub min_mean_label_len: f64,
    /// Mean entropy of that part, bits per character.
    pub min_mean_entropy: f64,
    /// Share of the queries whose name was not seen before in the bin.
    pub min_unique_ratio: f64,
    /// A domain more of the sector's hosts than this ask under (in a slow bin) is a
    /// service, not a tunnel.
    pub max_domain_sources: u32,
}

impl Default for DnsTunnelConfig {
    fn default() -> Self {
        Self {
            queries_per_bin: 40,
            queries_per_slow_bin: 25,
            min_mean_label_len: 20.0,
            min_mean_entropy: 3.3,
            min_unique_ratio: 0.7,
            max_domain_sources: 2,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumeConfig {
    /// Seasonal profile slot, seconds.
    pub slot_secs: u32,
    /// Smoothing of the per-slot means.
    pub alpha: f64,
    /// Score (deviations above the seasonal mean) a bin must reach...
    pub min_score: f64,
    /// ... and the ratio to the seasonal mean...
    pub min_ratio: f64,
    /// ... for this many consecutive fast bins.
    pub sustain_bins: u32,
    /// CUSUM slack and decision interval on the standardised residuals.
    pub cusum_k: f64,
    pub cusum_h: f64,
}

impl Default for VolumeConfig {
    fn default() -> Self {
        Self {
            slot_secs: 900,
            alpha: 0.3,
            min_score: 6.0,
            min_ratio: 1.8,
            sustain_bins: 3,
            cusum_k: 1.0,
            cusum_h: 30.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NationalConfig {
    /// The national view of one external source: a low-and-slow campaign is failed
    /// probes into at least `min_sectors` sectors and `min_hosts` hosts within `window_secs`.
    pub window_secs: u32,
    pub min_sectors: u32,
    pub min_hosts: u32,
    /// Login attempts (short sessions to login services, failed logins) an external
    /// source must make across at least `min_sectors` sectors within the window.
    pub min_logins: u32,
}

impl Default for NationalConfig {
    fn default() -> Self {
        Self {
            window_secs: 6 * 3600,
            min_sectors: 3,
            min_hosts: 6,
            min_logins: 8,
        }
    }
}

impl DetectorConfig {
    /// Checks the values and parses the address lists.
    pub fn validate(&self) -> Result<Compiled, String> {
        if self.bin_secs == 0 || self.slow_bin_secs < self.bin_secs {
            return Err("detector.bin_secs must be > 0 and ≤ slow_bin_secs".into());
        }
        if self.lateness_secs > self.bin_secs {
            return Err("detector.lateness_secs must not exceed bin_secs".into());
        }
        if !self.exfiltration.seen_table_slots.is_power_of_two()
            || self.exfiltration.seen_table_slots > 1 << 26
        {
            return Err(
                "detector.exfiltration.seen_table_slots must be a power of two ≤ 2^26".into(),
            );
        }
        let parse = |what: &str, list: &[String]| {
            list.iter()
                .map(|s| Prefix::parse(s).map_err(|e| format!("detector.{what}: {e}")))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Compiled {
            internal: parse("internal", &self.internal)?,
            known_scanners: parse("known_scanners", &self.known_scanners)?,
        })
    }
}

/// Address lists parsed once.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    pub internal: Vec<Prefix>,
    pub known_scanners: Vec<Prefix>,
}
