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
