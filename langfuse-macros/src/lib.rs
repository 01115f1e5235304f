#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod attr;
mod expand;

use proc_macro::TokenStream;
use quote::quote;

/// Turns each call of a function into one Langfuse observation.
///
/// The observation is a [`tracing`](https://docs.rs/tracing) span (level `INFO`,
/// target = the module path), so it nests with every other span of the application:
/// observed functions called inside observed functions are its children, across
/// `.await`s too. With no subscriber installed, an observed call costs a few
/// nanoseconds more than a plain one and serialises nothing. The function's signature,
/// attributes and docs are unchanged for its callers.
///
/// ```
/// use langfuse_tracing_core::observe;
///
/// #[observe]
/// fn retrieve(query: &str, k: usize) -> Vec<String> {
///     vec![format!("doc about {query}"); k]
/// }
///
/// #[observe(name = "llm-call", as_type = "generation")]
/// async fn answer(question: String) -> Result<String, std::io::Error> {
///     let docs = retrieve(&question, 2); // a child of `llm-call`
///     Ok(format!("{} docs", docs.len()))
/// }
/// # let _ = answer("why?".into());
/// ```
///
/// # What is recorded
///
/// * **Name**: the function name, or `name`. **Type**: `span`, or `as_type`.
/// * **Input**: a JSON object keyed by parameter name, `{"query": "...", "k": 2}`.
///   `self` is left out, and so are `skip`ped parameters. A pattern parameter
///   contributes the names it binds: `(a, b): (u32, u32)` gives keys `a` and `b`
///   (`_` binds nothing). A function with no captured parameter has no input.
/// * **Output**: the return value. A `String`/`&str` is written verbatim, other values
///   as JSON; `()` and `None` write nothing.
/// * Each value is captured through `serde::Serialize` if it implements it, else as its
///   `Debug` text, else as its type name. The choice is made where the type is
///   concrete, so capture never adds a trait bound and never stops a function from
///   compiling (in a generic function without bounds you get the type name).
/// * **`Result`**: `Ok(v)` captures `v`; `Err(e)` sets level `ERROR` and the status
///   message `e.to_string()` (or its `Debug` text, or its type name) and writes no
///   output. Aliases (`anyhow::Result<T>`, `io::Result<T>`) are detected by type, and a
///   type of your own that happens to be called `Result` is just a value.
/// * **Panics**: level `ERROR`, status message = the panic message (`&str`/`String`
///   payloads, else `"panic"`); the panic then continues unchanged.
/// * Nothing is serialised when the observation is disabled, filtered out or sampled
///   out.
///
/// # Arguments
///
/// All optional, in any order, each at most once:
///
/// | argument | meaning |
/// |---|---|
/// | `name = "..."` | observation name (default: the function name) |
/// | `as_type = "..."` | `span` (default), `generation`, `embedding`, `agent`, `tool`, `chain`, `retriever`, `evaluator` or `guardrail` |
/// | `capture_input = bool` | record the input (default: on, unless `LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED` is `false`/`0`) |
/// | `capture_output = bool` | record the output (same default); errors are recorded either way |
/// | `skip(param, ...)` | leave these parameters (or pattern bindings) out of the input |
/// | `stream` / `iterator` | the return value is a boxed stream / iterator (see below); `stream = false` / `iterator = false` turn the automatic detection off |
/// | `transform_to_string = f` | a stream's / iterator's output is `f(&items)` (`fn(&[Item]) -> String`), see below |
/// | `crate = path` | where `langfuse_tracing_core` is, for re-exports (`crate = my_telemetry::langfuse`); the path must have `__private` (re-export `langfuse_tracing_core::__private` next to `observe`) |
///
/// ```
/// use langfuse_tracing_core::observe;
///
/// #[observe(as_type = "tool", skip(api_key), capture_output = false)]
/// fn search(query: &str, api_key: &str) -> Vec<u8> {
///     let _ = (query, api_key);
///     Vec::new()
/// }
/// # search("q", "k");
/// ```
///
/// `event` is not a function type (an event has no duration), and an unknown type,
/// argument, duplicate or ill-typed value is a compile error pointing at the token.
///
/// # Function shapes
///
/// Free functions, methods (`&self`, `&mut self`, `self`, `self: Arc<Self>`, ...), trait
/// default methods, generic functions with bounds and `where` clauses, lifetimes,
/// `impl Trait` and pattern parameters, `unsafe fn` and `extern fn`, early `return`
/// and `?` all work. `const fn` is a compile error.
///
/// * **`async fn`**: the observation covers the body future; the span is entered on
///   every poll, so calls across `.await`s nest under it. Futures you `tokio::spawn`
///   keep the parent if you instrument them (`.in_current_span()`); in
///   `spawn_blocking`, pass the span and `span.in_scope(..)`.
/// * **`fn -> impl Future<Output = T>`**: the returned future is observed until it
///   completes; when the body ends in an `async` block (possibly `Box::pin`ned), that
///   block is observed.
/// * **`#[async_trait]` methods**: put `#[observe]` on the method inside the
///   `#[async_trait]` impl; the boxed inner future is observed, not the boxing.
///
/// ```
/// use langfuse_tracing_core::observe;
/// use std::future::Future;
///
/// #[observe(as_type = "retriever")]
/// fn fetch(id: u32) -> impl Future<Output = String> {
///     async move { format!("doc {id}") }
/// }
/// # let _ = fetch(1);
/// ```
///
/// # Streams and iterators
///
/// A function returning `impl Stream<Item = T>` (`futures_core::Stream`) or
/// `impl Iterator<Item = T>` keeps its observation open until the stream/iterator is
/// exhausted or dropped, and each poll runs inside the span. The output is all items
/// concatenated when they are strings (`String`, `&str`, `Cow<str>`, ...), else the
/// JSON list of the items; an `Err` item of a `Result` stream sets level `ERROR` and
/// is left out of the output. For `generation` and `embedding`, the first item sets
/// `completion_start_time` (time to first token). An empty stream writes `""`.
///
/// `transform_to_string = path::to::f` (the reference's `transform_to_string`) makes the
/// output `f(&items)`, sent as text, instead: `f` is a `fn(&[Item]) -> String` where
/// `Item` is the stream's item type (`Clone`: the items are kept, cloned, until the
/// stream ends; an `Err` item still sets level `ERROR`). Only on a stream or iterator.
///
/// A *boxed* stream or iterator is not detected from its type: say so with `stream`
/// (return type `Pin<Box<dyn Stream<..>>>`, e.g. `BoxStream`) or `iterator` (return type
/// `Box<dyn Iterator<..>>`); the value is re-boxed around the observing wrapper.
///
/// ```
/// use langfuse_tracing_core::observe;
///
/// #[observe(as_type = "generation")]
/// fn tokens(prompt: &str) -> impl Iterator<Item = String> + '_ {
///     prompt.split(' ').map(|w| format!("{w} "))
/// }
///
/// #[observe(iterator)]
/// fn boxed(n: u32) -> Box<dyn Iterator<Item = u32>> {
///     Box::new(0..n)
/// }
///
/// assert_eq!(tokens("a b").collect::<String>(), "a b ");
/// assert_eq!(boxed(3).sum::<u32>(), 3);
/// ```
///
/// # Updating the observation from inside
///
/// The observation is the current span while the function runs, so
/// `langfuse_tracing_core::update_current_span` / `update_current_generation` inside it
/// update it.
#[proc_macro_attribute]
pub fn observe(args: TokenStream, item: TokenStream) -> TokenStream {
    run(args, item, quote!(::langfuse_tracing_core))
}

/// `#[observe]` as re-exported by `langfuse-tracing`: the generated code names
/// `::langfuse_tracing::__private`, so applications need only that dependency.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn observe_in_subscriber(args: TokenStream, item: TokenStream) -> TokenStream {
    run(args, item, quote!(::langfuse_tracing))
}

fn run(
    args: TokenStream,
    item: TokenStream,
    default_krate: proc_macro2::TokenStream,
) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match syn::parse::<attr::Args>(args) {
        Ok(args) => expand::expand(args, item, default_krate).into(),
        // Keep the function so the rest of the crate (and rust-analyzer) still sees it.
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#e #item).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::{TokenStream, TokenTree};
    use quote::quote;

    fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
        let args: crate::attr::Args = syn::parse2(args).expect("valid arguments");
        crate::expand::expand(args, item, quote!(::langfuse_tracing_core))
    }

    /// Every absolute path (`::x::...`) in `tokens`, by its first segment.
    fn absolute_roots(tokens: TokenStream, out: &mut Vec<String>) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, tt) in tokens.iter().enumerate() {
            match tt {
                TokenTree::Group(g) => absolute_roots(g.stream(), out),
                TokenTree::Punct(p)
                    if p.as_char() == ':' && p.spacing() == proc_macro2::Spacing::Joint =>
                {
                    let starts_path = match i.checked_sub(1).map(|j| &tokens[j]) {
                        None => true,
                        Some(TokenTree::Ident(_)) => false,
                        Some(TokenTree::Punct(prev)) => !matches!(prev.as_char(), '>' | ':'),
                        Some(_) => true,
                    };
                    if let (true, Some(TokenTree::Ident(root))) = (starts_path, tokens.get(i + 2)) {
                        out.push(root.to_string());
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn generated_code_names_only_core_std_and_the_langfuse_crate() {
        let shapes = [
            quote!(
                fn f(a: u32, (b, c): (u8, u8)) -> Result<u32, E> {
                    Ok(a)
                }
            ),
            quote!(
                async fn f(&self, a: u32) -> u32 {
                    a
                }
            ),
            quote!(
                fn f(a: u32) -> impl Future<Output = u32> {
                    ready(a)
                }
            ),
            quote!(
                fn f<'a>(&'a self, a: u32) -> Pin<Box<dyn Future<Output = u32> + Send + 'a>> {
                    Box::pin(async move { a })
                }
            ),
            quote!(
                fn f(a: u32) -> impl Stream<Item = String> {
                    s(a)
                }
            ),
            quote!(
                fn f(a: u32) -> impl Iterator<Item = u32> {
                    0..a
                }
            ),
            quote!(
                fn f() -> ! {
                    loop {}
                }
            ),
        ];
        for item in shapes {
            let mut roots = Vec::new();
            absolute_roots(
                expand(quote!(as_type = "generation"), item.clone()),
                &mut roots,
            );
            assert!(!roots.is_empty());
            for root in roots {
                assert!(
                    matches!(root.as_str(), "core" | "std" | "langfuse_tracing_core"),
                    "`::{root}` in the expansion of {item}"
                );
            }
        }
        let mut roots = Vec::new();
        absolute_roots(
            expand(
                quote!(stream),
                quote!(
                    fn f() -> BoxStream<'static, u32> {
                        s()
                    }
                ),
            ),
            &mut roots,
        );
        assert!(roots
            .iter()
            .all(|r| matches!(r.as_str(), "core" | "std" | "langfuse_tracing_core")));
    }

    #[test]
    fn the_crate_argument_replaces_the_default_path() {
        let out = expand(
            quote!(crate = my::telemetry),
            quote!(
                fn f() {}
            ),
        )
        .to_string();
        assert!(out.contains("my :: telemetry :: __private"), "{out}");
        assert!(!out.contains("langfuse_tracing_core"), "{out}");
    }

    #[test]
    fn errors_keep_the_original_function() {
        let out = expand(
            quote!(),
            quote!(
                const fn f() -> u32 {
                    1
                }
            ),
        )
        .to_string();
        assert!(out.starts_with(":: core :: compile_error !"), "{out}");
        assert!(out.ends_with("const fn f () -> u32 { 1 }"), "{out}");
    }
}
