//! CloudFront after the cutover: the paths of the objects the restore reverted invalidated
//! (in batches; `/*` past the limit) and waited for until completed — so the site stops
//! serving the defaced copies before the restore reports success; and, when the web tier
//! changed, whether the distribution's origins still resolve.

use super::execute::{StepAct, StepCtx};
use super::*;
use crate::domain::restore_plan::{InvalidateCdn, CDN_BATCH_PATHS};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// What a CloudFront path must encode: RFC 1738's unsafe characters and everything that
/// is not ASCII (`/` separates, `*` would be a wildcard).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'~')
    .add(b'*');

/// The URL path of an object key, as CloudFront invalidates it.
pub(crate) fn cdn_path(key: &str) -> String {
    format!("/{}", utf8_percent_encode(key, PATH))
}

/// The invalidation batches for `keys`: `/*` alone past `max_paths`.
pub(crate) fn batches(keys: &[String], max_paths: usize) -> Vec<Vec<String>> {
    let mut paths: Vec<String> = keys.iter().map(|k| cdn_path(k)).collect();
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        return vec![];
    }
    if paths.len() > max_paths {
        return vec![vec!["/*".to_string()]];
    }
    paths
        .chunks(CDN_BATCH_PATHS)
        .map(<[String]>::to_vec)
        .collect()
}

impl StepCtx {
    pub(super) async fn invalidate_cdn(
        &self,
        s: &InvalidateCdn,
        out: &mut Map<String, Value>,
    ) -> StepAct {
        let dist = &s.distribution_id;
        if s.dry_run {
            let would: i64 = s
                .bucket_steps
                .iter()
                .filter_map(|b| self.outputs.get(b)?.get("would_revert")?.as_i64())
                .sum();
            return Ok((
                StepState::Skipped,
                format!(
                    "a drill invalidates nothing in {dist}; a restore would invalidate the paths of {would} reverted object(s)"
                ),
            ));
        }
        let cdn = self.cloud.cdn.clone();
        let mut notes = Vec::new();
        if s.check_origins {
            let mut origins = Vec::new();
            for domain in cdn.origins(dist).await? {
                let found = tokio::net::lookup_host((domain.as_str(), 443)).await;
                let (resolves, addresses) = match found {
                    Ok(a) => {
                        let mut v: Vec<String> = a.map(|a| a.ip().to_string()).collect();
                        v.sort();
                        v.dedup();
                        (!v.is_empty(), v)
                    }
                    Err(_) => (false, vec![]),
                };
                notes.push(if resolves {
                    format!("origin {domain} resolves ({})", addresses.join(", "))
                } else {
                    format!("WARNING: origin {domain} does not resolve: CloudFront cannot reach the restored site through it")
                });
                origins
                    .push(json!({"domain": domain, "resolves": resolves, "addresses": addresses}));
            }
            out.insert("origins".into(), json!(origins));
        }
        let keys: Vec<String> = s
            .bucket_steps
            .iter()
            .flat_map(|b| {
                self.outputs
                    .get(b)
                    .map(|o| Self::recorded_list(o, "reverted"))
                    .unwrap_or_default()
            })
            .collect();
        let batches = batches(&keys, s.max_paths);
        let mut ids = Self::recorded_list(out, "invalidations");
        for (i, paths) in batches.iter().enumerate().skip(ids.len()) {
            // The plan's id and the batch: a resumed step gets the same invalidation.
            let id = cdn
                .create_invalidation(dist, paths, &format!("{}-{i}", self.plan.id))
                .await?;
            self.progress.note(
                &self.step.key,
                &format!("invalidation {id}: {} path(s)", paths.len()),
            );
            ids.push(id);
            out.insert("invalidations".into(), json!(ids));
            out.insert("paths".into(), json!(batches.concat()));
            self.save(out).await?;
        }
        for id in &ids {
            let cdn = cdn.clone();
            crate::cloud::wait::until_ready(
                &format!("CloudFront invalidation {id}"),
                self.timeout(),
                self.interval(),
                || {
                    let cdn = cdn.clone();
                    let id = id.clone();
                    async move {
                        Ok(crate::cloud::ResourceStatus {
                            state: cdn.invalidation_state(dist, &id).await?,
                            id,
                            address: None,
                            detail: Some("in progress".into()),
                        })
                    }
                },
            )
            .await?;
        }
        out.insert("paths".into(), json!(batches.concat()));
        out.insert("completed".into(), json!(true));
        let what = if batches.is_empty() {
            "nothing was reverted: nothing to invalidate".to_string()
        } else {
            format!(
                "{} path(s) invalidated in {dist} ({} invalidation(s), completed)",
                batches.iter().map(Vec::len).sum::<usize>(),
                ids.len()
            )
        };
        notes.insert(0, what);
        Ok((StepState::Done, notes.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_sorted_batched_and_collapse_past_the_limit() {
        assert_eq!(
            cdn_path("wp-content/uploads/a b.jpg"),
            "/wp-content/uploads/a%20b.jpg"
        );
        assert_eq!(cdn_path("ü/x*?.png"), "/%C3%BC/x%2A%3F.png");
        let keys: Vec<String> = (0..2500).map(|i| format!("k{i:04}")).collect();
        let b = batches(&keys, 3000);
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        assert_eq!(b[0][0], "/k0000");
        assert_eq!(batches(&keys, 2000), vec![vec!["/*".to_string()]]);
        assert!(batches(&[], 3000).is_empty());
    }
}
