//! Output shapes follow the seed formulas — valid: ceil((in − k + 1) / s); same: ceil(in / s);
//! explicit p: floor((in + 2p − k) / s) + 1 — and conv parameters are F·K·K·C + F. Each case
//! is checked three ways: the formula, the symbolic trace, and a real forward pass on flex.

use burn::tensor::{Distribution, Tensor};
use convlab_blocks::trace::conv_out;
use convlab_blocks::{
    ConvBnActConfig, Layer, Padding, Shape, Trace, Tracer, avg_pool, count_params, max_pool,
};

#[test]
fn conv_output_shapes_and_params() {
    // (in, kernel, stride, padding, channels in, filters)
    let cases: &[(usize, usize, usize, Padding, usize, usize)] = &[
        (32, 5, 1, Padding::Valid, 1, 6),
        (28, 5, 1, Padding::Explicit(2), 1, 6),
        (227, 11, 4, Padding::Valid, 3, 8),
        (224, 11, 4, Padding::Explicit(2), 3, 4),
        (224, 7, 2, Padding::Explicit(3), 3, 4),
        (13, 3, 1, Padding::Same, 4, 4),
        (13, 3, 2, Padding::Same, 4, 4),
        (14, 3, 2, Padding::Same, 2, 3),
        (7, 1, 2, Padding::Valid, 2, 3),
        (9, 4, 3, Padding::Valid, 2, 3),
        (10, 3, 2, Padding::Explicit(1), 2, 3),
        (5, 5, 1, Padding::Valid, 1, 1),
    ];
    let device = super::flex();
    for &(input, k, s, padding, c, f) in cases {
        let expected = match padding {
            Padding::Valid => conv_out::valid(input, k, s).expect("kernel fits"),
            Padding::Same => conv_out::same(input, s),
            Padding::Explicit(p) => conv_out::explicit(input, k, p, s).expect("kernel fits"),
        };
        // The seed formula for 'valid' agrees with PyTorch's floor formula without padding.
        if padding == Padding::Valid {
            assert_eq!(expected, (input - k) / s + 1);
        }
        let conv = ConvBnActConfig::new(c, f, k)
            .stride(s)
            .padding(padding)
            .init(&device)
            .expect("valid conv");
        let case = format!("in {input} k {k} s {s} {padding:?}");
        assert_eq!(count_params(&conv), (f * k * k * c + f) as u64, "{case}");
        let traced = conv
            .trace(&mut Tracer::new(), "conv", Shape::Map(c, input, input))
            .expect("trace");
        assert_eq!(traced, Shape::Map(f, expected, expected), "{case}");
        let x = Tensor::<4>::random([1, c, input, input], Distribution::Default, &device);
        assert_eq!(conv.forward(x).dims(), [1, f, expected, expected], "{case}");
    }
}

#[test]
fn pool_output_shapes_match_forward() {
    // (in, kernel, stride, padding, ceil) — includes GoogLeNet's and ZFNet's ceil-mode pools.
    let cases = [
        (112, 3, 2, 0, true),
        (110, 3, 2, 0, true),
        (26, 3, 2, 0, true),
        (13, 3, 2, 0, true),
        (14, 2, 2, 0, true),
        (7, 2, 2, 0, true),
        (55, 3, 2, 0, false),
        (112, 3, 2, 1, false),
        (28, 3, 1, 1, true),
        (5, 2, 2, 0, false),
        (6, 1, 2, 0, false),
    ];
    let device = super::flex();
    for (input, k, s, p, ceil) in cases {
        for layer in [
            Layer::MaxPool(max_pool(k, s, p, ceil)),
            Layer::AvgPool(avg_pool(k, s, p, ceil)),
        ] {
            let traced = layer
                .trace(&mut Tracer::new(), "pool", Shape::Map(2, input, input))
                .expect("trace");
            let x = Tensor::<4>::random([1, 2, input, input], Distribution::Default, &device);
            let y = layer.forward(x).dims();
            assert_eq!(
                traced.with_batch(1),
                y.to_vec(),
                "in {input} k {k} s {s} p {p} ceil {ceil}"
            );
        }
    }
}

#[test]
fn too_small_input_is_an_error_not_a_panic() {
    let device = super::flex();
    let conv = ConvBnActConfig::new(3, 8, 11)
        .stride(4)
        .padding(Padding::Valid)
        .init(&device)
        .expect("conv");
    let err = conv
        .trace(&mut Tracer::new(), "stem", Shape::Map(3, 8, 8))
        .expect_err("8x8 cannot take an 11x11 kernel");
    let msg = err.to_string();
    assert!(
        msg.contains("stem") && msg.contains("8x8") && msg.contains("11x11"),
        "{msg}"
    );
    // Channel mismatch names both numbers.
    let err = conv
        .trace(&mut Tracer::new(), "stem", Shape::Map(1, 64, 64))
        .expect_err("1 channel into a 3-channel conv");
    assert!(
        err.to_string().contains("expects 3 input channels, got 1"),
        "{err}"
    );
}

#[test]
fn width_multiplier_rounds_and_keeps_group_multiples() {
    use convlab_blocks::scale_channels;
    assert_eq!(scale_channels(64, 1.0, 1), 64);
    assert_eq!(scale_channels(64, 0.25, 1), 16);
    assert_eq!(scale_channels(6, 0.1, 1), 1);
    assert_eq!(scale_channels(96, 0.1, 2), 10);
    assert_eq!(scale_channels(3, 0.1, 2), 2);
}
