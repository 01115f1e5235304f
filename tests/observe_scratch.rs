#![allow(dead_code)]
#[path = "ui/pass/sync_fn.rs"]
mod sync_fn;
#[path = "ui/pass/methods.rs"]
mod methods;
#[path = "ui/pass/async_fn.rs"]
mod async_fn;
#[path = "ui/pass/async_trait_methods.rs"]
mod async_trait_methods;
#[path = "ui/pass/streams.rs"]
mod streams;
#[path = "ui/pass/capture_types.rs"]
mod capture_types;
#[path = "ui/pass/results.rs"]
mod results;
#[test]
fn run_all() {
    sync_fn::main();
    methods::main();
    async_fn::main();
    async_trait_methods::main();
    streams::main();
    capture_types::main();
    results::main();
}
