//! How a web server launched by a restore is wired to the site's data: its user data, a
//! template whose `{{placeholders}}` name the file system to mount and the database to use.
//! A restore fills them with the *restored* file system and cluster, so the health check
//! proves the restored stack, not the damaged originals.
//!
//! Double braces, because user data is usually a shell script and `${VAR}` is shell.

use std::collections::BTreeMap;

/// The placeholders a template may use, with what each is replaced by.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("site", "the site's name"),
    ("region", "the region the web tier is launched in"),
    (
        "file_system_id",
        "the file system to mount: the restored one when the plan restores it, else the live one",
    ),
    ("mount_path", "where it is mounted ([restore] mount_path)"),
    (
        "db_endpoint",
        "the database endpoint: the restored cluster's when the plan restores it, else the live one's",
    ),
];

/// Where restored web servers mount the file system unless the policy says otherwise.
pub const DEFAULT_MOUNT_PATH: &str = "/var/www/html";

/// A web policy's restore settings (`[restore]` in its file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebLaunch {
    pub mount_path: String,
    /// The user-data template; `None`: [`default_template`] for the site's components.
    pub user_data: Option<String>,
}

impl Default for WebLaunch {
    fn default() -> Self {
        Self {
            mount_path: DEFAULT_MOUNT_PATH.to_string(),
            user_data: None,
        }
    }
}

/// The placeholder names a template uses, in order of first use; or every problem in it
/// (an unknown name, an unclosed `{{`).
pub fn placeholders(template: &str) -> Result<Vec<String>, Vec<String>> {
    let mut used: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            problems.push(format!(
                "unclosed \"{{{{\" near {:?}",
                after.chars().take(20).collect::<String>()
            ));
            break;
        };
        let name = after[..close].trim();
        if PLACEHOLDERS.iter().any(|(n, _)| *n == name) {
            if !used.iter().any(|u| u == name) {
                used.push(name.to_string());
            }
        } else {
            problems.push(format!(
                "unknown placeholder {{{{{name}}}}}; known: {}",
                PLACEHOLDERS
                    .iter()
                    .map(|(n, _)| format!("{{{{{n}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[close + 2..];
    }
    if problems.is_empty() {
        Ok(used)
    } else {
        Err(problems)
    }
}

/// Replace every placeholder by its value. A placeholder without a value is an error that
/// names it (the template was checked when the policy was read, so this is a wiring gap).
pub fn render(template: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| "unclosed \"{{\" in the user-data template".to_string())?;
        let name = after[..close].trim();
        let value = values
            .get(name)
            .ok_or_else(|| format!("no value for {{{{{name}}}}} in the user-data template"))?;
        out.push_str(value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The user data a restored web server gets when its policy sets none: mount the file
/// system (an fstab line for the EFS mount helper, `_netdev,tls`) where the site has one,
/// point WordPress at the database where the site has a cluster, restart the web server.
pub fn default_template(has_file_system: bool, has_database: bool) -> String {
    let mut s = String::from(
        "#!/bin/bash\n\
         # Written by wpbackup for a restored web server of {{site}}.\n\
         set -euo pipefail\n",
    );
    if has_file_system {
        s.push_str(
            "mkdir -p {{mount_path}}\n\
             sed -i '\\| {{mount_path}} |d' /etc/fstab\n\
             echo '{{file_system_id}}:/ {{mount_path}} efs _netdev,tls 0 0' >> /etc/fstab\n\
             mount -a -t efs\n",
        );
    }
    if has_database {
        s.push_str(
            "sed -i \"s/define( *'DB_HOST', *'[^']*' *);/define( 'DB_HOST', '{{db_endpoint}}' );/\" {{mount_path}}/wp-config.php\n",
        );
    }
    s.push_str("systemctl restart httpd php-fpm 2>/dev/null || systemctl restart apache2 2>/dev/null || true\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_listed_once_and_unknown_ones_reported_all_at_once() {
        let t = "mount {{file_system_id}} at {{ mount_path }}; again {{file_system_id}}; ${HOME}";
        assert_eq!(
            placeholders(t).unwrap(),
            vec!["file_system_id".to_string(), "mount_path".to_string()]
        );
        let bad = placeholders("{{fs}} {{db_host}} {{site}} {{open").unwrap_err();
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(bad[0].contains("{{fs}}") && bad[0].contains("{{file_system_id}}"));
        assert!(bad[1].contains("{{db_host}}"));
        assert!(bad[2].contains("unclosed"));
    }

    #[test]
    fn render_fills_every_placeholder_and_names_a_missing_one() {
        let mut v = BTreeMap::new();
        v.insert("file_system_id".to_string(), "fs-123".to_string());
        v.insert("mount_path".to_string(), "/var/www/html".to_string());
        v.insert("db_endpoint".to_string(), "db.cluster-x".to_string());
        v.insert("site".to_string(), "blog".to_string());
        let out = render(&default_template(true, true), &v).unwrap();
        assert!(out.contains("fs-123:/ /var/www/html efs _netdev,tls 0 0"));
        assert!(out.contains("'DB_HOST', 'db.cluster-x'"));
        assert!(!out.contains("{{"));
        v.remove("db_endpoint");
        let err = render("{{db_endpoint}}", &v).unwrap_err();
        assert!(err.contains("{{db_endpoint}}"), "{err}");
        // Without a file system or a database, the default template uses neither.
        let bare = default_template(false, false);
        assert_eq!(placeholders(&bare).unwrap(), vec!["site".to_string()]);
    }
}
