//! The statistics the detectors use: Poisson tails (low counts are Poisson, not Gaussian) and
//! robust location (median).

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, n = 9: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
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
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized lower incomplete gamma function `P(a, x)`, `a > 0`, `x >= 0`.
fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let prefix = (a * x.ln() - x - ln_gamma(a)).exp();
    if x < a + 1.0 {
        // Series: P = e^-x x^a / Γ(a) Σ x^n / (a (a+1) ... (a+n)).
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (sum * prefix).min(1.0)
    } else {
        // Continued fraction for Q = 1 - P (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (1.0 - prefix * h).max(0.0)
    }
}

/// `P(X >= k)` for `X ~ Poisson(lambda)`: how surprising `k` or more events are when `lambda`
/// are expected.
pub(crate) fn poisson_at_least(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    gamma_p(k as f64, lambda)
}

/// `P(X <= k)` for `X ~ Poisson(lambda)`.
pub(crate) fn poisson_at_most(k: u64, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    1.0 - gamma_p(k as f64 + 1.0, lambda)
}

/// The median of `v` (reordered; 0 when empty).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if v.len() % 2 == 1 {
        m
    } else {
        let below = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + m) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact Poisson tails by summing the mass function, for small lambdas.
    fn exact_at_least(k: u64, lambda: f64) -> f64 {
        let mut p = (-lambda).exp();
        let mut below = 0.0;
        for i in 0..k {
            below += p;
            p *= lambda / (i + 1) as f64;
        }
        1.0 - below
    }

    #[test]
    fn poisson_tails_match_the_mass_function() {
        for lambda in [0.1, 1.0, 3.5, 10.0, 42.0] {
            for k in [0, 1, 2, 5, 10, 20, 60] {
                let want = exact_at_least(k, lambda);
                let got = poisson_at_least(k, lambda);
                assert!(
                    (got - want).abs() < 1e-9,
                    "k={k} λ={lambda}: {got} vs {want}"
                );
                let at_most = poisson_at_most(k, lambda);
                let want_most = 1.0 - exact_at_least(k + 1, lambda);
                assert!((at_most - want_most).abs() < 1e-9, "k={k} λ={lambda}");
            }
        }
        // Far tails stay meaningful (no cancellation to 0 or 1 where it matters).
        assert!(poisson_at_least(100, 10.0) < 1e-40);
        assert!(poisson_at_least(100, 10.0) > 0.0);
        assert!(poisson_at_most(10, 1000.0) < 1e-300 || poisson_at_most(10, 1000.0) == 0.0);
        assert!((poisson_at_least(1000, 1000.0) - 0.504_205).abs() < 1e-5);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), 0.0);
        assert_eq!(median(&mut [3.0]), 3.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
