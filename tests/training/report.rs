//! What a researcher looks at after a run: class activation maps (CAM for a global-average-
//! pooling head, Grad-CAM otherwise), the most confidently misclassified images, and the HTML
//! report, rendered by headless Chromium: every image loads, nothing overflows the page, and a
//! screenshot is kept.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use convlab_experiments::config::recipe::Recipe;
use convlab_experiments::inspect::cam::{self, Method};
use convlab_experiments::run::eval::{self, CheckpointChoice, LoadedRun, Split};
use convlab_experiments::{Backend, train};

use crate::opts;
use crate::pictures::check;

/// Two 16×16 RGB test images (a bright square on the left or right).
fn images(dir: &Path) -> Vec<PathBuf> {
    (0..2u32)
        .map(|k| {
            let img = image::RgbImage::from_fn(16, 16, |x, y| {
                let on = (4..12).contains(&y) && (x / 8 == k);
                image::Rgb(if on { [250, 200, 40] } else { [20, 30, 60] })
            });
            let path = dir.join(format!("img{k}.png"));
            img.save(&path).expect("png");
            path
        })
        .collect()
}

#[test]
fn cam_for_gap_heads_and_grad_cam_for_the_others() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let inputs = images(tmp.path());
    // LeNet-5's FC head: Grad-CAM. Cut after its second convolution: a GAP head, CAM.
    for (sets, method) in [
        (vec![], Method::GradCam),
        (vec!["model.cut=3".to_string()], Method::Cam),
    ] {
        let mut all = vec!["epochs=1".to_string()];
        all.extend(sets);
        let run = train(
            Recipe::load("smoke", &all).expect("recipe"),
            &opts(tmp.path()),
        )
        .expect("run");
        let out = tmp.path().join(format!("cam-{method:?}"));
        let results = cam::cam(run.dir(), &inputs, None, &out, None).expect("cam");
        assert_eq!(results.len(), 2);
        for r in &results {
            assert_eq!(r.method, method);
            assert_eq!(r.top.len(), 3);
            let sum: f32 = r.top.iter().map(|t| t.2).sum();
            assert!(sum > 0.0 && sum <= 1.0 + 1e-5, "{sum}");
            assert_eq!(r.class, r.top[0].0, "the predicted class by default");
            assert!(r.map.iter().all(|v| (0.0..=1.0).contains(v)));
            // Input and overlay side by side at 224 pixels, under two caption lines.
            let img = check(Path::new(&r.picture), (2 * 224, 224));
            assert!(img.height() > 224 && img.height() < 340, "{}", img.height());
        }
        let e = cam::cam(run.dir(), &inputs, Some(9), &out, None)
            .expect_err("class out of range")
            .to_string();
        assert!(e.contains("--class 9") && e.contains("4 classes"), "{e}");

        // The numbers behind the map: for CAM, the mean of the map plus the bias is the logit
        // (the head averages the maps, then applies the linear layer); Grad-CAM is ≥ 0.
        let device = Device::flex().autodiff();
        let (model, info) =
            convlab_experiments::run::weights::load(run.dir(), &device, None).expect("load");
        let model = model.valid().fork(&device);
        let x =
            convlab_experiments::inspect::predict::preprocess(&inputs[0], &info).expect("image");
        let [c, h, w] = info.input;
        let x = Tensor::<4>::from_data(TensorData::new(x, [1, c, h, w]), &device);
        let logits: Vec<f32> = model
            .forward(x.clone())
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .expect("logits");
        for k in 0..4 {
            let m = cam::class_map(&model, x.clone(), Some(k)).expect("map");
            assert_eq!(m.class, k);
            match method {
                Method::Cam => {
                    let bias: Vec<f32> = model.head().linears[0]
                        .bias
                        .as_ref()
                        .expect("bias")
                        .val()
                        .into_data()
                        .convert::<f32>()
                        .try_to_vec()
                        .expect("bias");
                    let mean = m.raw.iter().sum::<f32>() / m.raw.len() as f32;
                    assert!(
                        (mean + bias[k] - logits[k]).abs() <= 1e-4 * logits[k].abs().max(1.0),
                        "class {k}: mean CAM {mean} + bias {} vs logit {}",
                        bias[k],
                        logits[k]
                    );
                }
                Method::GradCam => assert!(m.raw.iter().all(|v| *v >= 0.0)),
            }
        }
    }
}

#[test]
fn the_most_confident_mistakes_are_wrong_and_sorted() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let run = train(
        Recipe::load("smoke", &["epochs=1".into()]).expect("recipe"),
        &opts(tmp.path()),
    )
    .expect("run");
    let loaded =
        LoadedRun::open(run.dir(), CheckpointChoice::Best, Backend::Flex, None).expect("open");
    let all = eval::most_confident_mistakes(&loaded.model, &loaded.loader(Split::Test), 4, 10_000)
        .expect("mistakes");
    let e = eval::evaluate(&loaded.model, &loaded.loader(Split::Test), 4).expect("eval");
    let wrong: u64 = (0..4)
        .flat_map(|i| (0..4).map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
        .map(|(i, j)| e.confusion[i][j])
        .sum();
    assert_eq!(
        all.len() as u64,
        wrong,
        "every mistake, as the confusion matrix counts them"
    );
    assert!(all.windows(2).all(|w| w[0].confidence >= w[1].confidence));
    assert!(
        all.iter()
            .all(|m| m.predicted != m.target && m.confidence >= 0.25)
    );
    let picture = tmp.path().join("mistakes.png");
    let shown = eval::misclassified_picture(
        run.dir(),
        Split::Test,
        CheckpointChoice::Best,
        Backend::Flex,
        None,
        6,
        &picture,
    )
    .expect("picture");
    assert_eq!(shown, all[..6.min(all.len())].to_vec());
    check(&picture, (300, 100));
}

/// Chromium from Debian (`chromium`), or `$CONVLAB_CHROMIUM`.
fn chromium() -> PathBuf {
    let path = std::env::var_os("CONVLAB_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{}: no Chromium to render the report in (scripts/test.sh installs Debian's `chromium`)",
        path.display()
    );
    path
}

/// Appended to a copy of the page: after it loaded, the state of every image and the widest
/// element outside a scrolling box, written into the DOM that `--dump-dom` prints.
const CHECK: &str = r#"<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const vw = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('main *')]
    .filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > vw + 0.5)
    .map(e => e.tagName + (e.id ? '#' + e.id : ''));
  const r = {
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    pageWidth: document.documentElement.scrollWidth,
    viewport: vw,
    wide: wide.slice(0, 5),
    sections: [...document.querySelectorAll('h2')].map(h => h.id),
  };
  const p = document.createElement('pre');
  p.id = 'convlab-check';
  p.textContent = JSON.stringify(r);
  document.body.appendChild(p);
});
</script>"#;

fn browser(page: &Path, width: u32, extra: &[String]) -> String {
    let out = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
            &format!("--window-size={width},1200"),
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_report_renders_in_chromium() {
    let _g = crate::serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let lr_set = "optimizer.lr=5.0".to_string();
    let run = train(
        Recipe::load(
            "smoke",
            &["epochs=2".into(), "diagnostics.every=2".into(), lr_set],
        )
        .expect("recipe"),
        &opts(tmp.path()),
    )
    .expect("run");
    let page = run.dir().join(convlab_experiments::record::page::FILE);
    let html = std::fs::read_to_string(&page).expect("the run wrote its report");
    for text in [
        "Outcome",
        "Learning curves",
        "Diagnostics",
        "warning(s)",
        "features.layers.0.conv.weight",
        "First-layer filters",
        "Test confusion matrix",
        "Recipe",
        "lenet5",
    ] {
        assert!(html.contains(text), "the report lacks {text}");
    }
    assert!(
        !html.contains("src=\"http") && !html.contains("<link"),
        "self-contained"
    );

    let checked = tmp.path().join("checked.html");
    std::fs::write(
        &checked,
        html.replace("</body>", &format!("{CHECK}</body>")),
    )
    .expect("copy");
    for width in [1280, 640] {
        let dom = browser(&checked, width, &["--dump-dom".into()]);
        let start = dom.find("id=\"convlab-check\">").expect("the check ran") + 19;
        let end = start + dom[start..].find('<').expect("end");
        let r: serde_json::Value =
            serde_json::from_str(&dom[start..end].replace("&quot;", "\"")).expect("json");
        assert_eq!(
            r["images"], 5,
            "{width}px: curves, diagnostics, 2 filters, confusion: {r}"
        );
        assert_eq!(r["broken"], serde_json::json!([]), "{width}px: {r}");
        assert!(
            r["pageWidth"].as_u64() <= r["viewport"].as_u64(),
            "{width}px: the page scrolls sideways: {r}"
        );
        assert_eq!(r["wide"], serde_json::json!([]), "{width}px: {r}");
        assert_eq!(
            r["sections"],
            serde_json::json!([
                "outcome",
                "curves",
                "diagnostics",
                "filters",
                "confusion",
                "epochs",
                "model",
                "recipe"
            ]),
            "{r}"
        );
    }
    // A screenshot of the page as it is, kept beside the test binaries.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    browser(&page, 1280, &[format!("--screenshot={}", shot.display())]);
    check(&shot, (1280, 1200));
}
