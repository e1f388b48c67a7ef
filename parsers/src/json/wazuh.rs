//! Wazuh alerts (`alerts.json`, one alert per line) onto ECS.
//!
//! - `timestamp` (`2020-03-10T12:06:07.462+0000`) → `@timestamp`;
//! - `rule.id` → `rule.id`, `rule.description` → `rule.name` and `rule.description`,
//!   `rule.level` → `event.severity`, `rule.groups` → `rule.category` (first) and
//!   `wazuh.rule.groups`, `rule.mitre.id`/`tactic`/`technique` → `threat.technique.id`,
//!   `threat.tactic.name`, `threat.technique.name`;
//! - `agent.id`/`name`/`ip` → `agent.id`, `agent.name` and `host.name`, `host.ip`;
//!   `manager.name` → `observer.hostname`;
//! - `data.srcip`/`srcport`/`dstip`/`dstport`/`srcuser`/`dstuser`/`protocol` →
//!   `source.*`, `destination.*`, `user.name`, `network.transport`;
//! - `full_log` → `message`; `location` → `log.file.path`; `decoder.name` →
//!   `wazuh.decoder.name`;
//! - every field (mapped or not) is also kept under `wazuh.<path>`, as Wazuh's own
//!   index template has it.
//!
//! `event.kind` is `alert`, `event.module` `wazuh`, `event.dataset` `wazuh.alerts`.

use ncsoc_model::Event;
use serde_json::Value;

use super::{
    field_error, parse_time, put, put_ns, Context, Error, JsonFormat, JsonParser, Leaf, Mapper,
};

/// Maps one Wazuh alert line (no format detection). `line` is modified in place.
pub fn parse_wazuh(line: &mut [u8], ctx: &Context) -> Result<Event, Error> {
    JsonParser::new().parse_as(Some(JsonFormat::Wazuh), line, ctx)
}

#[derive(Default)]
pub(crate) struct WazuhMapper {
    has_ts: bool,
}

impl Mapper for WazuhMapper {
    fn leaf(&mut self, e: &mut Event, path: &str, leaf: Leaf<'_>) -> Result<(), Error> {
        let f = &mut e.fields;
        match path {
            "timestamp" => {
                e.timestamp = parse_time(&leaf)
                    .ok_or_else(|| field_error(path, "expected an ISO 8601 time"))?;
                self.has_ts = true;
            }
            "@timestamp" if !self.has_ts => {
                if let Some(t) = parse_time(&leaf) {
                    e.timestamp = t;
                }
            }
            "rule.id" => f.rule_id = leaf.to_text(),
            "rule.description" => {
                f.rule_name = leaf.to_text();
                put(e, "rule.description", leaf.clone().into_value());
            }
            "rule.level" => f.severity = leaf.as_i64(),
            "rule.groups" => {
                if let Leaf::Json(Value::Array(groups)) = &leaf {
                    if let Some(Value::String(g)) = groups.first() {
                        put(e, "rule.category", Value::String(g.clone()));
                    }
                }
            }
            "rule.mitre.id" => put(e, "threat.technique.id", leaf.clone().into_value()),
            "rule.mitre.tactic" => put(e, "threat.tactic.name", leaf.clone().into_value()),
            "rule.mitre.technique" => put(e, "threat.technique.name", leaf.clone().into_value()),
            "agent.id" => put(e, "agent.id", leaf.clone().into_value()),
            "agent.name" => {
                f.host_name = leaf.to_text();
                put(e, "agent.name", leaf.clone().into_value());
            }
            "agent.ip" => put(e, "host.ip", leaf.clone().into_value()),
            "manager.name" => f.observer_hostname = leaf.to_text(),
            "full_log" => f.message = leaf.to_text(),
            "location" => put(e, "log.file.path", leaf.clone().into_value()),
            "data.srcip" | "data.src_ip" => f.source_ip = f.source_ip.or(leaf.as_ip()),
            "data.dstip" | "data.dst_ip" => f.destination_ip = f.destination_ip.or(leaf.as_ip()),
            "data.srcport" | "data.src_port" => {
                f.source_port = leaf.as_u64().and_then(|p| u16::try_from(p).ok())
            }
            "data.dstport" | "data.dst_port" => {
                f.destination_port = leaf.as_u64().and_then(|p| u16::try_from(p).ok())
            }
            "data.dstuser" => f.user_name = leaf.to_text(),
            "data.srcuser" if f.user_name.is_none() => f.user_name = leaf.to_text(),
            "data.protocol" => {
                f.network_transport = leaf.as_str().map(str::to_ascii_lowercase);
            }
            _ => {}
        }
        put_ns(e, "wazuh", path, leaf.into_value());
        Ok(())
    }

    fn finish(self, e: &mut Event, _ctx: &Context) -> Result<(), Error> {
        let f = &mut e.fields;
        f.kind = Some("alert".into());
        f.module = Some("wazuh".into());
        f.dataset = Some("wazuh.alerts".into());
        f.observer_vendor = Some("Wazuh".into());
        f.observer_product = Some("Wazuh".into());
        if f.category.is_empty() {
            f.category = vec!["intrusion_detection".into()];
        }
        if f.r#type.is_empty() {
            f.r#type = vec!["info".into()];
        }
        Ok(())
    }
}
