//! Collecting an event's `extra` fields: pushed to a vector, then built into the map in one
//! pass. Building a `BTreeMap` from sorted pairs avoids a search and node splits per key,
//! which cost more than the rest of the ECS mapping for events with many fields.

use std::collections::BTreeMap;

use serde_json::Value;

/// Extra fields in the order they were found; a later value for a key replaces an earlier
/// one, as `BTreeMap::insert` would.
pub(crate) struct Extras(Vec<(String, Value)>);

impl Extras {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub(crate) fn insert(&mut self, key: String, value: Value) {
        self.0.push((key, value));
    }

    /// The map: sorted (stable, so the last of equal keys is kept) and bulk-built.
    pub(crate) fn into_map(self) -> BTreeMap<String, Value> {
        self.0.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_value_wins() {
        let mut x = Extras::with_capacity(4);
        x.insert("b".into(), 1.into());
        x.insert("a".into(), 2.into());
        x.insert("b".into(), 3.into());
        let m = x.into_map();
        assert_eq!(m.len(), 2);
        assert_eq!(m["b"], 3);
        assert_eq!(m["a"], 2);
    }
}
