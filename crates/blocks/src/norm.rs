//! Batch normalisation over `[N, C, H, W]` with PyTorch's semantics (`nn.BatchNorm2d`):
//! batch statistics in training, running statistics in evaluation, and the running variance
//! updated with the *unbiased* batch variance (Burn's own BatchNorm uses the biased one).
//! Field names equal Burn's `BatchNorm` (`gamma`, `beta`, `running_mean`, `running_var`), so
//! records map one-to-one onto torchvision's `weight`, `bias`, `running_mean`, `running_var`.

use burn::module::{Flag, Module, Param, RunningState};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

#[derive(Module, Debug)]
pub struct BatchNorm2d {
    pub gamma: Param<Tensor<1>>,
    pub beta: Param<Tensor<1>>,
    /// Training behaviour on an autodiff device; off for a frozen layer, which then normalises
    /// with (and keeps) its running statistics.
    pub training: Param<Flag>,
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    pub momentum: f64,
    pub epsilon: f64,
}

impl BatchNorm2d {
    /// γ = 1, β = 0, running mean 0 and variance 1, momentum 0.1 (PyTorch's defaults).
    pub fn new(channels: usize, epsilon: f64, device: &Device) -> Self {
        Self {
            gamma: Initializer::Ones.init([channels], device),
            beta: Initializer::Zeros.init([channels], device),
            training: Param::from_bool(true),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: 0.1,
            epsilon,
        }
    }

    pub fn channels(&self) -> usize {
        self.gamma.shape().dims::<1>()[0]
    }

    /// `[N, C, H, W]` → same shape; `relu` fuses the activation that follows.
    pub fn forward(&self, x: Tensor<4>, relu: bool) -> Tensor<4> {
        if x.device().is_autodiff() && self.training.is_enabled() {
            self.forward_train(x, relu)
        } else {
            let bn = self.eval_params(&x.device());
            convlab_kernels::batch_norm_eval(
                x,
                bn.gamma,
                bn.beta,
                bn.mean,
                bn.variance,
                bn.epsilon,
                relu,
            )
        }
    }

    /// γ, β and the running statistics on `device`: what evaluation normalises with.
    pub fn eval_params(&self, device: &Device) -> convlab_kernels::BatchNormEval {
        convlab_kernels::BatchNormEval {
            gamma: self.gamma.val(),
            beta: self.beta.val(),
            mean: self.running_mean.value().to_device(device),
            variance: self.running_var.value().to_device(device),
            epsilon: self.epsilon,
        }
    }

    fn forward_train(&self, x: Tensor<4>, relu: bool) -> Tensor<4> {
        let [n, _, h, w] = x.dims();
        let device = x.device();
        let r = convlab_kernels::batch_norm_train(
            x,
            self.gamma.val(),
            self.beta.val(),
            self.epsilon,
            relu,
        );
        // PyTorch: running_var ← (1 − m)·running_var + m·σ²_B·n/(n − 1).
        let count = n * h * w;
        let unbias = if count > 1 {
            count as f64 / (count - 1) as f64
        } else {
            1.0
        };
        let m = self.momentum;
        let mean = self
            .running_mean
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - m)
            .add(r.mean.detach().mul_scalar(m));
        let var = self
            .running_var
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - m)
            .add(r.variance.detach().mul_scalar(m * unbias));
        self.running_mean.update(mean.detach());
        self.running_var.update(var.detach());
        r.output
    }
}
