//! libpq's password file (`~/.pgpass` format): `host:port:database:user:password` lines,
//! `*` matching anything, `\:` and `\\` escaping. tokio-postgres does not read it, so this
//! does, with libpq's rule made strict: the file must be the server user's own and closed
//! to everyone else (mode 0600), or it is refused, not silently ignored.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why the password file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PassfileError {
    #[error("passfile {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "passfile {} has mode {mode:04o}: it must be readable by its owner only \
         (chmod 600 {})",
        .path.display(), .path.display()
    )]
    Mode { path: PathBuf, mode: u32 },
    #[error(
        "passfile {} is owned by uid {owner}, not by the server's user (uid {user})",
        .path.display()
    )]
    Owner {
        path: PathBuf,
        owner: u32,
        user: u32,
    },
}

/// What a password is looked up for.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub database: &'a str,
    pub user: &'a str,
}

/// The password for `target` in the file at `path`, after checking its owner and mode.
pub fn lookup(path: &Path, target: Target<'_>) -> Result<Option<String>, PassfileError> {
    let read = |source| PassfileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read)?;
    let mode = metadata.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PassfileError::Mode {
            path: path.to_path_buf(),
            mode,
        });
    }
    let user = effective_uid();
    if metadata.uid() != user {
        return Err(PassfileError::Owner {
            path: path.to_path_buf(),
            owner: metadata.uid(),
            user,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    Ok(find(&text, target))
}

fn effective_uid() -> u32 {
    // /proc/self/status's "Uid:" line: real, effective, saved, fs.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(u32::MAX)
}

/// The first line of `text` that matches `target`.
pub fn find(text: &str, target: Target<'_>) -> Option<String> {
    let port = target.port.to_string();
    let wanted = [target.host, port.as_str(), target.database, target.user];
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = split(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, wanted)| field == "*" || field == wanted);
            matches.then(|| fields[4].clone())
        })
}

/// A line's fields, `\:` and `\\` unescaped.
fn split(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next()
                    && let Some(field) = fields.last_mut()
                {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const TARGET: Target<'static> = Target {
        host: "127.0.0.1",
        port: 5433,
        database: "fleet",
        user: "ferroban",
    };

    #[test]
    fn lines_match_with_wildcards_and_escapes() {
        let text =
            "# comment\nother:5433:fleet:ferroban:no\n127.0.0.1:*:fleet:ferroban:se\\:cr\\\\et:x\n";
        assert_eq!(find(text, TARGET).as_deref(), Some("se:cr\\et:x"));
        assert_eq!(find("*:*:*:*:any\n", TARGET).as_deref(), Some("any"));
        assert_eq!(find("127.0.0.1:5432:fleet:ferroban:no\n", TARGET), None);
    }

    #[test]
    fn open_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = lookup(&path, TARGET).unwrap_err();
        assert!(error.to_string().contains("has mode 0644"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&path, TARGET).unwrap().as_deref(), Some("secret"));
    }
}
