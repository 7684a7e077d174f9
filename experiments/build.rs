//! Records the git commit of the source the binary is built from, and whether the working
//! tree had uncommitted changes, so every run can say which code produced it.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    // Rebuilt when the commit, the index or any source of the workspace changes.
    for path in [
        "../.git/HEAD",
        "../.git/index",
        "../crates",
        "../datasets/src",
        "src",
        "recipes",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty());
    if let Some(c) = &commit {
        println!("cargo:rustc-env=CONVLAB_GIT_COMMIT={c}");
    }
    if let Some(d) = dirty {
        println!("cargo:rustc-env=CONVLAB_GIT_DIRTY={}", u8::from(d));
    }
    let describe = match (commit, dirty) {
        (Some(c), Some(true)) => format!("{c}+dirty"),
        (Some(c), _) => c,
        (None, _) => "commit unknown".to_string(),
    };
    println!("cargo:rustc-env=CONVLAB_GIT_DESCRIBE={describe}");
}
