//! Any other JSON object: every field kept under `json.<path>`, and `@timestamp` taken
//! from the first of `@timestamp`, `timestamp`, `time`, `ts`, `eventTime`, `event_time`,
//! `date`, `datetime` (top level) that reads as a time (RFC 3339 / ISO 8601, or epoch
//! seconds / milliseconds / microseconds / nanoseconds by magnitude); otherwise the
//! receive time. `message` or `msg` also becomes `message`.

use ncsoc_model::{Event, Timestamp};

use super::{parse_time, put_ns, Context, Error, JsonFormat, JsonParser, Leaf, Mapper};

/// The keys tried for the event time, best first.
pub const TIME_KEYS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "time",
    "ts",
    "eventTime",
    "event_time",
    "date",
    "datetime",
];

/// Maps one JSON line as generic JSON (no format detection). `line` is modified in place.
pub fn parse_generic(line: &mut [u8], ctx: &Context) -> Result<Event, Error> {
    JsonParser::new().parse_as(Some(JsonFormat::Generic), line, ctx)
}

pub(crate) struct GenericMapper {
    /// Best time found so far, and its rank in [`TIME_KEYS`].
    time: Option<(usize, Timestamp)>,
}

impl GenericMapper {
    pub(crate) fn new() -> Self {
        Self { time: None }
    }
}

impl Mapper for GenericMapper {
    fn leaf(&mut self, e: &mut Event, path: &str, leaf: Leaf<'_>) -> Result<(), Error> {
        if let Some(rank) = TIME_KEYS.iter().position(|k| *k == path) {
            if self.time.is_none_or(|(r, _)| rank < r) {
                if let Some(t) = parse_time(&leaf) {
                    self.time = Some((rank, t));
                }
            }
        }
        if matches!(path, "message" | "msg") && e.fields.message.is_none() {
            e.fields.message = leaf.as_str().map(str::to_owned);
        }
        put_ns(e, "json", path, leaf.into_value());
        Ok(())
    }

    fn finish(self, e: &mut Event, ctx: &Context) -> Result<(), Error> {
        e.timestamp = self.time.map_or(ctx.now, |(_, t)| t);
        e.fields.kind = Some("event".into());
        e.fields.dataset = Some("json".into());
        Ok(())
    }
}
