//! Embeds the catalog migrations — SQLite's `migrations/NNNN_description.sql` and
//! PostgreSQL's `migrations/postgres/NNNN_description.sql` — into the binary, as `sqlx::migrate!` would,
//! without sqlx's proc macros: those compile sqlx, SQLite (C) and tokio a second time for
//! the host. `src/catalog/mod.rs` builds each backend's `Migrator` from the tables written
//! here; version and description are parsed from the file name as sqlx does, and the
//! checksum is computed by `sqlx::migrate::Migration::new` (SHA-384 of the text), so
//! catalogs created by builds that used the macro keep opening.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let root = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("migrations");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut out = String::new();
    // SQLite's migrations stay where they shipped, in `migrations/` itself.
    for (backend, constant, dir) in [
        ("sqlite", "SQLITE_MIGRATIONS", root.clone()),
        ("postgres", "POSTGRES_MIGRATIONS", root.join("postgres")),
    ] {
        println!("cargo:rerun-if-changed={}", dir.display());
        writeln!(
            out,
            "/// (version, description, SQL) of every {backend} migration, in order.\n\
             pub(crate) const {constant}: &[(i64, &str, &str)] = &["
        )
        .expect("write to a String");
        for (version, description, path) in migrations(&dir) {
            writeln!(
                out,
                "    ({version}, {description:?}, include_str!({:?})),",
                path.display().to_string()
            )
            .expect("write to a String");
        }
        out.push_str("];\n");
    }
    let target = Path::new(&env::var("OUT_DIR").expect("set by cargo")).join("migrations.rs");
    fs::write(target, out).expect("write migrations.rs");
}

/// The migrations in `dir`, by version.
fn migrations(dir: &Path) -> Vec<(i64, String, PathBuf)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("read a migrations directory").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let (version, description) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("migration {name:?}: expected NNNN_description.sql"));
        let version: i64 = version.parse().unwrap_or_else(|_| {
            panic!("migration {name:?}: the prefix before `_` must be a number")
        });
        if description.ends_with(".up") || description.ends_with(".down") {
            panic!(
                "migration {name:?}: reversible migrations are not used; add a new numbered file"
            );
        }
        println!("cargo:rerun-if-changed={}", path.display());
        found.push((version, description.replace('_', " "), path));
    }
    found.sort_by_key(|(version, _, _)| *version);
    if let Some(w) = found.windows(2).find(|w| w[0].0 == w[1].0) {
        panic!("{}: two migrations with version {}", dir.display(), w[0].0);
    }
    found
}
