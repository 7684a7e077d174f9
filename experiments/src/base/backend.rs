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
    /// e.g. `flex (CPU)`, `wgpu (DiscreteGpu(0)): NVIDIA H100 80GB HBM3, Vulkan, driver NVIDIA
    /// 580.159.04, SPIR-V compiler`.
    pub description: String,
    /// On wgpu: the adapter, driver and shader compiler it runs on.
    pub gpu: Option<GpuInfo>,
}

/// What a wgpu device runs on (printed by `--backend wgpu`, kept in `run.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// The adapter as it names itself (`NVIDIA H100 80GB HBM3`, `llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub adapter: String,
    /// wgpu's device type (`DiscreteGpu`, `IntegratedGpu`, `Cpu` for a software rasterizer, …).
    pub kind: String,
    /// The graphics API under wgpu (`Vulkan`, `Metal`, `Dx12`, `Gl`).
    pub api: String,
    /// The driver's name and version as it reports them (`NVIDIA 580.159.04`, `llvmpipe Mesa 22.3.6`).
    pub driver: String,
    /// The shader compiler cubecl runs on it: `spirv` (Vulkan with the features cubecl's SPIR-V
    /// compiler needs: cooperative matrices where the device has them) or `wgsl` (the portable
    /// fallback, no tensor-core instructions).
    pub compiler: String,
}

impl GpuInfo {
    /// `NVIDIA H100 80GB HBM3, Vulkan, driver NVIDIA 580.159.04, SPIR-V compiler`.
    pub fn line(&self) -> String {
        let compiler = match self.compiler.as_str() {
            "spirv" => "SPIR-V",
            "wgsl" => "WGSL",
            other => other,
        };
        format!(
            "{}, {}, driver {}, {compiler} compiler",
            self.adapter, self.api, self.driver
        )
    }
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
        gpu: None,
    }
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)] // burn-ndarray is deprecated upstream; supported here by name only.
fn ndarray() -> Result<Selected, BackendError> {
    Ok(Selected {
        backend: Backend::Ndarray,
        device: Device::ndarray(),
        description: "ndarray (CPU)".into(),
        gpu: None,
    })
}

#[cfg(not(feature = "ndarray"))]
fn ndarray() -> Result<Selected, BackendError> {
    Err(BackendError::NotCompiled("ndarray"))
}

#[cfg(feature = "wgpu")]
mod gpu {
    use std::sync::OnceLock;

    use burn::tensor::wgpu::wgpu;
    use burn::tensor::{Device, DeviceKind};

    use super::GpuInfo;

    type Found = (Device, String, GpuInfo);

    /// wgpu runtimes can be initialised once per process and kind: cache the outcome.
    static ANY: OnceLock<Result<Found, String>> = OnceLock::new();
    static HARDWARE: OnceLock<Option<Found>> = OnceLock::new();

    fn try_kind(kind: DeviceKind) -> Result<Found, String> {
        let name = format!("{kind:?}");
        let device = Device::wgpu_options()
            .device_kind(kind)
            .init()
            .map_err(|e| e.to_string())?;
        let info = info(&device);
        let label = format!("wgpu ({name}): {}", info.line());
        Ok((device, label, info))
    }

    /// The adapter's name and the compiler from the device's cubecl client; the API and the
    /// driver (which cubecl does not keep) from wgpu's list of adapters, matched by name.
    fn info(device: &Device) -> GpuInfo {
        let (adapter, runtime) = match device.as_dispatch() {
            burn_dispatch::DispatchDevice::Cube(cube) => {
                let client = cube.client();
                (client.properties().identity.name.clone(), client.name())
            }
            _ => (String::from("unknown adapter"), "wgpu<wgsl>"),
        };
        let compiler = runtime
            .strip_prefix("wgpu<")
            .and_then(|r| r.strip_suffix('>'))
            .unwrap_or(runtime)
            .to_string();
        let listed = adapters().into_iter().find(|a| a.name == adapter);
        let (kind, api, driver) = match listed {
            Some(a) => (
                format!("{:?}", a.device_type),
                format!("{:?}", a.backend),
                format!("{} {}", a.driver, a.driver_info).trim().to_string(),
            ),
            None => ("unknown".into(), "unknown API".into(), "unknown".into()),
        };
        GpuInfo {
            adapter,
            kind,
            api,
            driver,
            compiler,
        }
    }

    /// Every adapter wgpu sees. Enumeration is synchronous on native targets (the future is
    /// ready when it is made), so one poll answers; a pending one counts as none found.
    fn adapters() -> Vec<wgpu::AdapterInfo> {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::all(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let mut listing = std::pin::pin!(instance.enumerate_adapters(wgpu::Backends::all()));
        match listing
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(adapters) => adapters.iter().map(|a| a.get_info()).collect(),
            Poll::Pending => Vec::new(),
        }
    }

    /// Any adapter, software ones (e.g. Mesa's lavapipe) included.
    pub fn any() -> Result<Found, String> {
        ANY.get_or_init(|| {
            if let Some(hw) = hardware() {
                return Ok(hw);
            }
            try_kind(DeviceKind::Cpu).or_else(|_| try_kind(DeviceKind::DefaultDevice))
        })
        .clone()
    }

    /// A discrete or integrated GPU, if wgpu finds one.
    pub fn hardware() -> Option<Found> {
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
        .map(|(device, description, info)| Selected {
            backend: Backend::Wgpu,
            device,
            description,
            gpu: Some(info),
        })
        .map_err(BackendError::Wgpu)
}

#[cfg(feature = "wgpu")]
fn hardware_gpu() -> Option<Selected> {
    gpu::hardware().map(|(device, description, info)| Selected {
        backend: Backend::Wgpu,
        device,
        description,
        gpu: Some(info),
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
