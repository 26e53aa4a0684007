//! End-to-end tests of the `lienthong` binary on real files.

mod cli_errors;
mod crash;
mod demo;
mod exchange;
mod recall;
mod sync;
mod sync_crash;

use std::path::Path;
use std::process::{Command, Output};

pub fn lienthong(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("running lienthong")
}
