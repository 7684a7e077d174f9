//! The checks of every value of a recipe, section by section, each failure naming its key. They
//! run when a recipe is read and again after a resume changes `epochs`; the first failing check
//! is the error, in the order below.

use crate::config::recipe::{
    DataConfig, DatasetKind, OptimizerConfig, OptimizerKind, Recipe, RecipeError, Result,
    ScheduleConfig, ScheduleKind,
};

/// The largest image side a recipe may ask for (input, resize, synthetic shape, side plus
/// padding): far above any of the zoo's inputs (224/227), far below what exhausts memory.
pub const MAX_SIDE: usize = 4096;
/// The most synthetic images a recipe may ask for, per split.
pub const MAX_SYNTHETIC: usize = 1_000_000;

/// A failed check: the key and what is wrong with it.
type Check = std::result::Result<(), (&'static str, String)>;

fn fail(key: &'static str, message: impl Into<String>) -> Check {
    Err((key, message.into()))
}

impl Recipe {
    /// Checks every value (also after a resume changes `epochs`).
    pub fn validate(&self) -> Result<()> {
        let field = |(key, message): (&str, String)| RecipeError::Field {
            recipe: self.name.clone(),
            key: key.to_string(),
            message,
        };
        self.check_run()
            .and_then(|()| check_optimizer(&self.optimizer))
            .and_then(|()| check_schedule(&self.schedule, self.optimizer.lr, self.epochs))
            .and_then(|()| check_data(&self.data))
            .and_then(|()| self.check_train())
            .map_err(field)?;
        self.model.resolve().map_err(|e| RecipeError::Field {
            recipe: self.name.clone(),
            key: "model".into(),
            message: e.to_string(),
        })?;
        Ok(())
    }

    /// Epochs, batch size and the optional sections.
    fn check_run(&self) -> Check {
        if self.epochs == 0 {
            return fail("epochs", "must be at least 1");
        }
        if self.batch_size == 0 {
            return fail("batch_size", "must be at least 1");
        }
        if let Some(t) = &self.transfer {
            t.check().or_else(|message| fail("transfer", message))?;
        }
        self.diagnostics.check()
    }

    fn check_train(&self) -> Check {
        if self.train.early_stopping_patience == Some(0) {
            return fail(
                "train.early_stopping_patience",
                "must be at least 1 (leave it out to train every epoch)",
            );
        }
        if let Some([c, h, w]) = self.model.input
            && (c > 64 || h > MAX_SIDE || w > MAX_SIDE)
        {
            return fail(
                "model.input",
                format!("at most 64 channels and {MAX_SIDE} pixels a side, got [{c}, {h}, {w}]"),
            );
        }
        if let Some(p) = self.train.label_smoothing
            && !(0.0..1.0).contains(&p)
        {
            return fail(
                "train.label_smoothing",
                format!("must be in [0, 1), got {p}"),
            );
        }
        Ok(())
    }
}

fn check_optimizer(o: &OptimizerConfig) -> Check {
    if !(o.lr.is_finite() && o.lr > 0.0) {
        return fail("optimizer.lr", format!("must be positive, got {}", o.lr));
    }
    if !(0.0..1.0).contains(&o.momentum) {
        return fail(
            "optimizer.momentum",
            format!("must be in [0, 1), got {}", o.momentum),
        );
    }
    if o.nesterov && o.momentum == 0.0 {
        return fail("optimizer.nesterov", "needs a positive momentum");
    }
    if !(o.weight_decay >= 0.0 && o.weight_decay.is_finite()) {
        return fail(
            "optimizer.weight_decay",
            format!("must be >= 0, got {}", o.weight_decay),
        );
    }
    if o.kind != OptimizerKind::Sgd && (o.momentum != 0.0 || o.nesterov) {
        return fail("optimizer.momentum", "applies to sgd only");
    }
    if o.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
        return fail(
            "optimizer.betas",
            format!("must be in [0, 1), got {:?}", o.betas),
        );
    }
    if !(o.eps.is_finite() && o.eps > 0.0) {
        return fail(
            "optimizer.eps",
            format!("must be a positive finite number, got {}", o.eps),
        );
    }
    Ok(())
}

/// The schedule against the optimizer's rate (`min_lr ≤ lr`) and the run's length (the
/// warm-up is shorter).
fn check_schedule(s: &ScheduleConfig, lr: f64, epochs: usize) -> Check {
    if !(s.gamma > 0.0 && s.gamma <= 1.0) {
        return fail(
            "schedule.gamma",
            format!("must be in (0, 1], got {}", s.gamma),
        );
    }
    if s.kind == ScheduleKind::Step && s.step_size == 0 {
        return fail(
            "schedule.step_size",
            "step schedule needs step_size >= 1 (epochs)",
        );
    }
    if s.kind == ScheduleKind::MultiStep
        && (s.milestones.is_empty() || s.milestones.windows(2).any(|w| w[0] >= w[1]))
    {
        return fail(
            "schedule.milestones",
            "needs increasing epochs, e.g. [30, 60]",
        );
    }
    if s.min_lr < 0.0 || s.min_lr > lr {
        return fail(
            "schedule.min_lr",
            format!("must be in [0, lr], got {}", s.min_lr),
        );
    }
    if s.warmup_epochs >= epochs && s.warmup_epochs > 0 {
        return fail("schedule.warmup_epochs", "must be shorter than the run");
    }
    if !(s.warmup_start_factor > 0.0 && s.warmup_start_factor <= 1.0) {
        return fail("schedule.warmup_start_factor", "must be in (0, 1]");
    }
    Ok(())
}

fn check_data(d: &DataConfig) -> Check {
    if !(d.valid_fraction > 0.0 && d.valid_fraction < 1.0) {
        return fail(
            "data.valid_fraction",
            format!("must be in (0, 1), got {}", d.valid_fraction),
        );
    }
    check_sizes(d)?;
    match d.dataset {
        DatasetKind::Synthetic
            if d.samples.unwrap_or(0) == 0 || d.classes.unwrap_or(0) == 0 || d.shape.is_none() =>
        {
            fail("data", "synthetic data needs samples, classes and shape")
        }
        DatasetKind::Synthetic if d.test_samples == Some(0) => fail(
            "data.test_samples",
            "must be at least 1 (leave it out for the default)",
        ),
        DatasetKind::Folder if d.path.is_none() => fail(
            "data.path",
            "folder data (`data.dataset = \"folder\"`) needs the image folder: root/<class>/*.png|jpg|jpeg, or root/train/<class>/… and root/test/<class>/…",
        ),
        DatasetKind::Folder if d.shape.is_none() => fail(
            "data.shape",
            "folder data (`data.dataset = \"folder\"`) needs the [channels, height, width] its images are resized to, e.g. [3, 32, 32] (1 channel: grey)",
        ),
        _ if d.test_fraction.is_some() && d.dataset != DatasetKind::Folder => fail(
            "data.test_fraction",
            "applies to folder data only (`data.dataset = \"folder\"`); named datasets come with their test set",
        ),
        _ if d.test_fraction.is_some_and(|f| !(f > 0.0 && f < 1.0)) => fail(
            "data.test_fraction",
            format!(
                "must be in (0, 1), got {}",
                d.test_fraction.unwrap_or_default()
            ),
        ),
        _ => Ok(()),
    }
}

/// Sizes checked before anything is allocated: sides after resizing and padding, synthetic
/// image counts, an empty test subset.
fn check_sizes(d: &DataConfig) -> Check {
    let side = |key: &'static str, v: usize| {
        if v > MAX_SIDE {
            fail(key, format!("at most {MAX_SIDE} pixels, got {v}"))
        } else {
            Ok(())
        }
    };
    if d.pad > MAX_SIDE / 2 {
        return fail(
            "data.pad",
            format!(
                "at most {} pixels on each side, got {}",
                MAX_SIDE / 2,
                d.pad
            ),
        );
    }
    for v in d.resize.into_iter().flatten() {
        side("data.resize", v + 2 * d.pad)?;
    }
    for v in d.shape.iter().flat_map(|s| s[1..].to_vec()) {
        side("data.shape", v + 2 * d.pad)?;
    }
    for (key, n) in [
        ("data.samples", d.samples),
        ("data.test_samples", d.test_samples),
    ] {
        if let Some(n) = n.filter(|&n| n > MAX_SYNTHETIC) {
            return fail(key, format!("at most {MAX_SYNTHETIC} images, got {n}"));
        }
    }
    for (key, limit) in [("data.limit", d.limit), ("data.test_limit", d.test_limit)] {
        if limit == Some(0) {
            return fail(key, "0 images leaves nothing to train or test on");
        }
    }
    Ok(())
}
