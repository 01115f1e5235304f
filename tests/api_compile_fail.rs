//! Typed handles: generation-only fields are compile errors on other observations.

#[test]
fn generation_only_fields_do_not_compile_on_span_like_observations() {
    trybuild::TestCases::new().compile_fail("tests/ui-api/fail/*.rs");
}
