//! Query strings read by hand, so that every malformed or unknown parameter is a 400 with
//! the parameter named (axum's `Query` rejections are plain text), and the OpenAPI
//! parameters of handlers whose parameters are built at run time (the field filters).

use std::ops::RangeInclusive;

use ncsoc_model::Timestamp;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Required, Schema};

use crate::error::ApiError;

/// Most parameters one request may carry.
const MAX_PAIRS: usize = 64;
/// Longest parameter value, in bytes.
const MAX_VALUE: usize = 2048;
/// Longest sector name.
pub const MAX_SECTOR_LEN: usize = 128;

/// The parameters of one query string; each taken at most once, the rest refused.
pub struct Params {
    pairs: Vec<(String, String, bool)>,
}

impl Params {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if pairs.len() == MAX_PAIRS {
                return Err(ApiError::bad_request(format!(
                    "more than {MAX_PAIRS} query parameters"
                )));
            }
            if v.len() > MAX_VALUE || k.len() > 128 {
                return Err(ApiError::bad_request(format!(
                    "query parameter `{}` is longer than {MAX_VALUE} bytes",
                    clip(&k)
                )));
            }
            pairs.push((k.into_owned(), v.into_owned(), false));
        }
        Ok(Self { pairs })
    }

    /// The value of `key`, if given; given twice is an error.
    pub fn take(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        let mut found = None;
        for (k, v, used) in &mut self.pairs {
            if k == key {
                if found.is_some() {
                    return Err(ApiError::bad_request(format!(
                        "query parameter `{key}` given more than once"
                    )));
                }
                *used = true;
                found = Some(v.clone());
            }
        }
        Ok(found)
    }

    /// Every (key, value) not yet taken whose key `want` accepts, now taken.
    pub fn take_matching(&mut self, want: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        self.pairs
            .iter_mut()
            .filter(|(k, _, used)| !*used && want(k))
            .map(|(k, v, used)| {
                *used = true;
                (k.clone(), v.clone())
            })
            .collect()
    }

    /// An integer in `range`, `default` if absent.
    pub fn int(
        &mut self,
        key: &str,
        range: RangeInclusive<u64>,
        default: u64,
    ) -> Result<u64, ApiError> {
        let Some(v) = self.take(key)? else {
            return Ok(default);
        };
        match v.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "`{key}` must be an integer from {} to {}",
                range.start(),
                range.end()
            ))),
        }
    }

    pub fn time(&mut self, key: &str) -> Result<Option<Timestamp>, ApiError> {
        self.take(key)?
            .map(|v| {
                Timestamp::parse_rfc3339(&v).map_err(|e| {
                    ApiError::bad_request(format!(
                        "`{key}`: {e} (RFC 3339, e.g. 2026-11-27T10:00:00Z)"
                    ))
                })
            })
            .transpose()
    }

    /// A sector name: non-empty, bounded, printable.
    pub fn sector(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        self.take(key)?
            .map(|v| check_sector(&v).map(|()| v))
            .transpose()
    }

    /// Fails on the first parameter nobody took.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.pairs.iter().find(|(_, _, used)| !used) {
            None => Ok(()),
            Some((k, _, _)) => Err(ApiError::bad_request(format!(
                "unknown query parameter `{}`",
                clip(k)
            ))),
        }
    }
}

pub fn check_sector(v: &str) -> Result<(), ApiError> {
    if v.is_empty() || v.len() > MAX_SECTOR_LEN || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "a sector is 1 to {MAX_SECTOR_LEN} printable characters"
        )));
    }
    Ok(())
}

/// The first characters of an input, for an error message.
pub fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

// ---------------------------------------------------------------------------------------
// OpenAPI parameters built by hand.

pub fn query_param(name: &str, description: &str, schema: Schema) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

pub fn string_schema(max_len: usize) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max_len))
        .build()
        .into()
}

pub fn time_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
        .into()
}

pub fn int_schema(min: u64, max: u64) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min as f64))
        .maximum(Some(max as f64))
        .build()
        .into()
}

pub fn enum_schema(values: &[&str]) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_taken_once_and_unknown_ones_refused() {
        let mut p = Params::parse(Some("a=1&b=x%20y&event.action=deny")).unwrap();
        assert_eq!(p.take("b").unwrap().as_deref(), Some("x y"));
        assert_eq!(p.int("a", 0..=5, 3).unwrap(), 1);
        assert_eq!(p.int("c", 0..=5, 3).unwrap(), 3);
        assert!(p.finish().is_err());
        let mut p = Params::parse(Some("a=1&a=2")).unwrap();
        assert!(p.take("a").is_err());
        let mut p = Params::parse(Some("limit=0")).unwrap();
        assert!(p.int("limit", 1..=10, 5).is_err());
        let mut p = Params::parse(Some("from=yesterday")).unwrap();
        assert!(p.time("from").is_err());
        let mut p = Params::parse(Some("sector=%00")).unwrap();
        assert!(p.sector("sector").is_err());
        assert!(Params::parse(Some(&"x=1&".repeat(100))).is_err());
        let mut p = Params::parse(Some("event.action=deny&x=1")).unwrap();
        assert_eq!(p.take_matching(|k| k.contains('.')).len(), 1);
        assert!(p.finish().is_err());
    }
}
