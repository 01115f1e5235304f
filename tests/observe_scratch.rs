#![allow(dead_code)]
#[path = "ui/pass/sync_fn.rs"]
mod sync_fn;
#[path = "ui/pass/methods.rs"]
mod methods;
#[test]
fn run_all() {
    sync_fn::main();
    methods::main();
}
