#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod attr;
mod expand;

use proc_macro::TokenStream;
use quote::quote;

#[doc = include_str!("observe.md")]
#[proc_macro_attribute]
pub fn observe(args: TokenStream, item: TokenStream) -> TokenStream {
    run(args, item, quote!(::langfuse_tracing_core))
}

/// `#[observe]` as re-exported by `langfuse-tracing` (`langfuse_tracing::observe`): the
/// generated code names `::langfuse_tracing::__private`, so applications need only that
/// dependency. Otherwise the same as [`observe`](macro@observe):
///
#[doc = include_str!("observe.md")]
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
