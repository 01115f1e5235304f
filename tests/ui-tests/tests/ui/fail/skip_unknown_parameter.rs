use langfuse_tracing_core::observe;

#[observe(skip(query, secret))]
fn f(query: &str, api_key: &str) -> usize {
    query.len() + api_key.len()
}

fn main() {
    f("a", "b");
}
