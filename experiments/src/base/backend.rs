//! The one place that names Burn backends: maps `--backend` to a [`Device`].

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// A hardware GPU through wgpu when one exists, flex otherwise.
    #[default]
    Auto,
    /// Burn's pure-Rust CPU backend (the default CPU backend).
    Flex,
    /// Burn's ndarray CPU backend (deprecated upstream; kept because users ask for it).
    Ndarray,
    /// Burn's wgpu backend (Vulkan, Metal, DX12).
    Wgpu,
}

#[derive(Debug, Error)]
pub enum BackendError {
    #[error("unknown backend `{0}`; expected auto, flex, ndarray or wgpu")]
    Unknown(String),
    #[error(
        "backend `{0}` was not compiled into this build; rebuild with `--features {0}` (e.g. `cargo run --features {0} --bin convlab -- …`; flex and ndarray are compiled by default, wgpu only with its feature)"
    )]
    NotCompiled(&'static str),
    #[error("wgpu found no usable adapter: {0}")]
    Wgpu(String),
}

impl Backend {
    pub const ALL: [Backend; 4] = [
        Backend::Auto,
        Backend::Flex,
        Backend::Ndarray,
        Backend::Wgpu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }

    /// Whether this build can run the backend.
    pub fn compiled(self) -> bool {
        match self {
            Backend::Auto | Backend::Flex => true,
            Backend::Ndarray => cfg!(feature = "ndarray"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| BackendError::Unknown(s.to_string()))
    }
}

/// A device with the backend that was actually chosen.
#[derive(Debug, Clone)]
pub struct Selected {
    pub backend: Backend,
    pub device: Device,
    /// e.g. `flex (CPU)`, `wgpu (DiscreteGpu(0))`.
    pub description: String,
}

/// Resolves a backend choice to a device (not yet autodiff).
pub fn select(choice: Backend) -> Result<Selected, BackendError> {
    match choice {
        Backend::Flex => Ok(flex()),
        Backend::Ndarray => ndarray(),
        Backend::Wgpu => wgpu_any(),
        Backend::Auto => Ok(hardware_gpu().unwrap_or_else(flex)),
    }
}

fn flex() -> Selected {
    Selected {
        backend: Backend::Flex,
        device: Device::flex(),
        description: "flex (CPU)".into(),
    }
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)] // burn-ndarray is deprecated upstream; supported here by name only.
fn ndarray() -> Result<Selected, BackendError> {
    Ok(Selected {
        backend: Backend::Ndarray,
        device: Device::ndarray(),
        description: "ndarray (CPU)".into(),
    })
}

#[cfg(not(feature = "ndarray"))]
fn ndarray() -> Result<Selected, BackendError> {
    Err(BackendError::NotCompiled("ndarray"))
}

#[cfg(feature = "wgpu")]
mod gpu {
    use std::sync::OnceLock;

    use burn::tensor::{Device, DeviceKind};

    /// wgpu runtimes can be initialised once per process and kind: cache the outcome.
    static ANY: OnceLock<Result<(Device, String), String>> = OnceLock::new();
    static HARDWARE: OnceLock<Option<(Device, String)>> = OnceLock::new();

    fn try_kind(kind: DeviceKind) -> Result<(Device, String), String> {
        let label = format!("wgpu ({kind:?})");
        Device::wgpu_options()
            .device_kind(kind)
            .init()
            .map(|d| (d, label))
            .map_err(|e| e.to_string())
    }

    /// Any adapter, software ones (e.g. Mesa's lavapipe) included.
    pub fn any() -> Result<(Device, String), String> {
        ANY.get_or_init(|| {
            if let Some(hw) = hardware() {
                return Ok(hw);
            }
            try_kind(DeviceKind::Cpu).or_else(|_| try_kind(DeviceKind::DefaultDevice))
        })
        .clone()
    }

    /// A discrete or integrated GPU, if wgpu finds one.
    pub fn hardware() -> Option<(Device, String)> {
        HARDWARE
            .get_or_init(|| {
                try_kind(DeviceKind::DiscreteGpu(0))
                    .or_else(|_| try_kind(DeviceKind::IntegratedGpu(0)))
                    .ok()
            })
            .clone()
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_any() -> Result<Selected, BackendError> {
    gpu::any()
        .map(|(device, description)| Selected {
            backend: Backend::Wgpu,
            device,
            description,
        })
        .map_err(BackendError::Wgpu)
}

#[cfg(feature = "wgpu")]
fn hardware_gpu() -> Option<Selected> {
    gpu::hardware().map(|(device, description)| Selected {
        backend: Backend::Wgpu,
        device,
        description,
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_any() -> Result<Selected, BackendError> {
    Err(BackendError::NotCompiled("wgpu"))
}

#[cfg(not(feature = "wgpu"))]
fn hardware_gpu() -> Option<Selected> {
    None
}

/// Process set-up before any Burn call; the binary calls it first thing in `main`, before any
/// thread exists (it sets environment variables):
/// - `BURN_DEVICE`: Burn creates restored optimizer state on `Device::default()`, which would
///   start the wgpu runtime whenever it is compiled in; pointed at a CPU backend it costs
///   nothing, and the state moves to the run's device on its first step. An explicit
///   `BURN_DEVICE` is left alone.
/// - `XDG_RUNTIME_DIR`: the Vulkan loader prints `error: XDG_RUNTIME_DIR is invalid or not set`
///   on every adapter probe without one; a private directory is made when it is unset.
#[allow(unsafe_code)]
pub fn prepare_process(backend: Option<Backend>) {
    if std::env::var_os("BURN_DEVICE").is_none() {
        let device = match backend {
            Some(Backend::Ndarray) if cfg!(feature = "ndarray") => "ndarray",
            _ => "flex",
        };
        // SAFETY: called at the start of `main`, before any thread exists.
        unsafe { std::env::set_var("BURN_DEVICE", device) };
    }
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
        let dir = std::env::temp_dir().join(format!("convlab-runtime-{user}"));
        if std::fs::create_dir_all(&dir).is_ok() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
            }
            // SAFETY: as above.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
}
