//! Layers against PyTorch: batch norm (training, running statistics, evaluation, fused ReLU),
//! LRN with AlexNet's parameters, ceil-mode max pooling, cross entropy with label smoothing,
//! and 2-D convolutions — outputs and every gradient.

use burn::module::Module;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};
use convlab_blocks::{BatchNorm2d, LrnConfig, max_pool};
use convlab_experiments::run::classifier::cross_entropy;

use crate::fixture::values;
use crate::{Fixture, assert_close, device};

/// `sum(y · g)` backpropagated: the gradient of each input for upstream gradient `g`.
fn backprop<const D: usize>(y: Tensor<D>, g: Tensor<D>) -> burn::tensor::Gradients {
    (y * g).sum().backward()
}

fn bn_from(f: &Fixture, dev: &Device) -> BatchNorm2d {
    let mut bn = BatchNorm2d::new(3, f.f64("/eps"), dev);
    bn.gamma = bn.gamma.map(|_| f.float("/weight", dev).require_grad());
    bn.beta = bn.beta.map(|_| f.float("/bias", dev).require_grad());
    bn
}

#[test]
fn batch_norm_equals_pytorch() {
    let f = Fixture::load("batchnorm");
    let ad = device().autodiff();
    for relu in [false, true] {
        let bn = bn_from(&f, &ad);
        let x: Tensor<4> = f.float("/train/x", &ad).require_grad();
        let y = bn.forward(x.clone(), relu);
        let key = if relu { "relu_train" } else { "train" };
        assert_close(
            &format!("{key} output"),
            &values(y.clone()),
            &f.tensor(&format!("/{key}/output")).1,
            1e-5,
        );
        let grads = backprop(y, f.float("/train/grad_output", &ad));
        for (what, got) in [
            ("grad_x", x.grad(&grads)),
            (
                "grad_weight",
                bn.gamma
                    .val()
                    .grad(&grads)
                    .map(|g| g.reshape([-1, 1, 1, 1])),
            ),
            (
                "grad_bias",
                bn.beta.val().grad(&grads).map(|g| g.reshape([-1, 1, 1, 1])),
            ),
        ] {
            let got = values(got.unwrap_or_else(|| panic!("{key}: no {what}")));
            assert_close(
                &format!("{key} {what}"),
                &got,
                &f.tensor(&format!("/{key}/{what}")).1,
                1e-4,
            );
        }
        if relu {
            continue;
        }
        // Running statistics: PyTorch updates the variance with the unbiased estimate.
        for (name, want) in ["running_mean", "running_var"]
            .map(|n| (n, f.tensor(&format!("/running_after_1/{n}")).1))
        {
            let got = match name {
                "running_mean" => values(bn.running_mean.value_sync()),
                _ => values(bn.running_var.value_sync()),
            };
            assert_close(&format!("{name} after 1 step"), &got, &want, 1e-5);
        }
        let _ = bn.forward(f.float("/x2", &ad), false);
        let _ = bn.forward(f.float("/x3", &ad), false);
        assert_close(
            "running_mean after 3 steps",
            &values(bn.running_mean.value_sync()),
            &f.tensor("/running_after_3/running_mean").1,
            1e-5,
        );
        assert_close(
            "running_var after 3 steps",
            &values(bn.running_var.value_sync()),
            &f.tensor("/running_after_3/running_var").1,
            1e-5,
        );
        // Evaluation mode (a plain device) normalises with the running statistics.
        let eval = bn.valid();
        let y = eval.forward(f.float("/eval/x", &device()), false);
        assert_close("eval output", &values(y), &f.tensor("/eval/output").1, 1e-5);
    }
}

#[test]
fn lrn_with_alexnet_parameters_equals_pytorch() {
    let f = Fixture::load("layers");
    let cfg = LrnConfig::alexnet();
    assert_eq!(
        (cfg.size, cfg.alpha, cfg.beta, cfg.k),
        (
            f.usize("/lrn/size"),
            f.f64("/lrn/alpha"),
            f.f64("/lrn/beta"),
            f.f64("/lrn/k")
        )
    );
    let ad = device().autodiff();
    let lrn = cfg.init();
    let x: Tensor<4> = f.float("/lrn/x", &ad).require_grad();
    let y = lrn.forward(x.clone());
    assert_close(
        "lrn output",
        &values(y.clone()),
        &f.tensor("/lrn/output").1,
        1e-5,
    );
    let grads = backprop(y, f.float("/lrn/grad_output", &ad));
    assert_close(
        "lrn grad_x",
        &values(x.grad(&grads).expect("grad")),
        &f.tensor("/lrn/grad_x").1,
        1e-4,
    );
}

#[test]
fn ceil_mode_max_pooling_equals_pytorch() {
    let f = Fixture::load("layers");
    let ad = device().autodiff();
    let cases = f.0["max_pool_ceil"].as_array().expect("cases").len();
    for i in 0..cases {
        let c = f.at(&format!("/max_pool_ceil/{i}"));
        let pool = max_pool(
            c.usize("/kernel"),
            c.usize("/stride"),
            c.usize("/padding"),
            true,
        );
        let x: Tensor<4> = c.float("/x", &ad).require_grad();
        let y = pool.forward(x.clone());
        let (shape, want) = c.tensor("/output");
        assert_eq!(y.dims().to_vec(), shape, "case {i}: output shape");
        assert_close(&format!("pool {i} output"), &values(y.clone()), &want, 0.0);
        let grads = backprop(y, c.float("/grad_output", &ad));
        assert_close(
            &format!("pool {i} grad_x"),
            &values(x.grad(&grads).expect("grad")),
            &c.tensor("/grad_x").1,
            1e-6,
        );
    }
}

#[test]
fn cross_entropy_with_label_smoothing_equals_pytorch() {
    let f = Fixture::load("layers");
    let ad = device().autodiff();
    for i in 0..2 {
        let c = f.at(&format!("/cross_entropy/cases/{i}"));
        let eps = c.f64("/label_smoothing");
        let logits: Tensor<2> = f.float("/cross_entropy/logits", &ad).require_grad();
        let loss = cross_entropy(logits.clone(), f.int("/cross_entropy/targets", &ad), eps).mean();
        assert_close(
            &format!("loss (smoothing {eps})"),
            &values(loss.clone()),
            &c.tensor("/loss").1,
            1e-6,
        );
        let grads = loss.backward();
        assert_close(
            &format!("grad (smoothing {eps})"),
            &values(logits.grad(&grads).expect("grad")),
            &c.tensor("/grad_logits").1,
            1e-5,
        );
    }
}

#[test]
fn conv2d_and_its_gradients_equal_pytorch() {
    let f = Fixture::load("conv2d");
    let ad = device().autodiff();
    let cases = f.0["cases"].as_array().expect("cases").len();
    for i in 0..cases {
        let c = f.at(&format!("/cases/{i}"));
        let (s, p, g) = (c.usize("/stride"), c.usize("/padding"), c.usize("/groups"));
        let x: Tensor<4> = c.float("/x", &ad).require_grad();
        let w: Tensor<4> = c.float("/weight", &ad).require_grad();
        let b: Option<Tensor<1>> = c.0["bias"]
            .is_object()
            .then(|| c.float::<1>("/bias", &ad).require_grad());
        let y = convlab_kernels::conv2d(
            x.clone(),
            w.clone(),
            b.clone(),
            ConvOptions::new([s, s], [p, p], [1, 1], g),
        );
        assert_close(
            &format!("conv {i} output"),
            &values(y.clone()),
            &c.tensor("/output").1,
            1e-6,
        );
        let grads = backprop(y, c.float("/grad_output", &ad));
        assert_close(
            &format!("conv {i} grad_x"),
            &values(x.grad(&grads).expect("grad x")),
            &c.tensor("/grad_x").1,
            1e-6,
        );
        assert_close(
            &format!("conv {i} grad_weight"),
            &values(w.grad(&grads).expect("grad w")),
            &c.tensor("/grad_weight").1,
            1e-6,
        );
        if let Some(b) = b {
            assert_close(
                &format!("conv {i} grad_bias"),
                &values(b.grad(&grads).expect("grad b")),
                &c.tensor("/grad_bias").1,
                1e-6,
            );
        }
    }
}
