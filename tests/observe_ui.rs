//! Compile tests of `#[observe]` (trybuild).
//!
//! `ui/pass/`: every supported function shape compiles (and runs) without a subscriber.
//! `ui/fail/`: every misuse is a compile error with a precise message and span; the
//! expected compiler output is in the `.stderr` next to each file (regenerate with
//! `TRYBUILD=overwrite cargo test --test observe_ui`, then review the diff).

#[test]
fn observe_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
