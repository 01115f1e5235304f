//! Every pair of arguments, in both orders (generated; keep in sync with the argument list).
use langfuse_tracing_core::observe;

#[observe(name = "renamed", as_type = "tool")]
fn f0(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(name = "renamed", capture_input = false)]
fn f1(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(name = "renamed", capture_output = true)]
fn f2(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(name = "renamed", skip(b))]
fn f3(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(name = "renamed", crate = ::langfuse_tracing_core)]
fn f4(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(name = "renamed", iterator)]
fn f5(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(name = "renamed", stream = false)]
fn f6(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(as_type = "tool", name = "renamed")]
fn f7(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(as_type = "tool", capture_input = false)]
fn f8(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(as_type = "tool", capture_output = true)]
fn f9(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(as_type = "tool", skip(b))]
fn f10(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(as_type = "tool", crate = ::langfuse_tracing_core)]
fn f11(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(as_type = "tool", iterator)]
fn f12(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(as_type = "tool", stream = false)]
fn f13(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_input = false, name = "renamed")]
fn f14(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_input = false, as_type = "tool")]
fn f15(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_input = false, capture_output = true)]
fn f16(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_input = false, skip(b))]
fn f17(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_input = false, crate = ::langfuse_tracing_core)]
fn f18(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_input = false, iterator)]
fn f19(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_input = false, stream = false)]
fn f20(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_output = true, name = "renamed")]
fn f21(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_output = true, as_type = "tool")]
fn f22(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_output = true, capture_input = false)]
fn f23(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_output = true, skip(b))]
fn f24(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_output = true, crate = ::langfuse_tracing_core)]
fn f25(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_output = true, iterator)]
fn f26(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(capture_output = true, stream = false)]
fn f27(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(skip(b), name = "renamed")]
fn f28(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(skip(b), as_type = "tool")]
fn f29(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(skip(b), capture_input = false)]
fn f30(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(skip(b), capture_output = true)]
fn f31(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(skip(b), crate = ::langfuse_tracing_core)]
fn f32(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(skip(b), iterator)]
fn f33(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(skip(b), stream = false)]
fn f34(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(crate = ::langfuse_tracing_core, name = "renamed")]
fn f35(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(crate = ::langfuse_tracing_core, as_type = "tool")]
fn f36(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(crate = ::langfuse_tracing_core, capture_input = false)]
fn f37(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(crate = ::langfuse_tracing_core, capture_output = true)]
fn f38(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(crate = ::langfuse_tracing_core, skip(b))]
fn f39(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(crate = ::langfuse_tracing_core, iterator)]
fn f40(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(crate = ::langfuse_tracing_core, stream = false)]
fn f41(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(iterator, name = "renamed")]
fn f42(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(iterator, as_type = "tool")]
fn f43(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(iterator, capture_input = false)]
fn f44(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(iterator, capture_output = true)]
fn f45(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(iterator, skip(b))]
fn f46(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(iterator, crate = ::langfuse_tracing_core)]
fn f47(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(iterator, stream = false)]
fn f48(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(stream = false, name = "renamed")]
fn f49(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(stream = false, as_type = "tool")]
fn f50(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(stream = false, capture_input = false)]
fn f51(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(stream = false, capture_output = true)]
fn f52(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(stream = false, skip(b))]
fn f53(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(stream = false, crate = ::langfuse_tracing_core)]
fn f54(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(stream = false, iterator)]
fn f55(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

#[observe(
    name = "renamed",
    as_type = "tool",
    capture_input = false,
    capture_output = true,
    skip(b),
    crate = ::langfuse_tracing_core,
    iterator,
    stream = false,
)]
fn all(a: u32, b: u32) -> impl Iterator<Item = u32> {
    a..b
}

pub fn main() {
    assert_eq!(f0(0, 2).count(), 2);
    assert_eq!(f1(0, 2).count(), 2);
    assert_eq!(f2(0, 2).count(), 2);
    assert_eq!(f3(0, 2).count(), 2);
    assert_eq!(f4(0, 2).count(), 2);
    assert_eq!(f5(0, 2).count(), 2);
    assert_eq!(f6(0, 2).count(), 2);
    assert_eq!(f7(0, 2).count(), 2);
    assert_eq!(f8(0, 2).count(), 2);
    assert_eq!(f9(0, 2).count(), 2);
    assert_eq!(f10(0, 2).count(), 2);
    assert_eq!(f11(0, 2).count(), 2);
    assert_eq!(f12(0, 2).count(), 2);
    assert_eq!(f13(0, 2).count(), 2);
    assert_eq!(f14(0, 2).count(), 2);
    assert_eq!(f15(0, 2).count(), 2);
    assert_eq!(f16(0, 2).count(), 2);
    assert_eq!(f17(0, 2).count(), 2);
    assert_eq!(f18(0, 2).count(), 2);
    assert_eq!(f19(0, 2).count(), 2);
    assert_eq!(f20(0, 2).count(), 2);
    assert_eq!(f21(0, 2).count(), 2);
    assert_eq!(f22(0, 2).count(), 2);
    assert_eq!(f23(0, 2).count(), 2);
    assert_eq!(f24(0, 2).count(), 2);
    assert_eq!(f25(0, 2).count(), 2);
    assert_eq!(f26(0, 2).count(), 2);
    assert_eq!(f27(0, 2).count(), 2);
    assert_eq!(f28(0, 2).count(), 2);
    assert_eq!(f29(0, 2).count(), 2);
    assert_eq!(f30(0, 2).count(), 2);
    assert_eq!(f31(0, 2).count(), 2);
    assert_eq!(f32(0, 2).count(), 2);
    assert_eq!(f33(0, 2).count(), 2);
    assert_eq!(f34(0, 2).count(), 2);
    assert_eq!(f35(0, 2).count(), 2);
    assert_eq!(f36(0, 2).count(), 2);
    assert_eq!(f37(0, 2).count(), 2);
    assert_eq!(f38(0, 2).count(), 2);
    assert_eq!(f39(0, 2).count(), 2);
    assert_eq!(f40(0, 2).count(), 2);
    assert_eq!(f41(0, 2).count(), 2);
    assert_eq!(f42(0, 2).count(), 2);
    assert_eq!(f43(0, 2).count(), 2);
    assert_eq!(f44(0, 2).count(), 2);
    assert_eq!(f45(0, 2).count(), 2);
    assert_eq!(f46(0, 2).count(), 2);
    assert_eq!(f47(0, 2).count(), 2);
    assert_eq!(f48(0, 2).count(), 2);
    assert_eq!(f49(0, 2).count(), 2);
    assert_eq!(f50(0, 2).count(), 2);
    assert_eq!(f51(0, 2).count(), 2);
    assert_eq!(f52(0, 2).count(), 2);
    assert_eq!(f53(0, 2).count(), 2);
    assert_eq!(f54(0, 2).count(), 2);
    assert_eq!(f55(0, 2).count(), 2);
    assert_eq!(all(0, 2).count(), 2);
}
