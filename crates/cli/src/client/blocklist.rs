//! `set JAIL banip --file FILE`: a blocklist read by the client, one address or network a
//! line, `#` comments, `-` for standard input. The client reads it (so `-` works, and the
//! file need not be readable by the server) and sends one `set JAIL banip IP...` with every
//! good line; each bad line is reported with its line number and the rest still banned.

use std::io::Read;
use std::net::IpAddr;

use ipnet::IpNet;

/// A line of a blocklist that is no address or network.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub text: String,
}

/// The words with `--file FILE` replaced by the file's addresses, and the bad lines;
/// other commands come back as they are. An error when the file cannot be read.
pub fn expand(words: &[String]) -> Result<(Vec<String>, Vec<BadLine>), String> {
    let [set, jail, banip, flag, file] = words else {
        return Ok((words.to_vec(), Vec::new()));
    };
    if set != "set" || banip != "banip" || flag != "--file" {
        return Ok((words.to_vec(), Vec::new()));
    }
    let text = read(file).map_err(|error| format!("cannot read {file}: {error}"))?;
    let (addresses, bad) = parse(&text);
    let mut expanded = vec![set.clone(), jail.clone(), banip.clone()];
    expanded.extend(addresses);
    Ok((expanded, bad))
}

fn read(file: &str) -> std::io::Result<String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(file)
}

/// The good entries of a blocklist and its bad lines (numbered from 1).
pub fn parse(text: &str) -> (Vec<String>, Vec<BadLine>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        if entry.parse::<IpAddr>().is_ok() || entry.parse::<IpNet>().is_ok() {
            good.push(entry.to_owned());
        } else {
            bad.push(BadLine {
                line: index + 1,
                text: entry.to_owned(),
            });
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_lines_kept_bad_ones_numbered() {
        let text = "# blocklist\n192.0.2.1\n\n203.0.113.0/24  # a net\nnot-an-ip\n2001:db8::/48\n10.0.0.300\n";
        let (good, bad) = parse(text);
        assert_eq!(good, ["192.0.2.1", "203.0.113.0/24", "2001:db8::/48"]);
        assert_eq!(
            bad,
            [
                BadLine {
                    line: 5,
                    text: "not-an-ip".into()
                },
                BadLine {
                    line: 7,
                    text: "10.0.0.300".into()
                }
            ]
        );
    }
}
