use burn::module::Module;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::conv::Activation;
use crate::error::ShapeError;
use crate::init::InitScheme;
use crate::trace::{Shape, Trace, Tracer};

/// Where the classifier's dropout goes, following the family it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropoutPosition {
    /// Before every hidden linear layer (torchvision AlexNet: D L R D L R L).
    BeforeHidden,
    /// After every hidden activation (torchvision VGG: L R D L R D L).
    AfterHidden,
    /// Only before the output layer (GoogLeNet, ResNet-style GAP heads).
    BeforeOutput,
}

/// Pooling, flatten and a stack of fully connected layers ending in `classes` logits.
/// `pool: Some([1, 1])` with no hidden layers is the global-average-pooling head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierHeadConfig {
    /// Adaptive average pooling to this size before flattening; `None` flattens as is.
    pub pool: Option<[usize; 2]>,
    pub hidden: Vec<usize>,
    pub classes: usize,
    pub dropout: f64,
    pub dropout_position: DropoutPosition,
    pub activation: Activation,
    pub init: InitScheme,
}

impl ClassifierHeadConfig {
    /// Global average pooling and one linear layer.
    pub fn gap(classes: usize) -> Self {
        Self {
            pool: Some([1, 1]),
            hidden: vec![],
            classes,
            dropout: 0.0,
            dropout_position: DropoutPosition::BeforeOutput,
            activation: Activation::Relu,
            init: InitScheme::pytorch(),
        }
    }

    /// A fully connected stack; `pool` as in [`Self::pool`].
    pub fn fc(pool: Option<[usize; 2]>, hidden: Vec<usize>, classes: usize) -> Self {
        Self {
            pool,
            hidden,
            classes,
            dropout: 0.0,
            dropout_position: DropoutPosition::AfterHidden,
            activation: Activation::Relu,
            init: InitScheme::pytorch(),
        }
    }

    pub fn dropout(mut self, p: f64, position: DropoutPosition) -> Self {
        self.dropout = p;
        self.dropout_position = position;
        self
    }

    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    pub fn init_scheme(mut self, init: InitScheme) -> Self {
        self.init = init;
        self
    }

    /// Builds the head for features of shape `input` (from tracing the layers before it).
    pub fn init(&self, input: Shape, device: &Device) -> Result<ClassifierHead, ShapeError> {
        let invalid = |message: String| ShapeError::Invalid {
            layer: "head".into(),
            message,
        };
        if self.classes == 0 {
            return Err(invalid(
                "the number of classes must be at least 1, got 0".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(invalid(format!(
                "dropout probability must be in [0, 1), got {}",
                self.dropout
            )));
        }
        if let Some(h) = self.hidden.iter().find(|&&h| h == 0) {
            return Err(invalid(format!(
                "hidden layer width must be positive, got {h}"
            )));
        }
        let in_features = match (self.pool, input) {
            (Some([ph, pw]), Shape::Map(c, ..)) => {
                if ph == 0 || pw == 0 {
                    return Err(invalid("adaptive pool size must be positive".into()));
                }
                c * ph * pw
            }
            (None, shape) => shape.numel(),
            (Some(_), Shape::Vector(n)) => {
                return Err(invalid(format!(
                    "adaptive pooling needs a feature map, got a vector of {n}"
                )));
            }
        };
        let widths: Vec<usize> = std::iter::once(in_features)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(self.classes))
            .collect();
        let linears = widths
            .windows(2)
            .map(|w| {
                let mut l = LinearConfig::new(w[0], w[1]).init(device);
                // Lazy parameters: replaced before anything is drawn. Burn stores the weight
                // as [in, out] (PyTorch: [out, in]); the fans are the same.
                l.weight = self.init.linear.param([w[0], w[1]], w[0], w[1], device);
                l.bias = Some(self.init.linear_bias.param(w[1], w[0], device));
                l
            })
            .collect::<Vec<_>>();
        let n = linears.len();
        let dropout_before = (0..n)
            .map(|i| {
                self.dropout > 0.0
                    && match self.dropout_position {
                        DropoutPosition::BeforeHidden => i + 1 < n,
                        DropoutPosition::AfterHidden => i >= 1,
                        DropoutPosition::BeforeOutput => i + 1 == n,
                    }
            })
            .collect();
        Ok(ClassifierHead {
            pool: self
                .pool
                .map(|size| AdaptiveAvgPool2dConfig::new(size).init()),
            linears,
            dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
            dropout_before,
            activation: self.activation,
            pool_size: self.pool,
        })
    }
}

#[derive(Module, Debug)]
pub struct ClassifierHead {
    pub pool: Option<AdaptiveAvgPool2d>,
    pub linears: Vec<Linear>,
    pub dropout: Option<Dropout>,
    #[module(skip)]
    pub dropout_before: Vec<bool>,
    #[module(skip)]
    pub activation: Activation,
    #[module(skip)]
    pub pool_size: Option<[usize; 2]>,
}

impl ClassifierHead {
    /// `[N, C, H, W]` → logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_tapped(x, &mut |_, _| {})
    }

    /// [`Self::forward`], handing each hidden layer's index and output (after its activation)
    /// to `tap` (the dead-unit diagnostic).
    pub fn forward_tapped(
        &self,
        x: Tensor<4>,
        tap: &mut dyn FnMut(usize, &Tensor<2>),
    ) -> Tensor<2> {
        let x = match &self.pool {
            Some(pool) => pool.forward(x),
            None => x,
        };
        let mut x: Tensor<2> = x.flatten(1, 3);
        let n = self.linears.len();
        for (i, linear) in self.linears.iter().enumerate() {
            if let (true, Some(d)) = (self.dropout_before[i], &self.dropout) {
                x = d.forward(x);
            }
            x = linear.forward(x);
            if i + 1 < n {
                x = self.activation.apply(x);
                tap(i, &x);
            }
        }
        x
    }
}

impl Trace for ClassifierHead {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        t.scope(name, |t| {
            let mut shape = input;
            if let Some([ph, pw]) = self.pool_size {
                let path = t.path("pool");
                let (c, ..) = shape.chw(&path)?;
                shape = Shape::Map(c, ph, pw);
                t.row(path, format!("adaptive avgpool {ph}x{pw}"), shape, 0, 0);
            }
            let mut features = shape.numel();
            let n = self.linears.len();
            for (i, linear) in self.linears.iter().enumerate() {
                let [d_in, d_out] = linear.weight.lazy_shape().dims::<2>();
                let path = t.path(&format!("linears.{i}"));
                if d_in != features {
                    return Err(ShapeError::Features {
                        layer: path,
                        kind: "linear".into(),
                        expected: d_in,
                        got: features,
                    });
                }
                let mut kind = String::new();
                if let (true, Some(d)) = (self.dropout_before[i], &self.dropout) {
                    kind.push_str(&format!("dropout {} + ", d.prob));
                }
                kind.push_str(&format!("fc {d_in}->{d_out}"));
                if i + 1 < n && self.activation != Activation::Identity {
                    kind.push_str(&format!(" +{}", self.activation.name()));
                }
                features = d_out;
                t.row(
                    path,
                    kind,
                    Shape::Vector(d_out),
                    crate::trace::count_params(linear),
                    (d_in * d_out) as u64,
                );
            }
            Ok(Shape::Vector(features))
        })
    }
}
