//! Elastic Common Schema documents: already ECS, nested (`{"source":{"ip":…}}`) or dotted
//! (`{"source.ip":…}`) or both; flattened to dotted keys and read into the event with
//! [`Event::set`], so typed fields are checked (a `source.port` of 70000 is an error
//! naming the field).
//!
//! `@timestamp` may be RFC 3339 or an epoch number; without one the receive time is used.
//! The document's `event.id`, `event.created`, `event.original` and `ncsoc.*` are not
//! taken: ids are ncsoc's (hash of source and line), `event.created` is the receive time,
//! `event.original` is the received line (which contains the document's own) and the
//! tenant comes from the context.

use ncsoc_model::Event;

use super::{field_error, parse_time, Context, Error, JsonFormat, JsonParser, Leaf, Mapper};

/// Maps one ECS JSON line (no format detection). `line` is modified in place.
pub fn parse_ecs(line: &mut [u8], ctx: &Context) -> Result<Event, Error> {
    JsonParser::new().parse_as(Some(JsonFormat::Ecs), line, ctx)
}

#[derive(Default)]
pub(crate) struct EcsMapper;

impl Mapper for EcsMapper {
    fn leaf(&mut self, e: &mut Event, path: &str, leaf: Leaf<'_>) -> Result<(), Error> {
        match path {
            "@timestamp" => {
                e.timestamp = parse_time(&leaf)
                    .ok_or_else(|| field_error(path, "expected an RFC 3339 time"))?;
                Ok(())
            }
            "event.id" | "event.created" | "event.original" | "ncsoc.sector" | "ncsoc.source" => {
                Ok(())
            }
            _ => e
                .set(path, leaf.into_value())
                .map_err(|err| field_error(path, err.to_string())),
        }
    }

    fn finish(self, e: &mut Event, ctx: &Context) -> Result<(), Error> {
        e.fields.created = Some(ctx.now);
        Ok(())
    }
}
