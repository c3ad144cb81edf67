//! Build script:
//!
//! - rebuilds the crate when a job store migration changes: `sqlx::migrate!` embeds
//!   `migrations/` at compile time, which cargo does not track by itself;
//! - sets `RECYCLER_GIT_REVISION` for `--version`: the short commit hash, with `-dirty` when
//!   tracked files differ from it. Read with `git` when the source tree has its own `.git` (a
//!   directory, or a worktree's `.git` file); else from `.cargo_vcs_info.json` (a `cargo package`
//!   tarball); else `unknown` (a plain tarball, no `git`). The script reruns when HEAD moves (the
//!   HEAD file, the branch it points to, `packed-refs`), the index changes, or a source changes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let revision = git_revision(&root)
        .or_else(|| packaged_revision(&root))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RECYCLER_GIT_REVISION={revision}");
}

/// The revision from `git`, when `root` has a `.git` of its own (a repository further up,
/// holding an unpacked tarball, is not this source's history). Registers the files whose
/// change moves it.
fn git_revision(root: &Path) -> Option<String> {
    let dot_git = root.join(".git");
    let git_dir = if dot_git.is_dir() {
        dot_git
    } else if dot_git.is_file() {
        // A worktree: `gitdir: /repo/.git/worktrees/NAME`.
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let dir = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
        if dir.is_absolute() {
            dir
        } else {
            root.join(dir)
        }
    } else {
        return None;
    };
    // Branches live in the common directory (a worktree's `commondir` names it).
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|| git_dir.clone());
    let head = git_dir.join("HEAD");
    watch(&head);
    watch(&git_dir.join("index"));
    watch(&common.join("packed-refs"));
    if let Some(branch) = std::fs::read_to_string(&head)
        .ok()
        .and_then(|h| h.strip_prefix("ref:").map(|r| r.trim().to_string()))
    {
        watch(&common.join(branch));
    }
    // Tracked sources: an edit makes the tree dirty.
    for p in ["src", "Cargo.toml", "Cargo.lock", "build.rs"] {
        println!("cargo:rerun-if-changed={p}");
    }
    let hash = git(root, &["rev-parse", "--short=10", "HEAD"])?;
    let status = git(root, &["status", "--porcelain", "--untracked-files=no"])?;
    Some(if status.is_empty() {
        hash
    } else {
        format!("{hash}-dirty")
    })
}

fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// `git ARGS` in `root`, trimmed; `None` when git is missing or fails.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit `cargo package` recorded in `.cargo_vcs_info.json`
/// (`{"git": {"sha1": "…", "dirty": true}}`).
fn packaged_revision(root: &Path) -> Option<String> {
    let path = root.join(".cargo_vcs_info.json");
    watch(&path);
    let text = std::fs::read_to_string(path).ok()?;
    let sha = text.split("\"sha1\"").nth(1)?.split('"').nth(1)?;
    let short: String = sha.chars().take(10).collect();
    let dirty = text.contains("\"dirty\": true") || text.contains("\"dirty\":true");
    Some(if dirty {
        format!("{short}-dirty")
    } else {
        short
    })
}
