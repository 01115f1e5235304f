//! Compile tests (trybuild), in one pass so the dependencies are built once, in a package
//! of their own so that trybuild builds only what the cases use.
//!
//! `ui/pass/`: every supported `#[observe]` function shape compiles (and runs) without
//! a subscriber. `ui/fail/`: every misuse of `#[observe]` is a compile error with a
//! precise message and span. `ui-api/fail/`: generation-only fields are compile errors
//! on span-like observations (typed handles). The expected compiler output is in the
//! `.stderr` next to each file (regenerate with
//! `TRYBUILD=overwrite cargo test -p langfuse-ui-tests`, then review the diff).

#[test]
fn compile_pass_and_compile_fail_cases() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
    t.compile_fail("tests/ui-api/fail/*.rs");
}
