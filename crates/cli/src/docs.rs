//! Man pages and shell completions, generated from the clap definitions so that they list
//! exactly what the tools accept: `ferroban completions SHELL` prints a completion script,
//! the hidden `ferroban manpages DIR` writes `ferroban(1)` and one page per subcommand
//! (`ferroban-server(1)`, ...). The client's options come from its own table
//! (`client::command`), since its command line is not parsed by clap.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_mangen::roff::{Roff, bold, roman};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print a completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManpagesArgs {
    /// Directory the pages are written to (`ferroban.1`, `ferroban-server.1`, ...).
    pub dir: PathBuf,
}

/// The whole command line as one clap command, the client's options included.
pub fn command() -> clap::Command {
    crate::Cli::command()
        .disable_help_subcommand(true)
        .mut_subcommand("client", |_| crate::client::command())
}

pub fn completions(args: CompletionsArgs) -> ExitCode {
    let mut command = command();
    clap_complete::generate(args.shell, &mut command, "ferroban", &mut std::io::stdout());
    ExitCode::SUCCESS
}

pub fn manpages(args: ManpagesArgs) -> ExitCode {
    match write_manpages(&args.dir) {
        Ok(pages) => {
            for page in pages {
                println!("{}", page.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            crate::print_error(&error);
            ExitCode::FAILURE
        }
    }
}

/// Writes `ferroban.1` and `ferroban-SUBCOMMAND.1` for every visible subcommand; returns
/// the files written.
pub fn write_manpages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let top = command();
    let mut pages = vec![write_page(dir, top.clone())?];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("ferroban-{}", sub.get_name());
        let page = sub
            .clone()
            .name(&name)
            .bin_name(format!("ferroban {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        pages.push(write_page(dir, page)?);
    }
    Ok(pages)
}

fn write_page(dir: &Path, command: clap::Command) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{}.1", command.get_name()));
    let mut text = Vec::new();
    render(command, &mut text).with_context(|| format!("cannot render {}", path.display()))?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// clap_mangen's sections, with ours (`extra_sections`) before VERSION.
fn render(command: clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let extra = extra_sections(command.get_name());
    let has_options = command.get_arguments().any(|a| !a.is_hide_set());
    let has_subcommands = command.get_subcommands().any(|s| !s.is_hide_set());
    let man = clap_mangen::Man::new(command)
        .manual("ferroban manual")
        .source(format!("ferroban {}", env!("CARGO_PKG_VERSION")));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if has_options {
        man.render_options_section(out)?;
    }
    if has_subcommands {
        man.render_subcommands_section(out)?;
    }
    for (title, entries) in extra {
        let mut roff = Roff::default();
        roff.control("SH", [title]);
        for (term, text) in entries {
            roff.control("TP", [])
                .text([bold(term)])
                .text([roman(text)]);
        }
        roff.to_writer(out)?;
    }
    man.render_version_section(out)
}

type Section = (&'static str, Vec<(String, String)>);

/// What clap does not know: the client's command words, and the files ferroban uses.
fn extra_sections(page: &str) -> Vec<Section> {
    let entries = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(term, text)| (term.to_string(), text.to_string()))
            .collect()
    };
    match page {
        "ferroban-client" => vec![("COMMANDS", entries(crate::client::COMMANDS))],
        "ferroban" => vec![("FILES", entries(FILES))],
        _ => Vec::new(),
    }
}

/// Where the packaged configuration puts things (`config/fail2ban.conf`).
const FILES: &[(&str, &str)] = &[
    (
        "/etc/ferroban",
        "the configuration directory (fail2ban's layout: fail2ban.conf, jail.conf, \
         jail.local, jail.d/, filter.d/, action.d/); /etc/fail2ban when it does not exist",
    ),
    (
        "/run/ferroban/ferroban.sock",
        "the control socket (mode 0600)",
    ),
    ("/run/ferroban/ferroban.pid", "the server's pidfile"),
    (
        "/var/lib/ferroban/ferroban.sqlite3",
        "bans and log positions kept across restarts",
    ),
    ("/var/log/ferroban.log", "the server's log"),
];
