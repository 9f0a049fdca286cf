//! A schema walker over a span-preserving TOML tree that collects *every* problem
//! (with line, column and key path) instead of stopping at the first, the way Velero
//! validates. Keys a reader never asked for are reported as unknown at `finish`.

use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `retention.daily` or `dr_copies[1].region`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}{}",
            self.file.display(),
            self.line,
            self.column,
            if self.key.is_empty() {
                String::new()
            } else {
                format!("`{}`: ", self.key)
            },
            self.message
        )
    }
}

/// The largest configuration or policy file read: real ones are a few kilobytes.
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;

/// Problems reported per file; past this many, a file is more likely the wrong file than a
/// policy with mistakes, and one line says how many more there were.
pub const MAX_DIAGNOSTICS: usize = 100;

/// Read a configuration or policy file, refusing one larger than [`MAX_SOURCE_BYTES`].
pub fn read_source(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    let read = file.take(MAX_SOURCE_BYTES + 1).read_to_string(&mut text);
    match read {
        Ok(n) if n as u64 > MAX_SOURCE_BYTES => Err(format!(
            "the file is larger than {} KiB, the most a configuration or policy file may hold; is it the right file?",
            MAX_SOURCE_BYTES >> 10
        )),
        Ok(_) => Ok(text),
        Err(e) => Err(e.to_string()),
    }
}

/// A file being read: its text (for line numbers) and the problems found so far.
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
    diags: RefCell<Vec<Diagnostic>>,
    /// Problems past [`MAX_DIAGNOSTICS`], counted, not kept; and whether one was an error.
    suppressed: std::cell::Cell<(usize, bool)>,
}

impl SourceFile {
    pub fn new(path: &Path, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            path: path.to_path_buf(),
            text,
            line_starts,
            diags: RefCell::new(Vec::new()),
            suppressed: std::cell::Cell::new((0, false)),
        }
    }

    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|s| *s <= offset).max(1);
        let col = offset - self.line_starts[line - 1] + 1;
        (line, col)
    }

    pub fn report(&self, severity: Severity, span: Range<usize>, key: &str, message: String) {
        if self.diags.borrow().len() >= MAX_DIAGNOSTICS {
            let (n, error) = self.suppressed.get();
            self.suppressed
                .set((n + 1, error || severity == Severity::Error));
            return;
        }
        let (line, column) = self.position(span.start);
        self.diags.borrow_mut().push(Diagnostic {
            severity,
            file: self.path.clone(),
            line,
            column,
            key: key.to_string(),
            message,
        });
    }

    pub fn error(&self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.report(Severity::Error, span, key, message.into());
    }

    pub fn warning(&self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.report(Severity::Warning, span, key, message.into());
    }

    pub fn has_errors(&self) -> bool {
        self.suppressed.get().1
            || self
                .diags
                .borrow()
                .iter()
                .any(|d| d.severity == Severity::Error)
    }

    pub fn take_diagnostics(&self) -> Vec<Diagnostic> {
        let mut d = std::mem::take(&mut *self.diags.borrow_mut());
        d.sort_by_key(|a| (a.line, a.column));
        let (more, error) = self.suppressed.replace((0, false));
        if more > 0 {
            d.push(Diagnostic {
                severity: if error { Severity::Error } else { Severity::Warning },
                file: self.path.clone(),
                line: self.line_starts.len(),
                column: 1,
                key: String::new(),
                message: format!(
                    "{more} more problems in this file not shown (at most {MAX_DIAGNOSTICS} are); fix the ones above and check again"
                ),
            });
        }
        d
    }

    /// Parse the text, reporting syntax errors; `None` when nothing could be read.
    pub fn parse(&self) -> Option<Spanned<DeTable<'_>>> {
        let (table, errors) = DeTable::parse_recoverable(&self.text);
        let fatal = !errors.is_empty();
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            self.error(span, "", format!("TOML syntax: {}", e.message().trim()));
        }
        if fatal {
            None
        } else {
            Some(table)
        }
    }
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Reads one TOML table against an expected shape.
pub struct TableReader<'a, 'i> {
    pub file: &'a SourceFile,
    prefix: String,
    table: &'a DeTable<'i>,
    span: Range<usize>,
    asked: RefCell<BTreeSet<String>>,
}

/// A value read from a file, with where it was.
pub struct At<T> {
    pub value: T,
    pub span: Range<usize>,
    pub key: String,
}

impl<'a, 'i> TableReader<'a, 'i> {
    pub fn root(file: &'a SourceFile, table: &'a Spanned<DeTable<'i>>) -> Self {
        Self {
            file,
            prefix: String::new(),
            table: table.get_ref(),
            span: table.span(),
            asked: RefCell::new(BTreeSet::new()),
        }
    }

    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    pub fn key_path(&self, key: &str) -> String {
        if key.is_empty() {
            self.prefix.clone()
        } else if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn raw(&self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.asked.borrow_mut().insert(key.to_string());
        self.table.get(key)
    }

    /// Mark a key as handled without reading it (its problems are reported elsewhere).
    pub fn ignore(&self, key: &str) {
        self.asked.borrow_mut().insert(key.to_string());
    }

    /// Where a key is (its key's span), or the table's span when absent.
    pub fn key_span(&self, key: &str) -> Range<usize> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(k, _)| k.span())
            .unwrap_or_else(|| self.span.clone())
    }

    pub fn has(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    fn missing(&self, key: &str, what: &str) {
        self.file.error(
            self.span.clone(),
            &self.key_path(key),
            format!("missing required key `{key}` ({what})"),
        );
    }

    fn wrong_type(&self, key: &str, v: &Spanned<DeValue<'_>>, what: &str) {
        self.file.error(
            v.span(),
            &self.key_path(key),
            format!("expected {what}, found {}", type_name(v.get_ref())),
        );
    }

    pub fn opt_str(&self, key: &str) -> Option<At<String>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(At {
                value: s.to_string(),
                span: v.span(),
                key: self.key_path(key),
            }),
            _ => {
                self.wrong_type(key, v, "a string");
                None
            }
        }
    }

    pub fn req_str(&self, key: &str, what: &str) -> Option<At<String>> {
        if !self.has(key) {
            self.asked.borrow_mut().insert(key.to_string());
            self.missing(key, what);
            return None;
        }
        self.opt_str(key)
    }

    pub fn opt_bool(&self, key: &str) -> Option<bool> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(key, v, "a boolean (true or false)");
                None
            }
        }
    }

    pub fn opt_int(&self, key: &str) -> Option<At<i64>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Integer(i) => {
                match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
                    Ok(n) => Some(At {
                        value: n,
                        span: v.span(),
                        key: self.key_path(key),
                    }),
                    Err(_) => {
                        self.wrong_type(key, v, "an integer that fits in 64 bits");
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(key, v, "an integer");
                None
            }
        }
    }

    /// A non-negative count (u32).
    pub fn opt_count(&self, key: &str) -> Option<At<u32>> {
        let at = self.opt_int(key)?;
        match u32::try_from(at.value) {
            Ok(n) => Some(At {
                value: n,
                span: at.span,
                key: at.key,
            }),
            Err(_) => {
                self.file.error(
                    at.span,
                    &at.key,
                    format!("expected a count of 0 or more, found {}", at.value),
                );
                None
            }
        }
    }

    /// A string parsed by `parse`, whose error says what would be accepted.
    pub fn opt_parsed<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<At<T>> {
        let s = self.opt_str(key)?;
        match parse(&s.value) {
            Ok(value) => Some(At {
                value,
                span: s.span,
                key: s.key,
            }),
            Err(msg) => {
                self.file.error(s.span, &s.key, msg);
                None
            }
        }
    }

    pub fn req_parsed<T>(
        &self,
        key: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<At<T>> {
        if !self.has(key) {
            self.asked.borrow_mut().insert(key.to_string());
            self.missing(key, what);
            return None;
        }
        self.opt_parsed(key, parse)
    }

    pub fn opt_table(&self, key: &str) -> Option<TableReader<'a, 'i>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(TableReader {
                file: self.file,
                prefix: self.key_path(key),
                table: t,
                span: v.span(),
                asked: RefCell::new(BTreeSet::new()),
            }),
            _ => {
                self.wrong_type(key, v, "a table");
                None
            }
        }
    }

    pub fn req_table(&self, key: &str, what: &str) -> Option<TableReader<'a, 'i>> {
        if !self.has(key) {
            self.asked.borrow_mut().insert(key.to_string());
            self.missing(key, what);
            return None;
        }
        self.opt_table(key)
    }

    /// An array of tables (`[[key]]`); a single table is also accepted.
    pub fn opt_tables(&self, key: &str) -> Vec<TableReader<'a, 'i>> {
        let Some(v) = self.raw(key) else {
            return Vec::new();
        };
        match v.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item.get_ref() {
                    DeValue::Table(t) => Some(TableReader {
                        file: self.file,
                        prefix: format!("{}[{i}]", self.key_path(key)),
                        table: t,
                        span: item.span(),
                        asked: RefCell::new(BTreeSet::new()),
                    }),
                    _ => {
                        self.file.error(
                            item.span(),
                            &format!("{}[{i}]", self.key_path(key)),
                            format!("expected a table, found {}", type_name(item.get_ref())),
                        );
                        None
                    }
                })
                .collect(),
            DeValue::Table(t) => vec![TableReader {
                file: self.file,
                prefix: self.key_path(key),
                table: t,
                span: v.span(),
                asked: RefCell::new(BTreeSet::new()),
            }],
            _ => {
                self.wrong_type(key, v, "an array of tables ([[...]])");
                Vec::new()
            }
        }
    }

    /// A table of string values (e.g. `[tags]`).
    pub fn opt_string_map(&self, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(t) = self.opt_table(key) else {
            return out;
        };
        for (k, v) in t.table.iter() {
            let name = k.get_ref().to_string();
            t.asked.borrow_mut().insert(name.clone());
            match v.get_ref() {
                DeValue::String(s) => {
                    out.insert(name, s.to_string());
                }
                _ => t.wrong_type(&name, v, "a string"),
            }
        }
        out
    }

    /// An array of strings; every element that is not a string is reported.
    pub fn opt_str_list(&self, key: &str) -> Option<At<Vec<String>>> {
        let v = self.raw(key)?;
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong_type(key, v, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.to_string()),
                other => {
                    ok = false;
                    self.file.error(
                        item.span(),
                        &self.key_path(key),
                        format!("expected a string, found {}", type_name(other)),
                    );
                }
            }
        }
        ok.then(|| At {
            value: out,
            span: v.span(),
            key: self.key_path(key),
        })
    }

    /// A command: one string (run by `sh -c`) or an array of strings (argv).
    pub fn opt_command(&self, key: &str) -> Option<At<Vec<String>>> {
        let v = self.raw(key)?;
        let at = |value| {
            Some(At {
                value,
                span: v.span(),
                key: self.key_path(key),
            })
        };
        match v.get_ref() {
            DeValue::String(s) => at(vec!["sh".into(), "-c".into(), s.to_string()]),
            DeValue::Array(items) => {
                let mut argv = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => argv.push(s.to_string()),
                        other => {
                            self.file.error(
                                item.span(),
                                &self.key_path(key),
                                format!(
                                    "expected every argument to be a string, found {}",
                                    type_name(other)
                                ),
                            );
                            return None;
                        }
                    }
                }
                if argv.is_empty() {
                    self.file
                        .error(v.span(), &self.key_path(key), "the command is empty");
                    return None;
                }
                at(argv)
            }
            _ => {
                self.wrong_type(key, v, "a string or an array of strings");
                None
            }
        }
    }

    /// Report keys present in the table that no one asked for.
    pub fn finish(self) {
        let asked = self.asked.borrow();
        for (k, _) in self.table.iter() {
            let name = k.get_ref().as_ref();
            if !asked.contains(name) {
                let mut msg = format!("unknown key `{name}`");
                if let Some(s) = closest(name, asked.iter().map(String::as_str)) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                } else if !asked.is_empty() {
                    msg.push_str(&format!(
                        "; known keys here: {}",
                        asked.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                self.file.error(k.span(), &self.key_path(name), msg);
            }
        }
    }
}

/// The known key nearest to a misspelling, if it is near enough to be a typo.
fn closest<'s>(word: &str, candidates: impl Iterator<Item = &'s str>) -> Option<&'s str> {
    candidates
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
