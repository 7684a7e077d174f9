//! Parameter counts equal torchvision's (1000 classes, `sum(p.numel() for p in
//! m.parameters())`, torchvision 0.14; ../shared/reference/published.md) and He et al.'s.

use convlab_blocks::count_params;
use convlab_models::{Arch, ModelConfig, summarize};

fn params(cfg: ModelConfig) -> u64 {
    let model = cfg.init(&super::flex()).expect("model builds");
    let counted = count_params(&model);
    // The summary table and the module tree must agree.
    assert_eq!(
        model.summary().total_params,
        counted,
        "{}: summary rows and module parameters disagree",
        cfg.arch
    );
    counted
}

#[test]
fn torchvision_counts() {
    let expected: &[(Arch, u64)] = &[
        (Arch::AlexNet, 61_100_840),
        (Arch::Vgg11, 132_863_336),
        (Arch::Vgg11Bn, 132_868_840),
        (Arch::Vgg13, 133_047_848),
        (Arch::Vgg13Bn, 133_053_736),
        (Arch::Vgg16, 138_357_544),
        (Arch::Vgg16Bn, 138_365_992),
        (Arch::Vgg19, 143_667_240),
        (Arch::Vgg19Bn, 143_678_248),
        (Arch::ResNet18, 11_689_512),
        (Arch::ResNet34, 21_797_672),
        (Arch::ResNet50, 25_557_032),
        (Arch::ResNet101, 44_549_160),
        (Arch::ResNet152, 60_192_808),
        (Arch::GoogLeNet, 6_624_904),
    ];
    for &(arch, n) in expected {
        assert_eq!(params(ModelConfig::new(arch)), n, "{arch}");
    }
}

#[test]
fn googlenet_with_aux_heads() {
    assert_eq!(
        params(ModelConfig::new(Arch::GoogLeNet).with_aux_heads(true)),
        13_004_888
    );
}

#[test]
fn cifar_resnets_he_et_al() {
    // He et al. 2015, Table 6: ResNet-20 0.27M (269,722 with option A), 32: 0.46M,
    // 44: 0.66M, 56: 0.85M, 110: 1.7M.
    // Each extra block per stage adds 97,216 parameters (two 3x3 convs + two BNs at 16, 32
    // and 64 channels: 4,672 + 18,560 + 73,984), so depth 6n+2 has 269,722 + (n-3)·97,216.
    for (arch, n) in [
        (Arch::ResNet20, 269_722),
        (Arch::ResNet32, 464_154),
        (Arch::ResNet44, 658_586),
        (Arch::ResNet56, 853_018),
        (Arch::ResNet110, 1_727_962),
    ] {
        assert_eq!(params(ModelConfig::new(arch)), n, "{arch}");
    }
    // Plain nets differ from option-A ResNets only in the (parameter-free) shortcuts.
    assert_eq!(params(ModelConfig::new(Arch::Plain20)), 269_722);
    // Option B adds two 1x1 projections + BN: 16*32 + 2*32 + 32*64 + 2*64.
    assert_eq!(
        params(ModelConfig::new(Arch::ResNet20).with_shortcut(convlab_blocks::Shortcut::B)),
        269_722 + 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    );
}

#[test]
fn lenet5_by_hand() {
    // conv1 6·5·5·1 + 6 = 156; conv2 16·5·5·6 + 16 = 2,416; fc 400·120 + 120 = 48,120;
    // 120·84 + 84 = 10,164; 84·10 + 10 = 850.
    assert_eq!(params(ModelConfig::new(Arch::LeNet5)), 61_706);
    // 3×32×32: conv1 gains 2·150 weights, no padding, same 5×5×16 flatten.
    assert_eq!(
        params(ModelConfig::new(Arch::LeNet5).with_input([3, 32, 32])),
        61_706 + 300
    );
}

#[test]
fn alexnet_2012_and_zfnet() {
    // Paper layout, one group: conv 34,944 + 614,656 + 885,120 + 1,327,488 + 884,992,
    // FC 37,752,832 + 16,781,312 + 4,097,000 = 62,378,344.
    assert_eq!(params(ModelConfig::new(Arch::AlexNet2012)), 62_378_344);
    // Two groups halve the weights of conv2, conv4 and conv5.
    let grouped = params(ModelConfig::new(Arch::AlexNet2012).with_groups(2));
    assert_eq!(grouped, 62_378_344 - (614_400 + 1_327_104 + 884_736) / 2);
    // ZFNet: 96·7·7·3 + 96 = 14,208 replaces conv1's 34,944; everything else as AlexNet-2012.
    assert_eq!(
        params(ModelConfig::new(Arch::ZfNet)),
        62_378_344 - 34_944 + 14_208
    );
}

#[test]
fn summarize_matches_models() {
    for &arch in Arch::ALL {
        let s = summarize(arch, None, None).expect("summary");
        assert_eq!(s.input, arch.default_input(), "{arch}");
        assert_eq!(
            s.output,
            convlab_blocks::Shape::Vector(arch.default_classes()),
            "{arch}"
        );
        assert!(s.total_params > 0 && s.total_macs > 0, "{arch}");
    }
}
