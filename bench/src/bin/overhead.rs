//! The cost `#[observe]` adds to a call when no subscriber is installed (target b − a ≤
//! 5 ns), measured as paired differences.
//!
//! Criterion measures a and b minutes apart, and on a shared 2-core machine the plain
//! function's own time moves between runs by more than the 5 ns looked for. Here the
//! functions run in short blocks one after the other, in a rotating order, many
//! times over: each round gives one difference b − a (and the same for `#[observe]` with
//! `update_current_generation`, and for `#[tracing::instrument]`)
//! from blocks a few milliseconds apart, so a slow phase of the machine moves both sides
//! of a difference alike. The median over all rounds, with a 95% confidence interval
//! from the order statistics, is the figure.
//!
//! ```text
//! overhead [ROUNDS] [CALLS_PER_BLOCK]     # defaults: 1000 rounds of 20,000 calls
//! ```
//!
//! Prints one line per function (ns per call: median, quartiles) and one per
//! difference (median, 95% interval, quartiles, share of rounds where it was positive).

use std::hint::black_box;
use std::time::Instant;

use langfuse_bench::{instrumented_bare, observed, observed_bare, plain, N, QUERY_40};

/// One measured function.
struct Subject {
    name: &'static str,
    call: fn(&str, u64) -> String,
    ns: Vec<f64>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut number = |default: usize| {
        args.next().map_or(default, |s| {
            s.parse().unwrap_or_else(|_| {
                eprintln!("usage: overhead [ROUNDS] [CALLS_PER_BLOCK]");
                std::process::exit(2)
            })
        })
    };
    let rounds = number(1000).max(1);
    let calls = number(20_000).max(1);
    if tracing::dispatcher::has_been_set() {
        eprintln!("overhead: a subscriber is installed; this measures the case without one");
        std::process::exit(2)
    }

    let mut subjects = [
        Subject {
            name: "a plain",
            call: plain,
            ns: Vec::with_capacity(rounds),
        },
        Subject {
            name: "b #[observe], no subscriber",
            call: observed_bare,
            ns: Vec::with_capacity(rounds),
        },
        Subject {
            name: "b #[observe] + model update, no subscriber",
            call: observed,
            ns: Vec::with_capacity(rounds),
        },
        Subject {
            name: "#[tracing::instrument], no subscriber",
            call: instrumented_bare,
            ns: Vec::with_capacity(rounds),
        },
    ];
    // Warm up caches, the allocator and the callsites' interest.
    for s in &mut subjects {
        block(s.call, calls);
    }
    for round in 0..rounds {
        // Rotate the order so that no function always runs first after a switch.
        for k in 0..subjects.len() {
            let n = subjects.len();
            let s = &mut subjects[(round + k) % n];
            let ns = block(s.call, calls);
            s.ns.push(ns);
        }
    }

    println!("{rounds} rounds of {calls} calls per function (ns per call)");
    for s in &subjects {
        let mut v = s.ns.clone();
        let (median, q1, q3) = quartiles(&mut v);
        println!(
            "  {:<42} median {median:7.2}  quartiles {q1:7.2} – {q3:7.2}",
            s.name
        );
    }
    for (i, label) in [
        (1, "b − a"),
        (2, "b (model update) − a"),
        (3, "#[tracing::instrument] − a"),
    ] {
        let mut d: Vec<f64> = subjects[i]
            .ns
            .iter()
            .zip(&subjects[0].ns)
            .map(|(x, a)| x - a)
            .collect();
        let positive = d.iter().filter(|x| **x > 0.0).count() as f64 / d.len() as f64;
        let (lo, hi) = median_interval(&mut d);
        let (median, q1, q3) = quartiles(&mut d);
        println!(
            "  {label:<42} median {median:7.2}  95% interval {lo:.2} – {hi:.2}  quartiles {q1:.2} – {q3:.2}  positive in {:.0}% of rounds",
            100.0 * positive
        );
    }
}

/// Runs `f` `calls` times; ns per call.
fn block(f: fn(&str, u64) -> String, calls: usize) -> f64 {
    let start = Instant::now();
    for i in 0..calls as u64 {
        black_box(f(black_box(QUERY_40), N + i));
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

/// Median and first and third quartiles (sorts `v`).
fn quartiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

/// A 95% confidence interval for the median from order statistics: the ranks
/// n/2 ∓ 1.96·√n/2 (normal approximation to the binomial; sorts `v`).
fn median_interval(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let half = 1.96 * n.sqrt() / 2.0;
    let lo = ((n / 2.0 - half).floor().max(0.0)) as usize;
    let hi = ((n / 2.0 + half).ceil() as usize).min(v.len() - 1);
    (v[lo], v[hi])
}
