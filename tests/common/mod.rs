//! What the command-line tests share: running `cowlab` and reading what it printed.

use std::process::{Command, Output};

/// Runs `cowlab` with `args` and waits for it.
pub fn cowlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cowlab"))
        .args(args)
        .output()
        .expect("cowlab runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
