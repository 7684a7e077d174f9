//! torchvision state dicts in and out. Each family that torchvision has (AlexNet, VGG with and
//! without batch norm, the ImageNet ResNets, GoogLeNet) gets a table from torchvision's keys to
//! our module paths, derived from the *built* model (so a table cannot disagree with the
//! module tree). Import checks that every tensor of the file is used exactly once with the right
//! shape; export writes safetensors under torchvision's names, which
//! `torchvision.models.<arch>().load_state_dict(...)` loads strictly.
//!
//! Reading a `.pth` runs no pickle code: Burn's reader (burn-store) understands the
//! tensor-rebuilding opcodes only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{
    ApplyError, BurnToPyTorchAdapter, FloatCastAdapter, ModuleAdapter, ModuleContext,
    ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use burn::tensor::DType;
use convlab_blocks::{ConvBnAct, Layer, Sequential};
use thiserror::Error;

use crate::arch::{AlexNetLayout, Arch, Spec};
use crate::network::{Model, Network};

#[derive(Debug, Error)]
pub enum TorchvisionError {
    #[error(
        "{arch} has no torchvision counterpart; torchvision weights exist for alexnet, vgg11/13/16/19 (and -bn), resnet18/34/50/101/152 and googlenet"
    )]
    Unsupported { arch: String },
    #[error("{arch}: {message}")]
    Layout { arch: String, message: String },
    #[error("{path}: cannot read weights: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: does not fit {arch}:\n{details}")]
    Mismatch {
        path: PathBuf,
        arch: String,
        details: String,
    },
    #[error("{path}: cannot write weights: {message}")]
    Write { path: PathBuf, message: String },
}

type Result<T, E = TorchvisionError> = std::result::Result<T, E>;

/// One tensor of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPair {
    /// torchvision's state-dict key, e.g. `features.0.weight`.
    pub torchvision: String,
    /// Our module path (relative to [`Model`]), e.g. `net.features.layers.0.conv.weight`.
    pub ours: String,
    /// Part of a final classification layer (sized by the number of classes).
    pub classifier: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Tensors loaded.
    pub loaded: usize,
    /// The prefix the file's keys carried (`module.` for DataParallel, `state_dict.`, …).
    pub prefix: String,
    /// Keys of the file deliberately not used (`num_batches_tracked`, a classifier for a
    /// different number of classes, auxiliary heads the model does not have).
    pub skipped: Vec<String>,
    /// Our tensors left at their initial values (a new classifier).
    pub not_imported: Vec<String>,
    /// Keys outside the state dict (e.g. an optimizer's state in a training checkpoint).
    pub ignored_outside_prefix: usize,
}

struct Table {
    pairs: Vec<KeyPair>,
}

impl Table {
    fn push(&mut self, tv: String, ours: String, classifier: bool) {
        self.pairs.push(KeyPair {
            torchvision: tv,
            ours,
            classifier,
        });
    }

    /// A convolution with its batch norm: torchvision's conv at `tv_conv`, its BN at `tv_bn`.
    fn conv(&mut self, tv_conv: &str, tv_bn: &str, ours: &str, c: &ConvBnAct) {
        self.push(
            format!("{tv_conv}.weight"),
            format!("{ours}.conv.weight"),
            false,
        );
        if c.conv.bias.is_some() {
            self.push(
                format!("{tv_conv}.bias"),
                format!("{ours}.conv.bias"),
                false,
            );
        }
        if c.bn.is_some() {
            for (tv, o) in [
                ("weight", "gamma"),
                ("bias", "beta"),
                ("running_mean", "running_mean"),
                ("running_var", "running_var"),
            ] {
                self.push(format!("{tv_bn}.{tv}"), format!("{ours}.bn.{o}"), false);
            }
        }
    }

    /// torchvision's `BasicConv2d` (GoogLeNet): `.conv` and `.bn`.
    fn basic(&mut self, tv: &str, ours: &str, c: &ConvBnAct) {
        self.conv(&format!("{tv}.conv"), &format!("{tv}.bn"), ours, c);
    }

    fn linear(&mut self, tv: &str, ours: &str, classifier: bool) {
        for p in ["weight", "bias"] {
            self.push(format!("{tv}.{p}"), format!("{ours}.{p}"), classifier);
        }
    }
}

fn conv_of(layer: &Layer) -> Option<&ConvBnAct> {
    match layer {
        Layer::Conv(c) => Some(c),
        _ => None,
    }
}

/// torchvision's key for every tensor of `model`, in module order.
pub fn key_table(model: &Model) -> Result<Vec<KeyPair>> {
    let arch = model.arch;
    let layout = |message: &str| TorchvisionError::Layout {
        arch: arch.name().to_string(),
        message: message.to_string(),
    };
    let unsupported = || TorchvisionError::Unsupported {
        arch: arch.name().to_string(),
    };
    if let Some(k) = model.cut {
        return Err(layout(&format!(
            "the model is cut after {k} layers or stages (model.cut): torchvision has no such network"
        )));
    }
    let mut t = Table { pairs: vec![] };
    match (arch.spec(), &model.net) {
        (Spec::AlexNet(AlexNetLayout::Torchvision), Network::Features(f))
        | (Spec::Vgg { cifar: false, .. }, Network::Features(f)) => {
            // torchvision counts every module of `features` (conv, BN, ReLU, pool); we count
            // convolution blocks and pools.
            let mut tv = 0;
            for (i, layer) in f.features.layers.iter().enumerate() {
                match layer {
                    Layer::Conv(c) => {
                        t.conv(
                            &format!("features.{tv}"),
                            &format!("features.{}", tv + 1),
                            &format!("net.features.layers.{i}"),
                            c,
                        );
                        tv += if c.bn.is_some() { 3 } else { 2 };
                    }
                    Layer::MaxPool(_) | Layer::AvgPool(_) => tv += 1,
                    Layer::Lrn(_) | Layer::Inception(_) => {
                        return Err(layout(
                            "LRN is not in torchvision's layout (turn `lrn` off)",
                        ));
                    }
                }
            }
            let indices: &[usize] = if matches!(arch.spec(), Spec::AlexNet(_)) {
                &[1, 4, 6]
            } else {
                &[0, 3, 6]
            };
            if f.head.linears.len() != indices.len() {
                return Err(layout(
                    "the classifier is not torchvision's three fully connected layers (head = \"fc\")",
                ));
            }
            for (j, k) in indices.iter().enumerate() {
                t.linear(
                    &format!("classifier.{k}"),
                    &format!("net.head.linears.{j}"),
                    j + 1 == indices.len(),
                );
            }
        }
        (Spec::ResNet { .. }, Network::ResNet(r)) => {
            let stem = r
                .stem
                .layers
                .first()
                .and_then(conv_of)
                .ok_or_else(|| layout("no stem convolution"))?;
            t.conv("conv1", "bn1", "net.stem.layers.0", stem);
            for (s, stage) in r.stages.iter().enumerate() {
                for (b, block) in stage.iter().enumerate() {
                    let tv = format!("layer{}.{b}", s + 1);
                    let ours = format!("net.stages.{s}.{b}");
                    for (k, c) in block.convs.iter().enumerate() {
                        t.conv(
                            &format!("{tv}.conv{}", k + 1),
                            &format!("{tv}.bn{}", k + 1),
                            &format!("{ours}.convs.{k}"),
                            c,
                        );
                    }
                    if let Some(p) = &block.projection {
                        t.conv(
                            &format!("{tv}.downsample.0"),
                            &format!("{tv}.downsample.1"),
                            &format!("{ours}.projection"),
                            p,
                        );
                    } else if block.subsample.is_some() {
                        return Err(layout(
                            "option-A shortcuts are not torchvision's (use shortcut = \"b\")",
                        ));
                    }
                }
            }
            head_fc(&mut t, &r.head.linears, &layout)?;
        }
        (Spec::GoogLeNet { cifar: false }, Network::GoogLeNet(g)) => {
            let stem: Vec<(usize, &ConvBnAct)> = g
                .stem
                .layers
                .iter()
                .enumerate()
                .filter_map(|(i, l)| conv_of(l).map(|c| (i, c)))
                .collect();
            if stem.len() != 3 {
                return Err(layout("the stem is not torchvision's three convolutions"));
            }
            for ((i, c), tv) in stem.into_iter().zip(["conv1", "conv2", "conv3"]) {
                t.basic(tv, &format!("net.stem.layers.{i}"), c);
            }
            inception_body(&mut t, &g.body, &layout)?;
            for (i, aux) in g.aux.iter().enumerate() {
                let tv = format!("aux{}", i + 1);
                t.basic(
                    &format!("{tv}.conv"),
                    &format!("net.aux.{i}.conv"),
                    &aux.conv,
                );
                if aux.head.linears.len() != 2 {
                    return Err(layout("an auxiliary head is not fc1 + fc2"));
                }
                t.linear(
                    &format!("{tv}.fc1"),
                    &format!("net.aux.{i}.head.linears.0"),
                    false,
                );
                t.linear(
                    &format!("{tv}.fc2"),
                    &format!("net.aux.{i}.head.linears.1"),
                    true,
                );
            }
            head_fc(&mut t, &g.head.linears, &layout)?;
        }
        _ => return Err(unsupported()),
    }
    Ok(t.pairs)
}

fn head_fc(
    t: &mut Table,
    linears: &[burn::nn::Linear],
    layout: &dyn Fn(&str) -> TorchvisionError,
) -> Result<()> {
    if linears.len() != 1 {
        return Err(layout(
            "the classifier is not torchvision's single `fc` layer (head = \"gap\")",
        ));
    }
    t.linear("fc", "net.head.linears.0", true);
    Ok(())
}

fn inception_body(
    t: &mut Table,
    body: &Sequential,
    layout: &dyn Fn(&str) -> TorchvisionError,
) -> Result<()> {
    const NAMES: [&str; 9] = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"];
    let mut names = NAMES.iter();
    for (j, layer) in body.layers.iter().enumerate() {
        let Layer::Inception(m) = layer else { continue };
        let name = names
            .next()
            .ok_or_else(|| layout("more Inception modules than torchvision's nine"))?;
        let tv = format!("inception{name}");
        let ours = format!("net.body.layers.{j}");
        t.basic(
            &format!("{tv}.branch1"),
            &format!("{ours}.branch1"),
            &m.branch1,
        );
        for (k, c) in m.branch2.iter().enumerate() {
            t.basic(
                &format!("{tv}.branch2.{k}"),
                &format!("{ours}.branch2.{k}"),
                c,
            );
        }
        for (k, c) in m.branch3.iter().enumerate() {
            t.basic(
                &format!("{tv}.branch3.{k}"),
                &format!("{ours}.branch3.{k}"),
                c,
            );
        }
        // torchvision's branch4 is (max pool, BasicConv2d).
        t.basic(
            &format!("{tv}.branch4.1"),
            &format!("{ours}.branch4"),
            &m.branch4,
        );
    }
    if names.next().is_some() {
        return Err(layout("fewer Inception modules than torchvision's nine"));
    }
    Ok(())
}

/// Every tensor of a weights file (`.safetensors`, or a `.pth`/`.pt` written by `torch.save`),
/// by key.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, PackTensor>> {
    let read = |message: String| TorchvisionError::Read {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_file() {
        return Err(read("no such file".into()));
    }
    let safetensors = path.extension().is_some_and(|e| e == "safetensors");
    if safetensors {
        let mut store = SafetensorsStore::from_file(path);
        store
            .get_all_tensors()
            .cloned()
            .map_err(|e| read(e.to_string()))
    } else {
        // Keys as written: torchvision's indices (`features.3`) must not be renumbered.
        let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
        store
            .get_all_tensors()
            .cloned()
            .map_err(|e| read(e.to_string()))
    }
}

const PREFIXES: [&str; 6] = [
    "",
    "module.",
    "state_dict.",
    "model.",
    "model_state_dict.",
    "state_dict.module.",
];

fn shape_of(t: &PackTensor) -> String {
    format!("{:?}", t.shape.as_slice())
}

/// Loads a torchvision state dict into `model`. Every tensor of the file must be used exactly
/// once with the shape the model expects; the exceptions are `num_batches_tracked`, the final
/// classifier when the model has a different number of classes than the file (it keeps its
/// initial values: a new head), and auxiliary heads the model was built without.
pub fn import(model: &mut Model, path: &Path) -> Result<ImportReport> {
    let arch = model.arch;
    let table = key_table(model)?;
    let source = read_tensors(path)?;
    let mismatch = |details: String| TorchvisionError::Mismatch {
        path: path.to_path_buf(),
        arch: arch.name().to_string(),
        details,
    };
    let first = &table[0].torchvision;
    let prefix = PREFIXES
        .iter()
        .find(|p| source.contains_key(&format!("{p}{first}")))
        .ok_or_else(|| {
            let some: Vec<&str> = source.keys().take(8).map(String::as_str).collect();
            mismatch(format!(
                "  none of the keys torchvision's {} has (e.g. `{first}`); the file has {} keys, e.g. {}",
                arch.name(),
                source.len(),
                some.join(", ")
            ))
        })?
        .to_string();

    // The final classifier is imported only when its shape is the model's.
    let classifier_fits = table.iter().filter(|p| p.classifier).all(|p| {
        source
            .get(&format!("{prefix}{}", p.torchvision))
            .is_some_and(|t| t.shape.as_slice().first() == Some(&model.classes))
    });
    let mut report = ImportReport {
        prefix: prefix.clone(),
        ..Default::default()
    };
    let mut tensors = vec![];
    let mut missing = vec![];
    let mut used: BTreeSet<String> = BTreeSet::new();
    for p in &table {
        let key = format!("{prefix}{}", p.torchvision);
        if p.classifier && !classifier_fits {
            report.not_imported.push(p.ours.clone());
            if source.contains_key(&key) {
                used.insert(key.clone());
                report.skipped.push(key);
            }
            continue;
        }
        match source.get(&key) {
            Some(t) => {
                let mut t = t.clone();
                t.name = p.ours.clone();
                tensors.push(t);
                used.insert(key);
            }
            None => missing.push(p.torchvision.clone()),
        }
    }
    let has_aux = table.iter().any(|p| p.torchvision.starts_with("aux"));
    let mut unexpected = vec![];
    for (key, t) in &source {
        let Some(rest) = key.strip_prefix(prefix.as_str()) else {
            report.ignored_outside_prefix += 1;
            continue;
        };
        if prefix.is_empty() && PREFIXES[1..].iter().any(|p| key.starts_with(p)) {
            report.ignored_outside_prefix += 1;
            continue;
        }
        if used.contains(key) {
            continue;
        }
        if rest.ends_with("num_batches_tracked") || (!has_aux && rest.starts_with("aux")) {
            report.skipped.push(key.clone());
        } else {
            unexpected.push(format!("  {key} {}", shape_of(t)));
        }
    }
    if !missing.is_empty() || !unexpected.is_empty() {
        let mut d = String::new();
        if !missing.is_empty() {
            d.push_str(&format!(
                "  {} keys torchvision's {} has are not in the file: {}\n",
                missing.len(),
                arch.name(),
                list(&missing)
            ));
        }
        if !unexpected.is_empty() {
            d.push_str(&format!(
                "  {} keys of the file have no place in {}:\n{}",
                unexpected.len(),
                arch.name(),
                as_lines(&unexpected)
            ));
        }
        return Err(mismatch(d.trim_end().to_string()));
    }

    let adapter = PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32));
    let result = model.apply(tensors, None, Some(Box::new(adapter)), true);
    if !result.errors.is_empty() {
        let lines: Vec<String> = result
            .errors
            .iter()
            .map(|e| match e {
                ApplyError::ShapeMismatch {
                    path,
                    expected,
                    found,
                } => {
                    let tv = table
                        .iter()
                        .find(|p| &p.ours == path)
                        .map_or(path.as_str(), |p| p.torchvision.as_str());
                    format!(
                        "  {tv}: the file has {:?}, {} expects {:?}",
                        found.as_slice(),
                        arch.name(),
                        expected.as_slice()
                    )
                }
                other => format!("  {other}"),
            })
            .collect();
        return Err(mismatch(as_lines(&lines)));
    }
    if !result.unused.is_empty() {
        return Err(mismatch(format!(
            "  internal: table paths that are not modules: {}",
            list(&result.unused)
        )));
    }
    let allowed: BTreeSet<&String> = report.not_imported.iter().collect();
    let left: Vec<String> = result
        .missing
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| !allowed.contains(p))
        .collect();
    if !left.is_empty() {
        return Err(mismatch(format!(
            "  {} of the model's tensors have no torchvision key: {}",
            left.len(),
            list(&left)
        )));
    }
    report.loaded = result.applied.len();
    Ok(report)
}

/// The first `shown` items joined by `sep`, and how many more there are (after `pad`).
fn abbreviate(items: &[String], sep: &str, pad: &str, shown: usize) -> String {
    let mut s = items
        .iter()
        .take(shown)
        .cloned()
        .collect::<Vec<_>>()
        .join(sep);
    if items.len() > shown {
        s.push_str(&format!("{sep}{pad}… ({} more)", items.len() - shown));
    }
    s
}

fn list(items: &[String]) -> String {
    abbreviate(items, ", ", "", 12)
}

fn as_lines(items: &[String]) -> String {
    abbreviate(items, "\n", "  ", 20)
}

/// Our module paths renamed to torchvision's keys, Linear weights transposed back to
/// `[out, in]`.
#[derive(Clone)]
struct ToTorchvision(Arc<HashMap<String, String>>);

impl ModuleAdapter for ToTorchvision {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        let mut t = BurnToPyTorchAdapter.adapt(tensor, ctx);
        if let Some(k) = self.0.get(&t.name) {
            t.name = k.clone();
        }
        t
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// Writes `model` as a safetensors file with torchvision's keys (float32, no
/// `num_batches_tracked`, which torchvision's batch norm fills in when loading). Returns the
/// number of tensors written.
pub fn export(model: &Model, path: &Path) -> Result<usize> {
    let table = key_table(model)?;
    let write = |message: String| TorchvisionError::Write {
        path: path.to_path_buf(),
        message,
    };
    let names: HashMap<String, String> = table
        .iter()
        .map(|p| (p.ours.clone(), p.torchvision.clone()))
        .collect();
    // Every tensor of the model must have a torchvision name.
    let ours: Vec<String> = model
        .collect(None, None, true)
        .into_iter()
        .map(|t| t.name)
        .filter(|n| !names.contains_key(n))
        .collect();
    if !ours.is_empty() {
        return Err(write(format!(
            "tensors without a torchvision key: {}",
            list(&ours)
        )));
    }
    save(model, path, ToTorchvision(Arc::new(names)), &[])?;
    Ok(table.len())
}

/// Writes `model` to `path` as safetensors through `adapter` (names and layout), with the
/// architecture and `metadata` in the header: next to the target first and renamed into place
/// (no torn file on a crash), readable by others.
fn save(
    model: &Model,
    path: &Path,
    adapter: impl ModuleAdapter + 'static,
    metadata: &[(&str, &str)],
) -> Result<()> {
    let write = |message: String| TorchvisionError::Write {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| write(e.to_string()))?;
    }
    let tmp = path.with_extension("safetensors.partial");
    let mut store = SafetensorsStore::from_file(&tmp)
        .skip_enum_variants(true)
        .overwrite(true)
        .metadata("format", "pt")
        .metadata("convlab_arch", model.arch.name());
    for &(k, v) in metadata {
        store = store.metadata(k, v);
    }
    let mut store = store.with_to_adapter(adapter);
    model
        .save_into(&mut store)
        .map_err(|e| write(e.to_string()))?;
    readable_by_others(&tmp).map_err(|e| write(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| write(e.to_string()))
}

/// Writes `model` as a safetensors file with convlab's own names, for architectures torchvision
/// has no counterpart for (and any model): each key is the module path `convlab summary` prints
/// with the parameter's name (`features.layers.0.conv.weight`, `net.` and enum variants left
/// out), tensors in PyTorch's layout (convolution `[out, in/groups, kh, kw]`, linear `[out,
/// in]`, batch norm `weight`/`bias`/`running_mean`/`running_var`), float32, and the architecture
/// in the metadata (`convlab_arch`). Returns the number of tensors written.
pub fn export_own(model: &Model, path: &Path) -> Result<usize> {
    save(
        model,
        path,
        OwnNames,
        &[("convlab_names", "convlab module paths")],
    )?;
    Ok(model.collect(None, None, true).len())
}

/// PyTorch's tensor layout and norm names, our module paths without the `net.` of [`Model`].
#[derive(Clone)]
struct OwnNames;

impl ModuleAdapter for OwnNames {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        let mut t = BurnToPyTorchAdapter.adapt(tensor, ctx);
        if let Some(rest) = t.name.strip_prefix("net.") {
            t.name = rest.to_string();
        }
        t
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// An exported file is for others to read (burn-store writes it private, 0600): 0644.
pub(crate) fn readable_by_others(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The architectures torchvision has weights for.
pub fn torchvision_archs() -> Vec<Arch> {
    Arch::ALL
        .iter()
        .copied()
        .filter(|a| {
            matches!(
                a.spec(),
                Spec::AlexNet(AlexNetLayout::Torchvision)
                    | Spec::Vgg { cifar: false, .. }
                    | Spec::ResNet { .. }
                    | Spec::GoogLeNet { cifar: false }
            )
        })
        .collect()
}
