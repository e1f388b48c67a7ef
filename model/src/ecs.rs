//! Reading and writing single ECS values from and to JSON.
//!
//! Every typed field of [`crate::Event`] implements [`EcsValue`], so the dotted-key
//! serialiser and deserialiser are generated once for all fields (see `event.rs`).

use std::net::IpAddr;

use serde_json::Value;

use crate::Timestamp;

/// A borrowed view of one field's value, as [`crate::Event::get`] gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldRef<'a> {
    Str(&'a str),
    Int(i64),
    UInt(u64),
    Ip(IpAddr),
    Time(Timestamp),
    /// A keyword array (`event.category`, `event.type`).
    Strs(&'a [String]),
    /// Any other JSON value kept in `extra` (numbers, booleans, arrays, objects).
    Json(&'a Value),
}

/// A field type that may be absent, and that reads from one JSON value. Writing uses the
/// type's own `Serialize` (no intermediate `Value`).
pub trait EcsValue: Sized + serde::Serialize {
    /// True when the field is not set and is left out of the JSON output.
    fn is_absent(&self) -> bool;
    /// Reads the field from JSON; the error says what was expected.
    fn from_json(v: Value) -> Result<Self, &'static str>;
    /// The value, borrowed, when set.
    fn field_ref(&self) -> Option<FieldRef<'_>>;
}

impl EcsValue for Option<String> {
    fn is_absent(&self) -> bool {
        self.is_none()
    }
    fn field_ref(&self) -> Option<FieldRef<'_>> {
        self.as_deref().map(FieldRef::Str)
    }
    fn from_json(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            _ => Err("expected a string"),
        }
    }
}

macro_rules! int_value {
    ($($t:ty => $ref:ident),*) => {$(
        impl EcsValue for Option<$t> {
            fn is_absent(&self) -> bool {
                self.is_none()
            }
            fn field_ref(&self) -> Option<FieldRef<'_>> {
                self.map(|v| FieldRef::$ref(v.into()))
            }
            fn from_json(v: Value) -> Result<Self, &'static str> {
                const EXPECTED: &str = concat!("expected an integer that fits ", stringify!($t));
                match v {
                    Value::Null => Ok(None),
                    Value::Number(n) => {
                        if let Some(i) = n.as_i64() {
                            <$t>::try_from(i).map(Some).map_err(|_| EXPECTED)
                        } else if let Some(u) = n.as_u64() {
                            <$t>::try_from(u).map(Some).map_err(|_| EXPECTED)
                        } else {
                            Err(EXPECTED)
                        }
                    }
                    Value::String(s) => s.trim().parse::<$t>().map(Some).map_err(|_| EXPECTED),
                    _ => Err(EXPECTED),
                }
            }
        }
    )*};
}
int_value!(u8 => UInt, u16 => UInt, u32 => UInt, u64 => UInt, i64 => Int);

impl EcsValue for Option<IpAddr> {
    fn is_absent(&self) -> bool {
        self.is_none()
    }
    fn field_ref(&self) -> Option<FieldRef<'_>> {
        self.map(FieldRef::Ip)
    }
    fn from_json(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => s.parse().map(Some).map_err(|_| "expected an IP address"),
            _ => Err("expected an IP address"),
        }
    }
}

impl EcsValue for Option<Timestamp> {
    fn is_absent(&self) -> bool {
        self.is_none()
    }
    fn field_ref(&self) -> Option<FieldRef<'_>> {
        self.map(FieldRef::Time)
    }
    fn from_json(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Timestamp::parse_rfc3339(&s)
                .map(Some)
                .map_err(|_| "expected an RFC 3339 timestamp"),
            _ => Err("expected an RFC 3339 timestamp"),
        }
    }
}

/// ECS keyword arrays (`event.category`, `event.type`): a lone string is accepted too.
impl EcsValue for Vec<String> {
    fn is_absent(&self) -> bool {
        self.is_empty()
    }
    fn field_ref(&self) -> Option<FieldRef<'_>> {
        (!self.is_empty()).then_some(FieldRef::Strs(self))
    }
    fn from_json(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::String(s) => Ok(vec![s]),
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s),
                    _ => Err("expected an array of strings"),
                })
                .collect(),
            _ => Err("expected a string or an array of strings"),
        }
    }
}
