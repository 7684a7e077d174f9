//! ONNX export of a built model in evaluation mode (batch norm with its running statistics,
//! dropout and GoogLeNet's auxiliary heads left out), for onnxruntime, TensorRT, OpenVINO and
//! the like.
//!
//! The graph takes `input: float32[batch, C, H, W]` at the model's own `C×H×W` (the batch is
//! symbolic) and returns `logits: float32[batch, classes]`. Nodes are named by the module paths
//! `convlab summary` prints (`features.0`, `stages.1.0.convs.1`, `head.linears.2`); weights are
//! initializers named `<path>.weight`, `<path>.bias`, `<path>.bn.running_mean`, …. Opset 17:
//! Conv, BatchNormalization, Relu, Tanh, MaxPool, AveragePool, GlobalAveragePool, LRN, Concat,
//! Add, Pad, Flatten, Reshape, MatMul (adaptive pooling to sizes that do not divide the map),
//! Gemm.

pub mod proto;

use std::path::{Path, PathBuf};

use burn::nn::PaddingConfig2d;
use burn::nn::pool::AvgPool2d;
use burn::tensor::Tensor;
use convlab_blocks::{
    Activation, ClassifierHead, ConvBnAct, Inception, Layer, MaxPool, ResidualBlock, Sequential,
    Shape, ShapeError, Trace, Tracer,
};

use crate::network::{Model, Network};
use convlab_blocks::pool::trace_avg_pool;
use convlab_blocks::residual::ShortcutPath;
use proto::{AttributeProto, NodeProto, TensorProto};

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("{path}: cannot write the ONNX file: {message}")]
    Write { path: PathBuf, message: String },
    #[error("ONNX export, layer `{layer}`: {message}")]
    Layer { layer: String, message: String },
}

impl From<ShapeError> for OnnxError {
    fn from(e: ShapeError) -> Self {
        OnnxError::Layer {
            layer: "shape".into(),
            message: e.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, OnnxError>;

/// A tensor flowing through the graph: its name and its shape per example.
#[derive(Clone)]
struct Value {
    name: String,
    shape: Shape,
}

/// Nodes and initializers in the order they are added (ONNX wants them topologically sorted;
/// a forward walk adds them so).
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

impl Graph {
    /// A float initializer called `name`.
    fn tensor<const D: usize>(&mut self, name: &str, t: Tensor<D>) -> Result<String> {
        let dims = t.dims();
        let values = t
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| OnnxError::Layer {
                layer: name.into(),
                message: format!("reading the tensor: {e:?}"),
            })?;
        Ok(self.floats(name, &dims, &values))
    }

    fn floats(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: proto::FLOAT,
            name: name.into(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.into()
    }

    fn int64s(&mut self, name: &str, values: &[i64]) -> String {
        self.initializers.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: proto::INT64,
            name: name.into(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.into()
    }

    /// Adds `op` with output `name` (node and output share the name).
    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![name.into()],
            name: name.into(),
            op_type: op.into(),
            attribute,
        });
        name.into()
    }

    fn activation(&mut self, path: &str, a: Activation, x: String) -> String {
        match a {
            Activation::Relu => self.node("Relu", &join(path, "relu"), vec![x], vec![]),
            Activation::Tanh => self.node("Tanh", &join(path, "tanh"), vec![x], vec![]),
            Activation::Identity => x,
        }
    }

    fn conv(&mut self, path: &str, c: &ConvBnAct, x: Value) -> Result<Value> {
        let shape = c.trace(&mut Tracer::new(), path, x.shape)?;
        let (_, h, w) = x.shape.chw(path)?;
        let [_, _, kh, kw] = c.conv.weight.shape().dims::<4>();
        let [sh, sw] = c.conv.stride;
        let (top, bottom) = c.padding.pair(h, kh, sh);
        let (left, right) = c.padding.pair(w, kw, sw);
        let mut inputs = vec![
            x.name,
            self.tensor(&join(path, "weight"), c.conv.weight.val())?,
        ];
        if let Some(b) = &c.conv.bias {
            inputs.push(self.tensor(&join(path, "bias"), b.val())?);
        }
        let ints = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
        let mut y = self.node(
            "Conv",
            &join(path, "conv"),
            inputs,
            vec![
                AttributeProto::ints("kernel_shape", &ints(&[kh, kw])),
                AttributeProto::ints("strides", &ints(&[sh, sw])),
                AttributeProto::ints("pads", &ints(&[top, left, bottom, right])),
                AttributeProto::ints("dilations", &ints(&c.conv.dilation)),
                AttributeProto::int("group", c.conv.groups as i64),
            ],
        );
        if let Some(bn) = &c.bn {
            let p = join(path, "bn");
            let inputs = vec![
                y,
                self.tensor(&join(&p, "weight"), bn.gamma.val())?,
                self.tensor(&join(&p, "bias"), bn.beta.val())?,
                self.tensor(&join(&p, "running_mean"), bn.running_mean.value())?,
                self.tensor(&join(&p, "running_var"), bn.running_var.value())?,
            ];
            y = self.node(
                "BatchNormalization",
                &p,
                inputs,
                vec![AttributeProto::float("epsilon", bn.epsilon as f32)],
            );
        }
        let name = self.activation(path, c.activation, y);
        Ok(Value { name, shape })
    }

    fn max_pool(&mut self, path: &str, m: &MaxPool, x: Value) -> Result<Value> {
        let shape = m.trace(&mut Tracer::new(), path, x.shape)?;
        let (k, s, p) = (m.kernel as i64, m.stride as i64, m.padding as i64);
        let name = self.node(
            "MaxPool",
            path,
            vec![x.name],
            vec![
                AttributeProto::ints("kernel_shape", &[k, k]),
                AttributeProto::ints("strides", &[s, s]),
                AttributeProto::ints("pads", &[p, p, p, p]),
                AttributeProto::int("ceil_mode", m.ceil_mode as i64),
            ],
        );
        Ok(Value { name, shape })
    }

    fn avg_pool(&mut self, path: &str, m: &AvgPool2d, x: Value) -> Result<Value> {
        let shape = trace_avg_pool(m, &mut Tracer::new(), path, x.shape)?;
        let [top, left, bottom, right] = match m.padding {
            PaddingConfig2d::Explicit(t, l, b, r) => [t, l, b, r],
            PaddingConfig2d::Valid => [0; 4],
            _ => {
                return Err(OnnxError::Layer {
                    layer: path.into(),
                    message: "average pooling with \"same\" padding is not exported".into(),
                });
            }
        };
        let ints = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
        let name = self.node(
            "AveragePool",
            path,
            vec![x.name],
            vec![
                AttributeProto::ints("kernel_shape", &ints(&m.kernel_size)),
                AttributeProto::ints("strides", &ints(&m.stride)),
                AttributeProto::ints("pads", &ints(&[top, left, bottom, right])),
                AttributeProto::int("ceil_mode", m.ceil_mode as i64),
                AttributeProto::int("count_include_pad", m.count_include_pad as i64),
            ],
        );
        Ok(Value { name, shape })
    }

    fn layer(&mut self, path: &str, layer: &Layer, x: Value) -> Result<Value> {
        match layer {
            Layer::Conv(c) => self.conv(path, c, x),
            Layer::MaxPool(m) => self.max_pool(path, m, x),
            Layer::AvgPool(m) => self.avg_pool(path, m, x),
            Layer::Lrn(l) => {
                let c = l.config();
                let name = self.node(
                    "LRN",
                    path,
                    vec![x.name],
                    vec![
                        AttributeProto::int("size", c.size as i64),
                        AttributeProto::float("alpha", c.alpha as f32),
                        AttributeProto::float("beta", c.beta as f32),
                        AttributeProto::float("bias", c.k as f32),
                    ],
                );
                Ok(Value {
                    name,
                    shape: x.shape,
                })
            }
            Layer::Inception(m) => self.inception(path, m, x),
        }
    }

    fn sequential(&mut self, path: &str, s: &Sequential, x: Value) -> Result<Value> {
        s.layers
            .iter()
            .enumerate()
            .try_fold(x, |x, (i, l)| self.layer(&join(path, &i.to_string()), l, x))
    }

    fn chain(&mut self, path: &str, convs: &[ConvBnAct], x: Value) -> Result<Value> {
        convs
            .iter()
            .enumerate()
            .try_fold(x, |x, (i, c)| self.conv(&join(path, &i.to_string()), c, x))
    }

    fn inception(&mut self, path: &str, m: &Inception, x: Value) -> Result<Value> {
        let shape = m.trace(&mut Tracer::new(), path, x.shape)?;
        let b1 = self.conv(&join(path, "branch1"), &m.branch1, x.clone())?;
        let b2 = self.chain(&join(path, "branch2"), &m.branch2, x.clone())?;
        let b3 = self.chain(&join(path, "branch3"), &m.branch3, x.clone())?;
        let pooled = self.max_pool(&join(path, "pool"), &m.pool, x)?;
        let b4 = self.conv(&join(path, "branch4"), &m.branch4, pooled)?;
        let name = self.node(
            "Concat",
            &join(path, "concat"),
            vec![b1.name, b2.name, b3.name, b4.name],
            vec![AttributeProto::int("axis", 1)],
        );
        Ok(Value { name, shape })
    }

    fn residual(&mut self, path: &str, b: &ResidualBlock, x: Value) -> Result<Value> {
        let shape = b.trace(&mut Tracer::new(), path, x.shape)?;
        let r = self.chain(&join(path, "convs"), &b.convs, x.clone())?;
        let shortcut = match (b.path, &b.projection) {
            (ShortcutPath::None, _) => None,
            (ShortcutPath::Identity, _) => Some(x.name),
            (ShortcutPath::Projection, Some(p)) => {
                Some(self.conv(&join(path, "projection"), p, x)?.name)
            }
            (ShortcutPath::Projection, None) => Some(x.name),
            (ShortcutPath::ZeroPad { before, after, .. }, _) => {
                let x = match &b.subsample {
                    Some(s) => self.max_pool(&join(path, "subsample"), s, x)?,
                    None => x,
                };
                let p = join(path, "shortcut");
                let pads = self.int64s(
                    &join(&p, "pads"),
                    &[0, before as i64, 0, 0, 0, after as i64, 0, 0],
                );
                Some(self.node("Pad", &p, vec![x.name, pads], vec![]))
            }
        };
        let sum = match shortcut {
            Some(s) => self.node("Add", &join(path, "add"), vec![r.name, s], vec![]),
            None => r.name,
        };
        let name = self.activation(path, Activation::Relu, sum);
        Ok(Value { name, shape })
    }

    fn head(&mut self, path: &str, h: &ClassifierHead, x: Value) -> Result<Value> {
        let mut x = x;
        if let Some([ph, pw]) = h.pool_size {
            let p = join(path, "pool");
            let (c, hh, ww) = x.shape.chw(&p)?;
            let name = if (ph, pw) == (1, 1) {
                self.node("GlobalAveragePool", &p, vec![x.name], vec![])
            } else if (ph, pw) == (hh, ww) {
                x.name
            } else if hh % ph == 0 && ww % pw == 0 {
                let k = [(hh / ph) as i64, (ww / pw) as i64];
                self.node(
                    "AveragePool",
                    &p,
                    vec![x.name],
                    vec![
                        AttributeProto::ints("kernel_shape", &k),
                        AttributeProto::ints("strides", &k),
                    ],
                )
            } else {
                // PyTorch's adaptive windows (start ⌊i·H/h⌋, end ⌈(i+1)·H/h⌉) overlap or differ
                // in size here: a [H·W, h·w] averaging matrix on the flattened map.
                let matrix = adaptive_matrix((hh, ww), (ph, pw));
                let m = self.floats(&join(&p, "matrix"), &[hh * ww, ph * pw], &matrix);
                let shape = self.int64s(&join(&p, "shape"), &[0, c as i64, (hh * ww) as i64]);
                let flat = self.node("Reshape", &join(&p, "reshape"), vec![x.name, shape], vec![]);
                self.node("MatMul", &p, vec![flat, m], vec![])
            };
            x = Value {
                name,
                shape: Shape::Map(c, ph, pw),
            };
        }
        let mut y = self.node(
            "Flatten",
            &join(path, "flatten"),
            vec![x.name],
            vec![AttributeProto::int("axis", 1)],
        );
        let n = h.linears.len();
        let mut features = x.shape.numel();
        for (i, l) in h.linears.iter().enumerate() {
            let p = join(path, &format!("linears.{i}"));
            let [d_in, d_out] = l.weight.shape().dims::<2>();
            if d_in != features {
                return Err(OnnxError::Layer {
                    layer: p,
                    message: format!("expects {d_in} features, gets {features}"),
                });
            }
            // Burn keeps the weight as [in, out]: Y = X·W + b without transposing.
            let mut inputs = vec![y, self.tensor(&join(&p, "weight"), l.weight.val())?];
            if let Some(b) = &l.bias {
                inputs.push(self.tensor(&join(&p, "bias"), b.val())?);
            }
            y = self.node("Gemm", &p, inputs, vec![]);
            if i + 1 < n {
                y = self.activation(&p, h.activation, y);
            }
            features = d_out;
        }
        Ok(Value {
            name: y,
            shape: Shape::Vector(features),
        })
    }
}

/// Row-major `[h·w, oh·ow]`: column `(i, j)` averages the input cells of PyTorch's adaptive
/// window `(i, j)`.
fn adaptive_matrix((h, w): (usize, usize), (oh, ow): (usize, usize)) -> Vec<f32> {
    let window = |i: usize, n: usize, out: usize| (i * n / out, ((i + 1) * n).div_ceil(out));
    let mut m = vec![0f32; h * w * oh * ow];
    for i in 0..oh {
        let (y0, y1) = window(i, h, oh);
        for j in 0..ow {
            let (x0, x1) = window(j, w, ow);
            let weight = 1.0 / ((y1 - y0) * (x1 - x0)) as f32;
            for y in y0..y1 {
                for x in x0..x1 {
                    m[(y * w + x) * oh * ow + i * ow + j] = weight;
                }
            }
        }
    }
    m
}

/// The ONNX model of `model` in evaluation mode; `metadata` goes into the model's
/// `metadata_props` (after `convlab_arch`, `classes` and `input`).
pub fn to_proto(model: &Model, metadata: &[(&str, String)]) -> Result<proto::ModelProto> {
    let [c, h, w] = model.input;
    let mut g = Graph::default();
    let x = Value {
        name: "input".into(),
        shape: Shape::Map(c, h, w),
    };
    let y = match &model.net {
        Network::Features(f) => {
            let x = g.sequential("features", &f.features, x)?;
            g.head("head", &f.head, x)?
        }
        Network::GoogLeNet(n) => {
            let x = g.sequential("stem", &n.stem, x)?;
            let x = g.sequential("body", &n.body, x)?;
            g.head("head", &n.head, x)?
        }
        Network::ResNet(r) => {
            let mut x = g.sequential("stem", &r.stem, x)?;
            for (i, stage) in r.stages.iter().enumerate() {
                for (j, b) in stage.iter().enumerate() {
                    x = g.residual(&format!("stages.{i}.{j}"), b, x)?;
                }
            }
            g.head("head", &r.head, x)?
        }
    };
    if y.shape != Shape::Vector(model.classes) {
        return Err(OnnxError::Layer {
            layer: "head".into(),
            message: format!("ends in {}, not {} logits", y.shape, model.classes),
        });
    }
    g.node("Identity", "logits", vec![y.name], vec![]);
    let mut props = vec![
        ("convlab_arch", model.arch.name().to_string()),
        ("classes", model.classes.to_string()),
        ("input", format!("{c}x{h}x{w}")),
    ];
    props.extend(metadata.iter().map(|(k, v)| (*k, v.clone())));
    Ok(proto::ModelProto {
        ir_version: proto::IR_VERSION,
        producer_name: "convlab".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "{} in evaluation mode: input float32[batch, {c}, {h}, {w}], normalised as in \
             training; output logits float32[batch, {}]",
            model.arch.name(),
            model.classes
        ),
        graph: Some(proto::GraphProto {
            node: g.nodes,
            name: model.arch.name().into(),
            initializer: g.initializers,
            input: vec![proto::float_input("input", &[c, h, w])],
            output: vec![proto::float_input("logits", &[model.classes])],
        }),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: String::new(),
            version: proto::OPSET,
        }],
        metadata_props: props
            .into_iter()
            .map(|(key, value)| proto::StringStringEntryProto {
                key: key.into(),
                value,
            })
            .collect(),
    })
}

/// Writes `model` as an ONNX file (next to `path` first, then renamed into place; 0644).
/// Returns the number of graph nodes.
pub fn export(model: &Model, path: &Path, metadata: &[(&str, String)]) -> Result<usize> {
    let proto = to_proto(model, metadata)?;
    let write = |message: String| OnnxError::Write {
        path: path.to_path_buf(),
        message,
    };
    let nodes = proto.graph.as_ref().map_or(0, |g| g.node.len());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| write(e.to_string()))?;
    }
    let tmp = path.with_extension("onnx.partial");
    std::fs::write(&tmp, proto::encode(&proto))
        .and_then(|_| crate::torchvision::readable_by_others(&tmp))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            write(e.to_string())
        })?;
    Ok(nodes)
}
