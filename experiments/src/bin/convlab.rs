//! `convlab`: define, inspect, train and compare classic CNNs on Burn. A thin front-end: clap
//! parses, `convlab_experiments::cli` does the work.

use clap::Parser;
use convlab_experiments::cli::{Command, run};

/// Training allocates and frees activation-sized buffers every step; glibc returns large
/// blocks to the kernel at once (`mmap`), so each step paid page faults and zero-filling for
/// fresh pages (18 % of a ResNet-20 step's samples). mimalloc keeps and reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "convlab",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("CONVLAB_GIT_DESCRIBE"), ")"),
    about = "Classic CNNs (LeNet … ResNet) on Burn",
    arg_required_else_help = true,
    after_help = convlab_experiments::config::error::OFFLINE_START
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Settings read when the process starts, before `main`; when one is unset, start again with
/// it set (a value the user gave is kept):
/// - `OMP_WAIT_POLICY=passive`: oneDNN's OpenMP threads spin after every call otherwise, and
///   libgomp reads it when it loads.
/// - `MIMALLOC_PURGE_DELAY=-1`: mimalloc otherwise hands freed pages back to the kernel after
///   10 ms, and the next step's activations fault them in again, zero-filled: with it, a
///   ResNet-20 bench run (12 steps of 128) takes 11,400 page faults instead of 20,800, and
///   `clear_page_erms` (8 % of its samples) leaves the profile. The heap then stays at its
///   peak, which a training step reaches anyway.
#[cfg(unix)]
fn with_process_env() {
    use std::os::unix::process::CommandExt;
    const SETTINGS: [(&str, &str); 2] = [
        ("OMP_WAIT_POLICY", "passive"),
        ("MIMALLOC_PURGE_DELAY", "-1"),
    ];
    let missing: Vec<_> = SETTINGS
        .iter()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    if let Ok(exe) = std::env::current_exe() {
        let mut cmd = std::process::Command::new(exe);
        cmd.args(std::env::args_os().skip(1));
        for (k, v) in missing {
            cmd.env(k, v);
        }
        let err = cmd.exec();
        eprintln!(
            "warning: could not restart with OMP_WAIT_POLICY and MIMALLOC_PURGE_DELAY set: {err}"
        );
    }
}

/// A closed stdout or stderr (`convlab models | head`, `convlab train … | head -2`) ends the
/// process quietly, as it ends any Unix tool, instead of a panic in `println!` (Rust ignores
/// SIGPIPE by default) or a training worker that panics while the main thread waits for it.
/// A run killed this way keeps its last checkpoint and resumes like any interrupted run.
#[cfg(unix)]
#[allow(unsafe_code)] // one libc call; std has no safe way to restore SIGPIPE
fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    #[cfg(unix)]
    default_sigpipe();
    #[cfg(unix)]
    with_process_env();
    let cli = Cli::parse();
    // Before anything starts a thread (it sets environment variables).
    convlab_experiments::base::backend::prepare_process(cli.command.backend_hint());
    if let Err(e) = run(cli.command) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
