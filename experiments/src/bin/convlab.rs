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

/// oneDNN's OpenMP threads spin after every call unless `OMP_WAIT_POLICY` says otherwise, and
/// libgomp reads it when it loads, before `main`: when it is unset, start again with it set.
#[cfg(unix)]
fn with_passive_openmp() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("OMP_WAIT_POLICY").is_some() {
        return;
    }
    if let Ok(exe) = std::env::current_exe() {
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("OMP_WAIT_POLICY", "passive")
            .exec();
        eprintln!("warning: could not restart with OMP_WAIT_POLICY=passive: {err}");
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
    with_passive_openmp();
    let cli = Cli::parse();
    // Before anything starts a thread (it sets environment variables).
    convlab_experiments::base::backend::prepare_process(cli.command.backend_hint());
    if let Err(e) = run(cli.command) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
