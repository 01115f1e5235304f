//! The `#[observe]` attribute macro of the Langfuse Rust toolkit.
//!
//! Use it through `langfuse_core::observe` (or `langfuse_subscriber::observe`); the
//! full argument reference is on that re-export. This crate only parses (`syn`) and
//! expands (`quote`); the generated code calls `langfuse_core::__private`.
#![warn(missing_docs)]

mod attr;
mod expand;

use proc_macro::TokenStream;
use quote::quote;

/// Turns each call of a function into one Langfuse observation (a `tracing` span).
///
/// See `langfuse_core::observe` for the argument reference and examples.
#[proc_macro_attribute]
pub fn observe(args: TokenStream, item: TokenStream) -> TokenStream {
    run(args, item, quote!(::langfuse_core))
}

/// `#[observe]` as re-exported by `langfuse-subscriber`: the generated code names
/// `::langfuse_subscriber::__private`, so applications need only that dependency.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn observe_in_subscriber(args: TokenStream, item: TokenStream) -> TokenStream {
    run(args, item, quote!(::langfuse_subscriber))
}

fn run(args: TokenStream, item: TokenStream, default_krate: proc_macro2::TokenStream) -> TokenStream {
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
    use quote::quote;

    fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
        let args: crate::attr::Args = syn::parse2(args).unwrap();
        crate::expand::expand(args, item, quote!(::langfuse_core)).to_string()
    }

    #[test]
    fn print() {
        if std::env::var("LF_PRINT").is_err() {
            return;
        }
        println!("{}", expand(quote!(), quote!(fn f(a: u32, (b, c): (u8, u8)) -> Result<u32, E> { Ok(a) })));
        println!("{}", expand(quote!(), quote!(async fn f(a: u32) -> u32 { a })));
        println!("{}", expand(quote!(), quote!(fn f<'a>(&'a self, a: u32) -> Pin<Box<dyn Future<Output = u32> + Send + 'a>> { Box::pin(async move { let __ret: u32 = { a }; __ret }) })));
        println!("{}", expand(quote!(as_type = "generation"), quote!(fn f(a: u32) -> impl Stream<Item = String> { s })));
    }
}
