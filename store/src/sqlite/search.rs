//! Searches and chart aggregations on the embedded store.
//!
//! Only the filter columns (sector, time, source, addresses, ports) are SQLite columns;
//! every other field lives in the encoded row. Two SQL functions read a field of the
//! encoded row in place, so field filters and byte sums stay inside the query (and its
//! `LIMIT`): `ncsoc_col(row, i)` is column `i` of [`EVENT_COLUMNS`] (NULL for a list), and
//! `ncsoc_has(row, i, v)` is 1 when that column equals `v` or, for a list, holds it.
//!
//! The (sector, time) index serves time ranges only under a sector equality, so a search
//! runs once per sector it may read — each a short descending or ascending walk of that
//! sector's index range that stops at the limit — and the pages are merged; aggregations
//! name the sectors explicitly (`sector IN (...)`) so the index is used for each. With no
//! sector restriction, the sectors present are listed with a few index seeks. An address
//! search walks the hours where the address's network appeared (the `*_addr_hours`
//! summaries) from the end the order starts at, and stops once a page is full.

use ncsoc_model::{Event, Indicator, Timestamp};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension};

use super::{sql_err, summary_prefix, Select, SqliteStore, HOUR_NANOS};
use crate::codec::Peeked;
use crate::row::{cidr_range, ip_from_bytes, EventRow, EVENT_COLUMNS};
use crate::search::{bucket_range, contains_ignore_case, FieldKind, FieldValue, MAX_TOP};
use crate::{
    Bucket, EventQuery, IndicatorQuery, Metric, Order, Result, Scope, StoreError, Table, TopBy,
    TopEntry,
};

/// Most sectors a store-wide query lists (the detector's limit too).
const MAX_SECTORS: usize = 4096;

/// Position of a stored column in the encoded row.
fn col(name: &str) -> usize {
    EVENT_COLUMNS
        .iter()
        .position(|c| c.0 == name)
        .unwrap_or_else(|| panic!("no stored column {name}"))
}

fn udf_err(e: StoreError) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(e))
}

/// Registers `ncsoc_col` and `ncsoc_has` on a connection (see the module docs).
pub(super) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("ncsoc_col", 2, flags, |ctx| {
        let ValueRef::Blob(row) = ctx.get_raw(0) else {
            return Ok(SqlValue::Null);
        };
        let idx = usize::try_from(ctx.get::<i64>(1)?).unwrap_or(usize::MAX);
        Ok(match EventRow::peek(row, idx).map_err(udf_err)? {
            Peeked::Null | Peeked::List(_) => SqlValue::Null,
            Peeked::Int(v) => SqlValue::Integer(v),
            Peeked::Text(s) => SqlValue::Text(s.to_string()),
            Peeked::Addr(a) => SqlValue::Blob(a.to_vec()),
        })
    })?;
    conn.create_scalar_function("ncsoc_text", 2, flags, |ctx| {
        let ValueRef::Blob(row) = ctx.get_raw(0) else {
            return Ok(0i64);
        };
        let ValueRef::Text(needle) = ctx.get_raw(1) else {
            return Ok(0);
        };
        let needle = std::str::from_utf8(needle).unwrap_or("\u{fffd}");
        EventRow::any_text(row, |s| contains_ignore_case(s, needle))
            .map(i64::from)
            .map_err(udf_err)
    })?;
    conn.create_scalar_function("ncsoc_has", 3, flags, |ctx| {
        let ValueRef::Blob(row) = ctx.get_raw(0) else {
            return Ok(0i64);
        };
        let idx = usize::try_from(ctx.get::<i64>(1)?).unwrap_or(usize::MAX);
        let ValueRef::Text(want) = ctx.get_raw(2) else {
            return Ok(0);
        };
        let want = std::str::from_utf8(want).unwrap_or("\u{fffd}");
        Ok(match EventRow::peek(row, idx).map_err(udf_err)? {
            Peeked::Text(s) => i64::from(s == want),
            Peeked::List(v) => i64::from(v.contains(&want)),
            _ => 0,
        })
    })
}

/// Appends the field filters and the cursor of `q` to a query's conditions (rows `e`).
pub(super) fn extra_conditions(
    q: &EventQuery,
    conds: &mut Vec<String>,
    params: &mut Vec<SqlValue>,
) -> Result<()> {
    for f in &q.fields {
        let column = f.field.column();
        match (&f.value, f.field.kind()) {
            (FieldValue::Text(v), FieldKind::Text) if column == "source" => {
                conds.push("e.source = ?".into());
                params.push(SqlValue::Text(v.clone()));
            }
            (FieldValue::Text(v), FieldKind::Text) => {
                conds.push(format!("ncsoc_col(e.row, {}) = ?", col(column)));
                params.push(SqlValue::Text(v.clone()));
            }
            (FieldValue::Text(v), FieldKind::List) => {
                conds.push(format!("ncsoc_has(e.row, {}, ?)", col(column)));
                params.push(SqlValue::Text(v.clone()));
            }
            (FieldValue::Net(net, prefix), FieldKind::Address) => {
                let (lo, hi) = crate::row::cidr_range(*net, *prefix)?;
                conds.push(format!("e.{column} BETWEEN ? AND ?"));
                params.push(SqlValue::Blob(lo.to_vec()));
                params.push(SqlValue::Blob(hi.to_vec()));
            }
            (FieldValue::Port(p), FieldKind::Port) => {
                conds.push(format!("e.{column} = ?"));
                params.push(SqlValue::Integer(i64::from(*p)));
            }
            _ => {
                return Err(StoreError::BadQuery(format!(
                    "{}: value of the wrong kind",
                    f.field.name()
                )))
            }
        }
    }
    for term in &q.text {
        conds.push("ncsoc_text(e.row, ?)".into());
        params.push(SqlValue::Text(term.clone()));
    }
    if let Some(c) = &q.after {
        // The first condition lets the (sector, ts) index start at the cursor.
        let (cmp, bound) = match q.order {
            Order::OldestFirst => (">", ">="),
            Order::NewestFirst => ("<", "<="),
        };
        conds.push(format!(
            "e.ts {bound} ? AND (e.ts {cmp} ? OR (e.ts = ? AND e.id {cmp} ?))"
        ));
        let ts = SqlValue::Integer(c.ts.nanos());
        params.extend([ts.clone(), ts.clone(), ts, SqlValue::Text(c.id.clone())]);
    }
    Ok(())
}

fn order_sql(order: Order) -> &'static str {
    match order {
        Order::OldestFirst => " ORDER BY e.ts, e.id",
        Order::NewestFirst => " ORDER BY e.ts DESC, e.id DESC",
    }
}

/// The sectors `q` reads, listed: its scope narrowed by its sector; with an unrestricted
/// scope and no sector, every sector stored in `table`. Empty: nothing to read.
fn sectors_of(c: &Connection, table: Table, q: &EventQuery) -> Result<Vec<String>> {
    let mut out: Vec<String> = match (&q.scope, &q.sector) {
        (Scope::Sectors(s), Some(x)) => s.iter().filter(|v| *v == x).cloned().collect(),
        (Scope::Sectors(s), None) => s.clone(),
        (Scope::All, Some(x)) => vec![x.clone()],
        (Scope::All, None) => {
            // A loose index scan: one seek of the (sector, ts) index per sector.
            let t = table.name();
            let sql = format!(
                "WITH RECURSIVE s(x) AS (SELECT (SELECT min(sector) FROM {t}) \
                 UNION ALL SELECT (SELECT min(sector) FROM {t} WHERE sector > s.x) FROM s \
                 WHERE s.x IS NOT NULL LIMIT {MAX_SECTORS}) SELECT x FROM s WHERE x IS NOT NULL"
            );
            let mut st = c.prepare_cached(&sql).map_err(sql_err)?;
            let rows = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(sql_err)?
        }
    };
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// `q` with its sectors listed (see [`sectors_of`]) so the (sector, ts) index serves every
/// one; `None` if it may read none. Address and id searches keep their own plan.
fn with_listed_sectors(c: &Connection, table: Table, q: &EventQuery) -> Result<Option<EventQuery>> {
    if q.ip.is_some() || !q.ids.is_empty() {
        return Ok(Some(q.clone()));
    }
    let sectors = sectors_of(c, table, q)?;
    if sectors.is_empty() {
        return Ok(None);
    }
    let mut q = q.clone();
    q.scope = Scope::Sectors(sectors);
    q.sector = None;
    Ok(Some(q))
}

/// The hours (with the sectors, in the scope) where a network of the address range of
/// `q.ip` appeared, according to the address summaries: in the order of `q`, each hour's
/// sectors together.
fn summary_hours(c: &Connection, table: Table, q: &EventQuery) -> Result<Vec<(i64, Vec<String>)>> {
    let Some((net, prefix)) = q.ip else {
        return Ok(Vec::new());
    };
    let (lo, hi) = cidr_range(net, prefix)?;
    let summary = format!("{}_addr_hours", table.name());
    let bound =
        |sql: &str| -> Result<Option<i64>> { c.query_row(sql, [], |r| r.get(0)).map_err(sql_err) };
    let mut first = match q.from {
        Some(t) => Some(t.nanos().div_euclid(HOUR_NANOS)),
        None => bound(&format!("SELECT min(hour) FROM {summary}"))?,
    };
    let mut last = match q.to {
        Some(t) => Some((t.nanos() - 1).div_euclid(HOUR_NANOS)),
        None => bound(&format!("SELECT max(hour) FROM {summary}"))?,
    };
    if let Some(cur) = &q.after {
        let h = Some(cur.ts.nanos().div_euclid(HOUR_NANOS));
        match q.order {
            Order::OldestFirst => first = first.max(h),
            Order::NewestFirst => last = last.min(h),
        }
    }
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(Vec::new());
    };
    if first > last {
        return Ok(Vec::new());
    }
    let mut params: Vec<SqlValue> = vec![
        SqlValue::Integer(first),
        SqlValue::Integer(last),
        SqlValue::Blob(summary_prefix(lo).to_vec()),
        SqlValue::Blob(summary_prefix(hi).to_vec()),
    ];
    let mut cond = String::new();
    if let Scope::Sectors(s) = &q.scope {
        if s.is_empty() {
            return Ok(Vec::new());
        }
        cond.push_str(&format!(
            " AND a.sector IN ({})",
            vec!["?"; s.len()].join(",")
        ));
        params.extend(s.iter().map(|v| SqlValue::Text(v.clone())));
    }
    if let Some(s) = &q.sector {
        cond.push_str(" AND a.sector = ?");
        params.push(SqlValue::Text(s.clone()));
    }
    let dir = match q.order {
        Order::OldestFirst => "",
        Order::NewestFirst => " DESC",
    };
    let sql = format!(
        "WITH RECURSIVE hrs(h) AS (SELECT ? UNION ALL SELECT h + 1 FROM hrs WHERE h < ?) \
         SELECT DISTINCT a.hour, a.sector FROM hrs JOIN {summary} AS a ON a.hour = hrs.h \
         AND a.addr BETWEEN ? AND ?{cond} ORDER BY a.hour{dir}, a.sector"
    );
    let mut st = c.prepare_cached(&sql).map_err(sql_err)?;
    let rows = st
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(sql_err)?;
    let mut out: Vec<(i64, Vec<String>)> = Vec::new();
    for r in rows {
        let (hour, sector) = r.map_err(sql_err)?;
        match out.last_mut() {
            Some((h, sectors)) if *h == hour => sectors.push(sector),
            _ => out.push((hour, vec![sector])),
        }
    }
    Ok(out)
}

/// Searches an address range hour by hour (the hours its networks appeared in, newest or
/// oldest first), each hour one short range of the (sector, ts) index per sector, and stops
/// once an hour completes the page.
fn search_by_address(
    c: &Connection,
    table: Table,
    q: &EventQuery,
    rows: &mut Vec<RawRow>,
) -> Result<()> {
    let Some((net, prefix)) = q.ip else {
        return Ok(());
    };
    let (lo, hi) = cidr_range(net, prefix)?;
    for (hour, sectors) in summary_hours(c, table, q)? {
        for sector in sectors {
            let mut one = q.clone();
            one.ip = None;
            one.scope = Scope::Sectors(vec![sector]);
            one.sector = None;
            let (start, end) = (hour * HOUR_NANOS, (hour + 1) * HOUR_NANOS);
            one.from = Some(Timestamp(q.from.map_or(start, |f| f.nanos().max(start))));
            one.to = Some(Timestamp(q.to.map_or(end, |t| t.nanos().min(end))));
            let Some(mut sel) = Select::build(table, &one, "ts")? else {
                continue;
            };
            sel.cond = if sel.cond.is_empty() {
                " WHERE ".to_string()
            } else {
                format!("{} AND ", sel.cond)
            };
            sel.cond
                .push_str("((e.src_ip BETWEEN ? AND ?) OR (e.dst_ip BETWEEN ? AND ?))");
            for _ in 0..2 {
                sel.params.push(SqlValue::Blob(lo.to_vec()));
                sel.params.push(SqlValue::Blob(hi.to_vec()));
            }
            fetch_page(c, &sel, q.order, q.limit, rows)?;
        }
        if rows.len() >= q.limit {
            break;
        }
    }
    Ok(())
}

/// (ts, id, encoded row) of a page.
type RawRow = (i64, String, Vec<u8>);

fn fetch_page(
    c: &Connection,
    sel: &Select,
    order: Order,
    limit: usize,
    out: &mut Vec<RawRow>,
) -> Result<()> {
    let sql = sel.sql(
        "e.ts, e.id, e.row",
        &format!("{} LIMIT {limit}", order_sql(order)),
    );
    let mut st = c.prepare_cached(&sql).map_err(sql_err)?;
    let mut rows = st
        .query(rusqlite::params_from_iter(sel.params.iter()))
        .map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        out.push((
            r.get(0).map_err(sql_err)?,
            r.get(1).map_err(sql_err)?,
            r.get(2).map_err(sql_err)?,
        ));
    }
    Ok(())
}

/// A stored address, port or sector as the text of a top-N key.
fn key_text(v: SqlValue) -> Option<String> {
    match v {
        SqlValue::Blob(b) => <[u8; 16]>::try_from(b.as_slice())
            .ok()
            .map(|a| ip_from_bytes(a).to_string()),
        SqlValue::Integer(i) => Some(i.to_string()),
        SqlValue::Text(s) => Some(s),
        _ => None,
    }
}

impl SqliteStore {
    pub(super) async fn search_rows(&self, table: Table, q: &EventQuery) -> Result<Vec<Event>> {
        if table == Table::DeadLetters {
            return Err(StoreError::BadQuery(
                "use dead_letters() to read dead letters".into(),
            ));
        }
        let q = q.clone();
        self.with_reader(move |c| {
            let mut rows: Vec<RawRow> = Vec::new();
            if !q.ids.is_empty() {
                // The id index narrows it down: one query.
                if let Some(sel) = Select::build(table, &q, "ts")? {
                    fetch_page(c, &sel, q.order, q.limit, &mut rows)?;
                }
            } else if q.ip.is_some() {
                search_by_address(c, table, &q, &mut rows)?;
            } else {
                for s in sectors_of(c, table, &q)? {
                    let mut one = q.clone();
                    one.scope = Scope::Sectors(vec![s]);
                    one.sector = None;
                    if let Some(sel) = Select::build(table, &one, "ts")? {
                        fetch_page(c, &sel, q.order, q.limit, &mut rows)?;
                    }
                }
            }
            rows.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            if q.order == Order::NewestFirst {
                rows.reverse();
            }
            rows.truncate(q.limit);
            rows.into_iter()
                .map(|(_, _, blob)| EventRow::decode(&blob)?.into_event())
                .collect()
        })
        .await
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
        let limit = limit.clamp(1, MAX_TOP);
        let mut q = q.clone();
        q.after = None;
        self.with_reader(move |c| {
            let Some(q) = with_listed_sectors(c, table, &q)? else {
                return Ok(Vec::new());
            };
            let Some(sel) = Select::build(table, &q, "ts")? else {
                return Ok(Vec::new());
            };
            let key = match by {
                TopBy::SourceIp => "e.src_ip",
                TopBy::DestinationIp => "e.dst_ip",
                TopBy::DestinationPort => "e.dst_port",
                TopBy::Sector => "e.sector",
            };
            let value = match metric {
                Metric::Count => "count(*)".to_string(),
                Metric::Bytes => format!("coalesce(sum(ncsoc_col(e.row, {})), 0)", col("bytes")),
                Metric::Packets => {
                    format!("coalesce(sum(ncsoc_col(e.row, {})), 0)", col("packets"))
                }
            };
            let sql = sel.sql(
                &format!("{key} AS k, {value} AS v"),
                &format!(" GROUP BY k HAVING k IS NOT NULL ORDER BY v DESC, k LIMIT {limit}"),
            );
            let mut st = c.prepare_cached(&sql).map_err(sql_err)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(sel.params.iter()), |r| {
                    Ok((r.get::<_, SqlValue>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(sql_err)?;
            let mut out = Vec::new();
            for r in rows {
                let (k, v) = r.map_err(sql_err)?;
                if let Some(key) = key_text(k) {
                    out.push(TopEntry {
                        key,
                        value: u64::try_from(v).unwrap_or(0),
                    });
                }
            }
            Ok(out)
        })
        .await
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
        let mut q = q.clone();
        q.after = None;
        self.with_reader(move |c| {
            let Some(q) = with_listed_sectors(c, table, &q)? else {
                return Ok(Vec::new());
            };
            let Some(sel) = Select::build(table, &q, "ts")? else {
                return Ok(Vec::new());
            };
            // Over events only the (sector, ts) index is read; flows add their sums.
            let sums = if table == Table::Flows {
                format!(
                    "coalesce(sum(ncsoc_col(e.row, {})), 0), coalesce(sum(ncsoc_col(e.row, {})), 0)",
                    col("bytes"),
                    col("packets")
                )
            } else {
                "0, 0".to_string()
            };
            let sql = sel.sql(
                &format!("(e.ts / {width}) * {width} AS b, e.sector, count(*), {sums}"),
                " GROUP BY b, e.sector ORDER BY b, e.sector",
            );
            let mut st = c.prepare_cached(&sql).map_err(sql_err)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(sel.params.iter()), |r| {
                    Ok(Bucket {
                        start: Timestamp(r.get(0)?),
                        sector: r.get(1)?,
                        count: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        bytes: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                        packets: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    })
                })
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
        })
        .await
    }

    pub(super) async fn indicator_rows(&self, q: &IndicatorQuery) -> Result<Vec<Indicator>> {
        let mut conds: Vec<&str> = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        if let Some(k) = q.kind {
            conds.push("kind = ?");
            params.push(SqlValue::Text(k.as_str().into()));
        }
        if let Some(s) = &q.source {
            conds.push("source = ?");
            params.push(SqlValue::Text(s.clone()));
        }
        if let Some(t) = q.active_at {
            conds.push("valid_from <= ? AND (valid_until IS NULL OR valid_until > ?)");
            params.push(SqlValue::Integer(t.nanos()));
            params.push(SqlValue::Integer(t.nanos()));
        }
        if let Some(a) = &q.after {
            conds.push("id > ?");
            params.push(SqlValue::Text(a.clone()));
        }
        let cond = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT doc FROM indicators{cond} ORDER BY id LIMIT {}",
            q.limit
        );
        self.with_reader(move |c| {
            let mut st = c.prepare_cached(&sql).map_err(sql_err)?;
            let docs = st
                .query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(0)
                })
                .map_err(sql_err)?;
            docs.map(|d| {
                serde_json::from_str(&d.map_err(sql_err)?)
                    .map_err(|e| StoreError::Corrupt(format!("indicator: {e}")))
            })
            .collect()
        })
        .await
    }

    pub(super) async fn remove_indicator(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.with_writer(move |c| {
            let gone: Option<i64> = c
                .query_row(
                    "DELETE FROM indicators WHERE id = ?1 RETURNING 1",
                    [&id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(gone.is_some())
        })
        .await
    }
}
