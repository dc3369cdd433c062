//! Names the commit the binary is built from: `cowlab check --shard` writes it into each
//! shard's verdict, so that `cowlab check-merge` refuses shards of different builds. Outside
//! a git checkout (or without git) the version alone names the build.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_default();
    println!("cargo:rustc-env=COWLAB_COMMIT={commit}");
    // Run again when HEAD moves: a switch of branch, or a commit on the branch (its ref file,
    // or packed-refs once git packs it). A file that does not exist would make cargo run
    // this every build, so only those that exist are named.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
