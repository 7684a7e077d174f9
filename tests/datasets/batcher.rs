//! The batcher: shapes, normalisation, device, and worker-independent augmentation.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::Device;
use convlab_datasets::{AugmentConfig, Augmenter, ChannelStats, ImageBatcher, ImageSet};

fn set() -> Arc<ImageSet> {
    let pixels: Vec<u8> = (0..4 * 3 * 4 * 4).map(|i| (i % 256) as u8).collect();
    Arc::new(
        ImageSet::new(
            [3, 4, 4],
            pixels,
            vec![0, 1, 2, 1],
            vec!["a".into(), "b".into(), "c".into()],
        )
        .expect("set"),
    )
}

#[test]
fn batches_normalised_tensors_on_the_given_device() {
    let stats = ChannelStats {
        mean: vec![0.5; 3],
        std: vec![0.25; 3],
        images: 4,
        fingerprint: String::new(),
    };
    let b = ImageBatcher::new(set(), &stats, None);
    let device = Device::flex().autodiff();
    let batch = b.batch(vec![3, 1], &device);
    assert_eq!(batch.images.dims(), [2, 3, 4, 4]);
    assert!(
        batch.images.device().is_autodiff(),
        "created on the autodiff device given"
    );
    assert_eq!(
        batch
            .targets
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .expect("i64"),
        [1, 1]
    );
    let v = batch
        .images
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32");
    let raw = set().image(3)[0] as f32 / 255.0;
    assert!((v[0] - (raw - 0.5) / 0.25).abs() < 1e-6);
}

#[test]
fn augmentation_is_per_sample_and_per_epoch() {
    let cfg = AugmentConfig {
        hflip: 0.5,
        crop: Some(convlab_datasets::CropConfig {
            padding: 1,
            fill: Default::default(),
        }),
        ..Default::default()
    };
    let stats = ChannelStats::identity(3);
    let make = || {
        ImageBatcher::new(
            set(),
            &stats,
            Some(Augmenter::new(cfg.clone(), 3, vec![0; 3])),
        )
    };
    // Batching in a different grouping and order gives each sample the same pixels.
    let (a, _) = make().batch_data(&[0, 1, 2, 3]);
    let one = make();
    let mut b = vec![0f32; a.len()];
    for i in [2usize, 0, 3, 1] {
        let (x, _) = one.batch_data(&[i]);
        b[i * 48..(i + 1) * 48].copy_from_slice(&x);
    }
    assert_eq!(a, b);
    // The second visit of a sample is its second epoch; a resumed batcher starts there.
    let fresh = make();
    let (_, _) = fresh.batch_data(&[0, 1, 2, 3]);
    let (second, _) = fresh.batch_data(&[0, 1, 2, 3]);
    let (resumed, _) = make().with_start_epoch(1).batch_data(&[0, 1, 2, 3]);
    assert_eq!(second, resumed);
}
