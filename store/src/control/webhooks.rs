//! Webhook destinations, the dispatcher's cursor in the change log, and the delivery
//! outbox (pending, delivered, dead).

pub(crate) const SCHEMA: &str = "";
