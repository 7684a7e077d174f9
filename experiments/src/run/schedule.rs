//! Learning-rate schedules written in epochs, evaluated per iteration, equal to PyTorch's:
//! `LinearLR(start_factor, total_iters=warm-up)` for the warm-up, then `StepLR`, `MultiStepLR`
//! (epoch quantities times iterations per epoch) or `CosineAnnealingLR(T_max = iterations
//! after warm-up)`, chained by `SequentialLR` — so, as there, the main schedule counts from the
//! end of the warm-up: milestones and step sizes are epochs after it. `tests/golden` holds
//! PyTorch's sequences. The schedule's position is saved with every checkpoint.

use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};

use crate::config::recipe::{ScheduleConfig, ScheduleKind};

#[derive(Debug, Clone)]
pub struct Schedule {
    config: ScheduleConfig,
    base_lr: f64,
    iters_per_epoch: usize,
    total_iters: usize,
    /// Optimizer updates done so far.
    iteration: usize,
}

impl Schedule {
    pub fn new(
        config: ScheduleConfig,
        base_lr: f64,
        iters_per_epoch: usize,
        epochs: usize,
    ) -> Self {
        let iters_per_epoch = iters_per_epoch.max(1);
        Self {
            config,
            base_lr,
            iters_per_epoch,
            total_iters: iters_per_epoch * epochs.max(1),
            iteration: 0,
        }
    }

    /// The learning rate of update number `it` (0-based).
    pub fn lr_at(&self, it: usize) -> f64 {
        let c = &self.config;
        let warmup = c.warmup_epochs * self.iters_per_epoch;
        if it < warmup {
            let f = c.warmup_start_factor;
            return self.base_lr * (f + (1.0 - f) * it as f64 / warmup as f64);
        }
        // SequentialLR restarts the main schedule at the end of the warm-up.
        let epoch = (it - warmup) / self.iters_per_epoch;
        match c.kind {
            ScheduleKind::Constant => self.base_lr,
            ScheduleKind::Step => self.base_lr * c.gamma.powi((epoch / c.step_size.max(1)) as i32),
            ScheduleKind::MultiStep => {
                let passed = c.milestones.iter().filter(|&&m| m <= epoch).count();
                self.base_lr * c.gamma.powi(passed as i32)
            }
            ScheduleKind::Cosine => {
                let span = self.total_iters.saturating_sub(warmup).max(1);
                let t = ((it - warmup) as f64 / span as f64).min(1.0);
                c.min_lr
                    + 0.5 * (self.base_lr - c.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

impl LrScheduler for Schedule {
    fn step(&mut self) -> f64 {
        let lr = self.lr_at(self.iteration);
        self.iteration += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar("iteration", self.iteration as u64)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(it) = record.scalar::<u64>("iteration") {
            self.iteration = it as usize;
        }
    }
}
