//! Builds the oneDNN shim (`csrc/dnnl_shim.cpp`) when the `onednn` feature is on and oneDNN's
//! headers are installed (Debian: `libdnnl-dev`, 2.x or 3.x; elsewhere `DNNL_INCLUDE_DIR` and
//! `DNNL_LIB_DIR`, with the library on the loader's path at run time), and sets
//! `cfg(convlab_dnnl)`. Without them the crate still builds: flex then uses Burn's own
//! convolution kernels, and the build says so.

use std::path::Path;

fn header_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::env::var("DNNL_INCLUDE_DIR").into_iter().collect();
    dirs.extend(["/usr/include".to_string(), "/usr/local/include".to_string()]);
    dirs
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(convlab_dnnl)");
    println!("cargo:rerun-if-changed=csrc/dnnl_shim.cpp");
    println!("cargo:rerun-if-changed=csrc/dnnl_shim.h");
    println!("cargo:rerun-if-env-changed=DNNL_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=DNNL_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_ONEDNN").is_none() {
        return;
    }
    let Some(include) = header_dirs()
        .into_iter()
        .find(|d| Path::new(d).join("dnnl.hpp").is_file())
    else {
        println!(
            "cargo:warning=oneDNN not found (no dnnl.hpp; Debian: apt-get install libdnnl-dev): flex keeps Burn's slower convolutions"
        );
        return;
    };
    println!("cargo:rerun-if-changed={include}/dnnl.hpp");
    // The shim speaks both C++ APIs: 2.x (Debian 12's 2.6, op descriptors) and 3.x (Debian
    // 13's 3.7, PyPI's `onednn-cpu-gomp`), chosen by `DNNL_VERSION_MAJOR` when it compiles.
    let version = ["oneapi/dnnl/dnnl_version.h", "dnnl_version.h"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(Path::new(&include).join(f)).ok())
        .collect::<String>();
    let major = version
        .lines()
        .find_map(|l| l.strip_prefix("#define DNNL_VERSION_MAJOR"))
        .map(|v| v.trim().to_string());
    if !matches!(major.as_deref(), Some("2" | "3")) {
        println!(
            "cargo:warning=oneDNN major version {} found in {include}; the shim needs 2.x or 3.x: flex keeps Burn's slower convolutions",
            major.as_deref().unwrap_or("unknown")
        );
        return;
    }
    cc::Build::new()
        .cpp(true)
        .file("csrc/dnnl_shim.cpp")
        .include(&include)
        .flag("-std=c++17")
        .opt_level(2)
        .warnings(true)
        .compile("convlab_dnnl_shim");
    if let Ok(dir) = std::env::var("DNNL_LIB_DIR") {
        println!("cargo:rustc-link-search=native={dir}");
    }
    println!("cargo:rustc-link-lib=dnnl");
    println!("cargo:rustc-cfg=convlab_dnnl");
}
