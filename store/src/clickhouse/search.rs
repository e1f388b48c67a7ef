//! Searches, chart aggregations and indicator queries on ClickHouse, in SQL that the 18.16
//! server CI runs accepts: buckets by integer division of the nanosecond time (no
//! `toStartOfInterval` on Int64, no DateTime64), `ifNull`/`assumeNotNull` around the
//! `Nullable` columns, lists bound one element per `?`.
//!
//! Indicators live in a `ReplacingMergeTree` keyed by id; the latest version of a row wins
//! (`argMax(…, version)`), and a deletion writes a newer version with an empty document (a
//! tombstone) rather than a mutation, which 18.16 would apply only eventually.

use ncsoc_model::{Event, Indicator, Timestamp};

use super::{BindValue, ClickHouseStore, IndicatorRow};
use crate::row::{ip_from_bytes, EventRow, EVENT_COLUMNS};
use crate::search::{bucket_range, FieldKind, FieldValue, MAX_TOP};
use crate::{
    Bucket, EventQuery, IndicatorQuery, Metric, Order, Result, StoreError, Table, TopBy, TopEntry,
};

/// The first stretch of a search window tried (see `search_rows`): 15 minutes.
const FIRST_STRETCH_NANOS: i64 = 15 * 60 * 1_000_000_000;

#[derive(Debug, ::clickhouse::Row, serde::Deserialize)]
struct KeyRow {
    ts: i64,
    id: String,
}

#[derive(Debug, ::clickhouse::Row, serde::Deserialize)]
struct TopRow {
    k: String,
    v: u64,
}

#[derive(Debug, ::clickhouse::Row, serde::Deserialize)]
struct BucketRow {
    b: i64,
    s: String,
    c: u64,
    by: u64,
    p: u64,
}

#[derive(Debug, ::clickhouse::Row, serde::Deserialize)]
struct IdDocRow {
    _id: String,
    doc: String,
}

/// Appends ` AND ...` for the field filters and the cursor of `q`.
pub(super) fn extra_conditions(
    q: &EventQuery,
    sql: &mut String,
    binds: &mut Vec<BindValue>,
) -> Result<()> {
    for f in &q.fields {
        let column = f.field.column();
        match (&f.value, f.field.kind()) {
            (FieldValue::Text(v), FieldKind::Text) => {
                sql.push_str(&format!(" AND `{column}` = ?"));
                binds.push(BindValue::Str(v.clone()));
            }
            (FieldValue::Text(v), FieldKind::List) => {
                sql.push_str(&format!(" AND has(`{column}`, ?)"));
                binds.push(BindValue::Str(v.clone()));
            }
            (FieldValue::Net(net, prefix), FieldKind::Address) => {
                let (lo, hi) = crate::row::cidr_range(*net, *prefix)?;
                let (lo, hi) = (super::hex(&lo), super::hex(&hi));
                sql.push_str(&format!(
                    " AND (`{column}` >= unhex('{lo}') AND `{column}` <= unhex('{hi}'))"
                ));
            }
            (FieldValue::Port(p), FieldKind::Port) => {
                sql.push_str(&format!(" AND `{column}` = ?"));
                binds.push(BindValue::I64(i64::from(*p)));
            }
            _ => {
                return Err(StoreError::BadQuery(format!(
                    "{}: value of the wrong kind",
                    f.field.name()
                )))
            }
        }
    }
    if !q.text.is_empty() {
        let all = text_columns();
        for term in &q.text {
            sql.push_str(&format!(" AND positionCaseInsensitiveUTF8({all}, ?) > 0"));
            binds.push(BindValue::Str(term.clone()));
        }
    }
    if let Some(c) = &q.after {
        let (cmp, bound) = match q.order {
            Order::OldestFirst => (">", ">="),
            Order::NewestFirst => ("<", "<="),
        };
        sql.push_str(&format!(
            " AND ts {bound} ? AND (ts {cmp} ? OR (ts = ? AND id {cmp} ?))"
        ));
        binds.extend([
            BindValue::I64(c.ts.nanos()),
            BindValue::I64(c.ts.nanos()),
            BindValue::I64(c.ts.nanos()),
            BindValue::Str(c.id.clone()),
        ]);
    }
    Ok(())
}

/// Every text value of a stored row in one string, for free-text terms: the text
/// columns and list elements, one per line (terms hold no control characters, so none
/// matches across two values).
fn text_columns() -> String {
    let parts: Vec<String> = crate::row::EVENT_COLUMNS
        .iter()
        .filter_map(|(name, ty)| match *ty {
            "String" => Some(format!("`{name}`")),
            "Nullable(String)" => Some(format!("ifNull(`{name}`, '')")),
            "Array(String)" => Some(format!("arrayStringConcat(`{name}`, '\\n')")),
            _ => None,
        })
        .collect();
    format!("concat({})", parts.join(", '\\n', "))
}

impl ClickHouseStore {
    /// A page of rows in two steps, so only the page's rows are read whole: first the
    /// (time, id) of the page, trying a short stretch of the window at the end the order
    /// starts from and widening it as far as the rate of matches seen suggests (to the
    /// whole window if none) until the page is full or the window is covered (the primary
    /// key reads only the granules of that stretch; 18.16 cannot read in key order and
    /// stop); then every column of just those ids.
    pub(super) async fn search_rows(&self, table: Table, q: &EventQuery) -> Result<Vec<Event>> {
        if table == Table::DeadLetters {
            return Err(StoreError::BadQuery(
                "use dead_letters() to read dead letters".into(),
            ));
        }
        self.ensure_schema().await?;
        let (order, newest) = match q.order {
            Order::OldestFirst => ("ts, id", false),
            Order::NewestFirst => ("ts DESC, id DESC", true),
        };
        // The stretch of time the page can come from, narrowed by the cursor.
        let mut lo = q.from.map(Timestamp::nanos);
        let mut hi = q.to.map(Timestamp::nanos);
        if let Some(c) = &q.after {
            if newest {
                hi = Some(hi.map_or(c.ts.nanos() + 1, |h| h.min(c.ts.nanos() + 1)));
            } else {
                lo = Some(lo.map_or(c.ts.nanos(), |l| l.max(c.ts.nanos())));
            }
        }
        let mut span = FIRST_STRETCH_NANOS;
        let keys: Vec<KeyRow> = loop {
            let mut w = q.clone();
            let whole = match (lo, hi) {
                // A window at most twice the stretch (an incident's related lookup) is
                // read whole: one query instead of a stretch and then the rest.
                (Some(l), Some(h))
                    if h.saturating_sub(l) > span.saturating_mul(2) && q.ids.is_empty() =>
                {
                    if newest {
                        w.from = Some(Timestamp(h - span));
                    } else {
                        w.to = Some(Timestamp(l + span));
                    }
                    false
                }
                _ => true,
            };
            let Some((cond, binds)) = Self::conditions(&w, "ts")? else {
                return Ok(Vec::new());
            };
            let sql = format!(
                "SELECT ts, id FROM `{}`{cond} ORDER BY {order} LIMIT {}",
                table.name(),
                q.limit
            );
            let keys = self
                .timed(self.query(&sql, binds).fetch_all::<KeyRow>())
                .await?;
            if whole || keys.len() >= q.limit {
                break keys;
            }
            // Widen to where the page should fill at the rate just seen (half again for
            // luck, at least twice as wide); nothing seen at all: the whole window.
            span = match keys.len() as i64 {
                0 => i64::MAX,
                n => span.saturating_mul(((3 * q.limit as i64 + 2 * n - 1) / (2 * n)).max(2)),
            };
        };
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // The rows themselves: the same filters (scope included) over the page's ids.
        let mut w = q.clone();
        w.after = None;
        w.from = keys.iter().map(|k| Timestamp(k.ts)).min();
        w.to = keys.iter().map(|k| Timestamp(k.ts + 1)).max();
        w.ids = keys.iter().map(|k| k.id.clone()).collect();
        let Some((cond, binds)) = Self::conditions(&w, "ts")? else {
            return Ok(Vec::new());
        };
        let cols: Vec<String> = EVENT_COLUMNS.iter().map(|c| format!("`{}`", c.0)).collect();
        let sql = format!("SELECT {} FROM `{}`{cond}", cols.join(","), table.name());
        let rows = self
            .timed(self.query(&sql, binds).fetch_all::<EventRow>())
            .await?;
        let mut by_id: std::collections::HashMap<String, EventRow> =
            rows.into_iter().map(|r| (r.id.clone(), r)).collect();
        keys.into_iter()
            .filter_map(|k| by_id.remove(&k.id))
            .map(EventRow::into_event)
            .collect()
    }

    pub(super) async fn top_groups(
        &self,
        table: Table,
        q: &EventQuery,
        by: TopBy,
        metric: Metric,
        limit: usize,
    ) -> Result<Vec<TopEntry>> {
        if table == Table::DeadLetters {
            return Err(StoreError::BadQuery(
                "dead letters have no top talkers".into(),
            ));
        }
        self.ensure_schema().await?;
        let mut q = q.clone();
        q.after = None;
        let Some((cond, binds)) = Self::conditions(&q, "ts")? else {
            return Ok(Vec::new());
        };
        let (key, present) = match by {
            TopBy::SourceIp => ("hex(assumeNotNull(src_ip))", " AND src_ip IS NOT NULL"),
            TopBy::DestinationIp => ("hex(assumeNotNull(dst_ip))", " AND dst_ip IS NOT NULL"),
            TopBy::DestinationPort => (
                "toString(assumeNotNull(dst_port))",
                " AND dst_port IS NOT NULL",
            ),
            TopBy::Sector => ("toString(sector)", ""),
        };
        let value = match metric {
            Metric::Count => "count()",
            Metric::Bytes => "sum(ifNull(bytes, toUInt64(0)))",
            Metric::Packets => "sum(ifNull(packets, toUInt64(0)))",
        };
        let sql = format!(
            "SELECT {key} AS k, toUInt64({value}) AS v FROM `{}`{cond}{present} GROUP BY k ORDER BY v DESC, k LIMIT {}",
            table.name(),
            limit.clamp(1, MAX_TOP)
        );
        let rows = self
            .timed(self.query(&sql, binds).fetch_all::<TopRow>())
            .await?;
        let ip_key = matches!(by, TopBy::SourceIp | TopBy::DestinationIp);
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let key = if ip_key { ip_from_hex(&r.k)? } else { r.k };
                Some(TopEntry { key, value: r.v })
            })
            .collect())
    }

    pub(super) async fn time_buckets(
        &self,
        table: Table,
        q: &EventQuery,
        bucket_secs: u32,
    ) -> Result<Vec<Bucket>> {
        if table == Table::DeadLetters {
            return Err(StoreError::BadQuery(
                "dead letters have no time series".into(),
            ));
        }
        let (Some(from), Some(to)) = (q.from, q.to) else {
            return Err(StoreError::BadQuery(
                "a time series needs from and to".into(),
            ));
        };
        let (width, ..) = bucket_range(from, to, bucket_secs)?;
        self.ensure_schema().await?;
        let mut q = q.clone();
        q.after = None;
        let Some((cond, binds)) = Self::conditions(&q, "ts")? else {
            return Ok(Vec::new());
        };
        let sums = if table == Table::Flows {
            "sum(ifNull(bytes, toUInt64(0))), sum(ifNull(packets, toUInt64(0)))"
        } else {
            "toUInt64(0), toUInt64(0)"
        };
        let sql = format!(
            "SELECT toInt64(intDiv(ts, {width}) * {width}) AS b, toString(sector) AS s, count() AS c, {sums} \
             FROM `{}`{cond} GROUP BY b, s ORDER BY b, s",
            table.name()
        );
        let rows = self
            .timed(self.query(&sql, binds).fetch_all::<BucketRow>())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Bucket {
                start: Timestamp(r.b),
                sector: r.s,
                count: r.c,
                bytes: r.by,
                packets: r.p,
            })
            .collect())
    }

    pub(super) async fn indicator_rows(&self, q: &IndicatorQuery) -> Result<Vec<Indicator>> {
        self.ensure_schema().await?;
        let mut inner = String::new();
        let mut binds = Vec::new();
        if let Some(a) = &q.after {
            inner.push_str(" WHERE id > ?");
            binds.push(BindValue::Str(a.clone()));
        }
        let mut outer = String::from(" WHERE d != ''");
        if let Some(k) = q.kind {
            outer.push_str(" AND k = ?");
            binds.push(BindValue::Str(k.as_str().into()));
        }
        if let Some(s) = &q.source {
            outer.push_str(" AND src = ?");
            binds.push(BindValue::Str(s.clone()));
        }
        if let Some(t) = q.active_at {
            outer.push_str(" AND vf <= ? AND vu > ?");
            binds.push(BindValue::I64(t.nanos()));
            binds.push(BindValue::I64(t.nanos()));
        }
        let sql = format!(
            "SELECT id, d FROM (SELECT id, argMax(doc, version) AS d, toString(argMax(kind, version)) AS k, \
             toString(argMax(source, version)) AS src, argMax(valid_from, version) AS vf, \
             argMax(ifNull(valid_until, toInt64(9223372036854775807)), version) AS vu \
             FROM indicators{inner} GROUP BY id){outer} ORDER BY id LIMIT {}",
            q.limit
        );
        let rows = self
            .timed(self.query(&sql, binds).fetch_all::<IdDocRow>())
            .await?;
        rows.into_iter()
            .map(|r| {
                serde_json::from_str(&r.doc)
                    .map_err(|e| StoreError::Corrupt(format!("indicator: {e}")))
            })
            .collect()
    }

    pub(super) async fn remove_indicator(&self, id: &str) -> Result<bool> {
        self.ensure_schema().await?;
        let live: u64 = self
            .timed(
                self.query(
                    "SELECT count() FROM (SELECT argMax(doc, version) AS d FROM indicators WHERE id = ? GROUP BY id) WHERE d != ''",
                    vec![BindValue::Str(id.to_string())],
                )
                .fetch_one::<u64>(),
            )
            .await?;
        if live == 0 {
            return Ok(false);
        }
        let tombstone = IndicatorRow {
            id: id.to_string(),
            kind: String::new(),
            value: String::new(),
            source: String::new(),
            valid_from: 0,
            valid_until: None,
            tlp: String::new(),
            version: Timestamp::now().nanos(),
            doc: String::new(),
        };
        self.insert_rows("indicators", &[tombstone]).await?;
        Ok(true)
    }
}

/// The address of a `hex()` of a stored 16-byte address.
fn ip_from_hex(h: &str) -> Option<String> {
    if h.len() != 32 || !h.is_ascii() {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, out) in b.iter_mut().enumerate() {
        *out = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(ip_from_bytes(b).to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_addresses_read_back() {
        assert_eq!(
            super::ip_from_hex("00000000000000000000FFFF0A000001").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(super::ip_from_hex("zz"), None);
    }
}
