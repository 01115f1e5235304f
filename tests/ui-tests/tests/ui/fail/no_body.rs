use langfuse_tracing_core::observe;

trait Tool {
    #[observe]
    fn call(&self) -> u32;

    #[observe]
    fn items(&self) -> impl Iterator<Item = u32>;
}

fn main() {}
