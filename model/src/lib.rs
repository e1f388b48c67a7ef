//! The ncsoc data model: the normalised [`Event`] (ECS field names, flat dotted-key JSON),
//! the [`FlowRecord`] extras of flow events, national [`Incident`]s, threat [`Indicator`]s
//! and [`DeadLetter`]s. No I/O lives here.

mod deadletter;
mod ecs;
mod event;
pub mod id;
mod incident;
mod indicator;
mod time;

pub use deadletter::DeadLetter;
pub use ecs::{EcsValue, FieldRef};
pub use event::{
    Event, EventFields, FieldKey, FlowRecord, KEY_ID, KEY_SECTOR, KEY_SOURCE, KEY_TIMESTAMP,
};
pub use incident::{Entity, Evidence, Incident, IncidentKind, Note, Severity, Status};
pub use indicator::{Indicator, IndicatorKind, Tlp};
pub use time::{civil_from_days, days_from_civil, days_in_month, Timestamp, TimestampError};

/// Why a value could not be read into the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("field `{key}`: {expected}")]
    Field { key: String, expected: &'static str },
    #[error("required field `{0}` is missing")]
    Missing(&'static str),
    #[error("unknown {what} `{name}`")]
    UnknownName { what: &'static str, name: String },
}
