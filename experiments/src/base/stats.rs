//! Summary statistics for suites: mean, sample standard deviation, and the 95 % confidence
//! interval of a difference of means (Welch's t, unequal variances).
//!
//! The Student-t quantile is computed here (the regularised incomplete beta function by its
//! continued fraction, then bisection) rather than taken from `statrs`, whose linear-algebra
//! dependencies change the feature set of crates Burn's GPU backend shares and so force a
//! rebuild of Burn.

/// ln Γ(x) (Lanczos, g = 7, n = 9; relative error below 1e-13 for x > 0).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let s = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |s, (i, c)| s + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

/// The continued fraction of the incomplete beta function (Lentz's method).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let tiny = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    d = if d.abs() < tiny { tiny } else { d };
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        for aa in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + aa * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = 1.0 + aa / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b).
fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * inc_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The `p` quantile of Student's t (bisection on the CDF to 1e-12).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(0.0..1.0).contains(&p) || p == 0.0 || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    let (mut lo, mut hi) = (-1e3, 1e3);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 {
            break;
        }
    }
    0.5 * (lo + hi)
}

pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation (n − 1); NaN below two values.
pub fn std(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// `mean(a) − mean(b)` and its 95 % interval by Welch's t ([`welch`]); the interval is `None`
/// with fewer than two values on a side (a point when neither side has any spread).
pub fn diff_ci95(a: &[f64], b: &[f64]) -> (f64, Option<(f64, f64)>) {
    match welch(a, b) {
        Some(w) => (w.diff, Some((w.lo, w.hi))),
        None => (mean(a) - mean(b), None),
    }
}

/// How a difference of means was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Paired by seed: the variants share seeds (data order, initialisation stream), so the
    /// per-seed differences are the sample; df = pairs − 1.
    Paired,
    /// Welch's t with Welch–Satterthwaite degrees of freedom (unequal variances).
    Welch,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Paired => "paired by seed",
            Method::Welch => "Welch",
        }
    }
}

/// A difference of means `a − b` with its 95 % interval, standard error, degrees of freedom
/// and two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    pub diff: f64,
    pub lo: f64,
    pub hi: f64,
    pub se: f64,
    pub df: f64,
    pub p: f64,
    pub method: Method,
}

impl Difference {
    fn from_t(diff: f64, se: f64, df: f64, method: Method) -> Self {
        if se == 0.0 {
            let p = if diff == 0.0 { 1.0 } else { 0.0 };
            return Self {
                diff,
                lo: diff,
                hi: diff,
                se,
                df,
                p,
                method,
            };
        }
        let t = t_quantile(0.975, df);
        Self {
            diff,
            lo: diff - t * se,
            hi: diff + t * se,
            se,
            df,
            p: 2.0 * t_cdf(-(diff / se).abs(), df),
            method,
        }
    }

    /// `a − b [lo, hi]`, as every table prints it.
    pub fn interval(&self) -> String {
        format!("{:+.2} [{:+.2}, {:+.2}]", self.diff, self.lo, self.hi)
    }

    /// Whether the 95 % interval excludes 0.
    pub fn excludes_zero(&self) -> bool {
        self.lo > 0.0 || self.hi < 0.0
    }

    /// The smallest true difference these runs would detect with 80 % power at α = 0.05
    /// (two-sided): (t₀.₉₇₅ + t₀.₈₀) · se at the same degrees of freedom.
    pub fn min_detectable(&self) -> f64 {
        (t_quantile(0.975, self.df) + t_quantile(0.8, self.df)) * self.se
    }
}

/// Welch's difference of means; `None` below two values on a side.
pub fn welch(a: &[f64], b: &[f64]) -> Option<Difference> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (va, vb) = (
        std(a).powi(2) / a.len() as f64,
        std(b).powi(2) / b.len() as f64,
    );
    let se = (va + vb).sqrt();
    let df = if se == 0.0 {
        (a.len() + b.len() - 2) as f64
    } else {
        (va + vb).powi(2) / (va.powi(2) / (a.len() - 1) as f64 + vb.powi(2) / (b.len() - 1) as f64)
    };
    Some(Difference::from_t(mean(a) - mean(b), se, df, Method::Welch))
}

/// The difference paired by seed: `a` and `b` are `(seed, value)`; only seeds on both sides
/// count. `None` below two pairs.
pub fn paired(a: &[(u64, f64)], b: &[(u64, f64)]) -> Option<Difference> {
    let d: Vec<f64> = a
        .iter()
        .filter_map(|(s, x)| b.iter().find(|(t, _)| t == s).map(|(_, y)| x - y))
        .collect();
    if d.len() < 2 {
        return None;
    }
    let se = std(&d) / (d.len() as f64).sqrt();
    Some(Difference::from_t(
        mean(&d),
        se,
        (d.len() - 1) as f64,
        Method::Paired,
    ))
}

/// Holm's step-down adjustment of p-values (family-wise error over a suite's comparisons),
/// in the input's order: the k-th smallest is multiplied by m − k + 1, made monotone, capped
/// at 1. NaN p-values (no test) stay NaN and do not count in m.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let m = order.len();
    let mut adjusted = vec![f64::NAN; p.len()];
    let mut running: f64 = 0.0;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}
