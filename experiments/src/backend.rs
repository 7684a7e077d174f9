//! The one place that names Burn backends: maps `--backend` to a [`Device`].

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
        "backend `{0}` was not compiled into this build; rebuild with `--features {0}` (default features include flex, ndarray and wgpu)"
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
