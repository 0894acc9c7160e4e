//! The per-request cost of upstream resilience and trace context, without I/O: what a
//! request on a healthy group pays beyond the balancer pick.
//!
//! * `healthy_request`: one [`GroupBoard::eligibility`] read with the exclusion check of a
//!   round-robin pick over 8 endpoints, one `max_requests` slot taken and given back through a
//!   per-core [`Lease`], and one [`Board::report`] of a success (what `forward` does).
//! * `failure_streak`: a local failure reported (the counter written) then a success (reset).
//! * `trace_hop`: parsing a client's `traceparent`, the hop's context from two random
//!   numbers, and writing the forwarded `traceparent` and the hex trace id.
//!
//! Compare with the request's whole CPU cost from the co-run (~25 µs on the 2-vCPU VM).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use ringway_balance::{Balancer, Rng};
use ringway_config::model::Balance;
use ringway_core::{parse_traceparent, TraceContext};
use ringway_resilience::{Board, Lease, Outcome, SlotPool};

fn bench(c: &mut Criterion) {
    let board = Board::new(&[(8, Some(5), None)]);
    let group = board.group(0);
    let mut balancer = Balancer::new(&Balance::RoundRobin, &[1; 8], 1);
    let pool = SlotPool::new(1024, 2);
    let mut lease = Lease::new(pool);
    let tried: Vec<usize> = Vec::new();
    c.bench_function("resilience/pick_alone", |b| {
        b.iter(|| black_box(balancer.pick(None, |i| tried.contains(&i))));
    });
    c.bench_function("resilience/healthy_request", |b| {
        b.iter(|| {
            let e = group.eligibility();
            let ep = balancer
                .pick(None, |i| tried.contains(&i) || e.excluded(i))
                .unwrap();
            assert!(lease.try_acquire());
            board.report(0, ep, Outcome::Success);
            lease.release();
            black_box(ep)
        });
    });
    c.bench_function("resilience/failure_streak", |b| {
        b.iter(|| {
            board.report(0, 3, Outcome::LocalFailure);
            board.report(0, 3, Outcome::Success);
        });
    });
    let incoming = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut rng = Rng::with_seed(7);
    let (mut tp, mut hex) = (Vec::with_capacity(55), Vec::with_capacity(32));
    c.bench_function("resilience/trace_hop", |b| {
        b.iter(|| {
            let parent = parse_traceparent(black_box(incoming));
            let t = TraceContext::hop(parent, rng.u128(..), rng.u64(..));
            tp.clear();
            t.write_traceparent(&mut tp);
            hex.clear();
            t.write_trace_id(&mut hex);
            black_box((&tp, &hex));
        });
    });
}

/// Short runs: these are nanosecond loops. Command-line options (a filter, `--quick`)
/// override them, as with `criterion_main!`.
fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
