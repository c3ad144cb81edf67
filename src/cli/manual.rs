//! `completions SHELL` (clap_complete) and `man` (clap_mangen): documentation generated from
//! the same clap definitions as `--help`, so they cannot drift from the flags.

use crate::error::{Error, Result};
use clap::Args;
use clap_complete::Shell;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `completions`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    mysql-tablespace-recycling completions bash > /etc/bash_completion.d/mysql-tablespace-recycling\n  \
    mysql-tablespace-recycling completions zsh > \"${fpath[1]}/_mysql-tablespace-recycling\"\n  \
    mysql-tablespace-recycling completions fish > ~/.config/fish/completions/mysql-tablespace-recycling.fish")]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `man`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    mysql-tablespace-recycling man | man -l -\n  \
    mysql-tablespace-recycling man sandbox up | man -l -\n  \
    mysql-tablespace-recycling man --dir /usr/local/share/man/man1")]
pub struct ManArgs {
    /// The page of one command (`plan`, `sandbox up`); none: the tool's own page, which lists
    /// every command
    pub command: Vec<String>,
    /// Write every page (the tool's and one per command: mysql-tablespace-recycling.1,
    /// mysql-tablespace-recycling-plan.1, …) into DIR instead of printing one
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

/// The command tree as clap builds it (subcommands then carry their full display names).
fn built() -> clap::Command {
    let mut cmd = super::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Prints the completion script of the shell.
pub fn completions(a: &CompletionsArgs) -> Result<()> {
    let mut cmd = super::command();
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, name, &mut out);
    write_stdout(&out)
}

/// Prints the manual page asked for, or writes all of them to `--dir`.
pub fn man(a: &ManArgs) -> Result<()> {
    let cmd = built();
    if let Some(dir) = &a.dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
        clap_mangen::generate_to(cmd, dir).map_err(|e| Error::file(dir, e))?;
        eprintln!("wrote the manual pages to {}", dir.display());
        return Ok(());
    }
    let mut page = &cmd;
    for (i, name) in a.command.iter().enumerate() {
        page = page.find_subcommand(name).ok_or_else(|| {
            let known: Vec<&str> = page.get_subcommands().map(|c| c.get_name()).collect();
            Error::invalid(format!(
                "no command {:?} (known{}: {})",
                a.command[..=i].join(" "),
                if i == 0 { "" } else { " there" },
                known.join(", ")
            ))
        })?;
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(page.clone())
        .render(&mut out)
        .map_err(|e| Error::Internal(format!("cannot render the manual page: {e}")))?;
    write_stdout(&out)
}

/// Writes to stdout; a closed pipe (`| head`) is no error.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Internal(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
