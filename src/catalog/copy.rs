//! `wpbackup catalog migrate`: copy a SQLite catalog into an empty PostgreSQL one, every
//! table with its ids (restore plans name point ids, and keep the catalog's identity, so a
//! plan reviewed before the move applies after it), then compare the row counts.
//!
//! Columns are read from SQLite by the type PostgreSQL's schema gives them (instants from
//! RFC 3339 text, JSON from text, flags from integers), so a column added to both schemas
//! is copied without a change here.

use super::postgres::PgCatalog;
use super::sqlite::SqliteCatalog;
use super::{parse_ts, CatalogError, CatalogResult};
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, QueryBuilder, Row};
use std::path::Path;

/// Tables in the order their references allow (the lease and the daemons' rows are the
/// running daemons', not copied). `recovery_points.source_point_id` refers to the same table: it is set in a
/// second pass.
const TABLES: &[&str] = &[
    "catalog_identity",
    "sites",
    "components",
    "policies",
    "runs",
    "fire_claims",
    "recovery_points",
    "point_deletions",
    "holds",
    "restore_plans",
    "restore_steps",
    "restore_plan_points",
    "audits",
    "audit_findings",
    "serving",
];

/// Rows per INSERT (PostgreSQL takes at most 65,535 parameters in a statement).
const BATCH: usize = 1_000;

/// One table's rows on each side after the copy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableCount {
    pub table: String,
    pub sqlite: i64,
    pub postgres: i64,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Text,
    Instant,
    Json,
    Flag,
}

/// Copy the SQLite catalog at `from` into the PostgreSQL database at `to` (which must hold
/// no catalog rows yet) in one transaction: all or nothing. Returns the counts per table,
/// which must match; a mismatch is an error and nothing is committed.
pub async fn sqlite_to_postgres(from: &Path, to: &str) -> CatalogResult<Vec<TableCount>> {
    let source = SqliteCatalog::open(from, false, true).await?;
    let lease: Option<(String, String)> =
        sqlx::query_as("SELECT holder, expires_at FROM daemon_lease WHERE id = 1")
            .fetch_optional(&source.pool)
            .await?;
    if let Some((holder, expires)) = lease {
        if parse_ts(&expires)? > chrono::Utc::now() {
            return Err(CatalogError::Refused(format!(
                "a daemon ({holder}) holds the lease on {} until {expires}: stop it first, or it \
                 would go on writing runs and points that the copy does not have",
                from.display()
            )));
        }
    }
    let target = PgCatalog::open(to, true).await?;
    let sites: i64 = sqlx::query_scalar("SELECT count(*) FROM sites")
        .fetch_one(&target.pool)
        .await?;
    if sites > 0 {
        return Err(CatalogError::Refused(format!(
            "the PostgreSQL catalog {} already records {sites} site(s): copy into a new, empty database",
            super::CatalogLocation::redact(to)
        )));
    }
    let mut tx = target.pool.begin().await?;
    // The target's own identity (made by its first migration) gives way to the source's.
    sqlx::query("DELETE FROM catalog_identity")
        .execute(&mut *tx)
        .await?;
    for table in TABLES {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *tx)
        .await?;
        let columns = columns
            .into_iter()
            .map(|(name, data_type)| {
                let kind = match data_type.as_str() {
                    "bigint" | "integer" => Kind::Int,
                    "text" => Kind::Text,
                    "timestamp with time zone" => Kind::Instant,
                    "jsonb" => Kind::Json,
                    "boolean" => Kind::Flag,
                    other => {
                        return Err(CatalogError::Corrupt(format!(
                            "{table}.{name}: no copy for PostgreSQL type {other}"
                        )))
                    }
                };
                Ok((name, kind))
            })
            .collect::<CatalogResult<Vec<_>>>()?;
        let names = columns
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!("SELECT {names} FROM {table} ORDER BY rowid"))
            .fetch_all(&source.pool)
            .await?;
        for chunk in rows.chunks(BATCH) {
            let mut insert: QueryBuilder<Postgres> =
                QueryBuilder::new(format!("INSERT INTO {table} ({names}) "));
            let mut failed = None;
            insert.push_values(chunk, |mut b, row| {
                for (name, kind) in &columns {
                    // The self-reference is set once every point exists.
                    let self_reference = *table == "recovery_points" && name == "source_point_id";
                    match value(row, name, *kind) {
                        Ok(_) if self_reference => {
                            b.push_bind(None::<i64>);
                        }
                        Ok(Value::Int(v)) => {
                            b.push_bind(v);
                        }
                        Ok(Value::Text(v)) => {
                            b.push_bind(v);
                        }
                        Ok(Value::Instant(v)) => {
                            b.push_bind(v);
                        }
                        Ok(Value::Json(v)) => {
                            b.push_bind(v);
                        }
                        Ok(Value::Flag(v)) => {
                            b.push_bind(v);
                        }
                        Err(e) => {
                            failed.get_or_insert(e);
                            b.push_bind(None::<i64>);
                        }
                    }
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            insert.build().execute(&mut *tx).await?;
        }
        if *table == "recovery_points" {
            let copies: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT id, source_point_id FROM recovery_points WHERE source_point_id IS NOT NULL",
            )
            .fetch_all(&source.pool)
            .await?;
            let (ids, sources): (Vec<i64>, Vec<i64>) = copies.into_iter().unzip();
            sqlx::query(
                "UPDATE recovery_points p SET source_point_id = c.source
                 FROM unnest($1::bigint[], $2::bigint[]) AS c(id, source) WHERE p.id = c.id",
            )
            .bind(&ids)
            .bind(&sources)
            .execute(&mut *tx)
            .await?;
        }
        if columns
            .iter()
            .any(|(n, k)| n == "id" && matches!(k, Kind::Int))
        {
            // Identities continue after the copied ids (`catalog_identity.id` is a plain
            // key: no sequence, nothing to set).
            sqlx::query(&format!(
                "SELECT setval(s.seq, COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)
                 FROM (SELECT pg_get_serial_sequence('{table}', 'id') AS seq) s
                 WHERE s.seq IS NOT NULL"
            ))
            .fetch_optional(&mut *tx)
            .await?;
        }
    }
    let mut counts = Vec::new();
    for table in TABLES {
        let sql = format!("SELECT count(*) FROM {table}");
        let sqlite: i64 = sqlx::query_scalar(&sql).fetch_one(&source.pool).await?;
        let postgres: i64 = sqlx::query_scalar(&sql).fetch_one(&mut *tx).await?;
        counts.push(TableCount {
            table: table.to_string(),
            sqlite,
            postgres,
        });
    }
    if let Some(c) = counts.iter().find(|c| c.sqlite != c.postgres) {
        return Err(CatalogError::Corrupt(format!(
            "{}: {} rows in SQLite but {} copied; nothing was committed",
            c.table, c.sqlite, c.postgres
        )));
    }
    tx.commit().await?;
    source.pool.close().await;
    target.pool.close().await;
    Ok(counts)
}

enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Instant(Option<chrono::DateTime<chrono::Utc>>),
    Json(Option<serde_json::Value>),
    Flag(Option<bool>),
}

fn value(row: &SqliteRow, column: &str, kind: Kind) -> CatalogResult<Value> {
    Ok(match kind {
        Kind::Int => Value::Int(row.try_get(column)?),
        Kind::Text => Value::Text(row.try_get(column)?),
        Kind::Flag => Value::Flag(row.try_get::<Option<i64>, _>(column)?.map(|v| v != 0)),
        Kind::Instant => Value::Instant(
            row.try_get::<Option<String>, _>(column)?
                .as_deref()
                .map(parse_ts)
                .transpose()?,
        ),
        Kind::Json => Value::Json(
            row.try_get::<Option<String>, _>(column)?
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| CatalogError::Corrupt(format!("{column}: {e}")))?,
        ),
    })
}
