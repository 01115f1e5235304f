//! Expansion of an observed function.
//!
//! The body is wrapped, never duplicated: a synchronous body runs in a `move` closure
//! (so early `return` and `?` keep working), an `async` body in an `async move` block
//! polled through `ObservedFuture`. The generated code names only
//! `#krate::__private::...`, `::core` and `::std` paths, so it compiles under
//! `#![no_implicit_prelude]` and without `tracing`/`serde` in the caller's
//! dependencies. Internal variables use mixed-site hygiene, so the user's body can
//! neither see nor shadow them.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens, TokenStreamExt};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, Expr, ExprAsync, ExprCall, FnArg, GenericArgument, Ident, ItemFn, LitStr, Pat,
    PathArguments, ReturnType, Signature, Stmt, Token, Type, TypeParamBound, Visibility,
};

use crate::attr::{Args, Flag};

/// A function whose body may not parse (a half-typed body in an editor): the body is
/// kept as raw tokens, so the expansion still gives rust-analyzer a function.
pub(crate) struct MaybeItemFn {
    pub(crate) outer_attrs: Vec<Attribute>,
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: TokenStream,
    /// The parsed statements, when the body parsed (enables the async-block rewrite).
    pub(crate) stmts: Option<Vec<Stmt>>,
}

impl Parse for MaybeItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        if input.peek(Token![;]) {
            return Err(syn::Error::new(
                input.span(),
                "`#[observe]` needs a function body: put it on the implementation or give the \
                 trait method a default body",
            ));
        }
        let content;
        syn::braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body: TokenStream = content.parse()?;
        Ok(MaybeItemFn {
            outer_attrs,
            inner_attrs,
            vis,
            sig,
            body,
            stmts: None,
        })
    }
}

impl From<ItemFn> for MaybeItemFn {
    fn from(f: ItemFn) -> Self {
        let (outer_attrs, inner_attrs) = f
            .attrs
            .into_iter()
            .partition(|a| matches!(a.style, syn::AttrStyle::Outer));
        let mut body = TokenStream::new();
        body.append_all(&f.block.stmts);
        MaybeItemFn {
            outer_attrs,
            inner_attrs,
            vis: f.vis,
            sig: f.sig,
            body,
            stmts: Some(f.block.stmts),
        }
    }
}

/// What the function returns, which decides how the observation is kept open.
enum Shape {
    /// A value: the observation ends when the function returns.
    Value,
    /// `async fn`: the observation covers the body future.
    Async,
    /// A plain `fn` whose last expression is `Box::pin(async { .. })` (what `async-trait`
    /// generates): the inner block is observed inside the same box, not the boxing.
    BoxedAsyncBlock { index: usize },
    /// `fn -> impl Future`: the returned future (whatever the body builds) is wrapped.
    Future,
    /// `impl Stream` (or the `stream` flag): open until exhausted or dropped.
    Stream { boxed: bool },
    /// `impl Iterator` (or the `iterator` flag): open until exhausted or dropped.
    Iter { boxed: bool },
}

/// One captured parameter binding.
struct Param {
    ident: Ident,
    key: String,
    cfg: Vec<Attribute>,
}

/// Hygienic names of the generated locals.
struct Names {
    span: Ident,
    rec: Ident,
    cap: Ident,
    ret: Ident,
    enter: Ident,
    input: Ident,
}

impl Names {
    fn new() -> Self {
        let site = Span::mixed_site();
        Names {
            span: Ident::new("lf_span", site),
            rec: Ident::new("lf_recording", site),
            cap: Ident::new("lf_capture_output", site),
            ret: Ident::new("lf_return", site),
            enter: Ident::new("lf_entered", site),
            input: Ident::new("lf_input", site),
        }
    }
}

/// Everything the code generators share.
struct Gen<'a> {
    args: &'a Args,
    /// `#krate::__private`
    private: TokenStream,
    /// `#krate::__private::observe`
    observe: TokenStream,
    name: LitStr,
    params: Vec<Param>,
    n: Names,
}

/// Expands `#[observe(args)] item`. Errors come back with the original function, so
/// callers and rust-analyzer still see it.
pub(crate) fn expand(args: Args, item: TokenStream, default_krate: TokenStream) -> TokenStream {
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(f) => MaybeItemFn::from(f),
        Err(_) => match syn::parse2::<MaybeItemFn>(item.clone()) {
            Ok(f) => f,
            Err(e) => {
                let e = not_a_function(e, &item);
                return quote!(#e #item);
            }
        },
    };

    match generate(&args, &func, default_krate) {
        Ok(tokens) => tokens,
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#e #item)
        }
    }
}

/// The error for an item that did not parse as a function: "only functions" when it is
/// another kind of item, else syn's own message (for example a missing body).
fn not_a_function(e: syn::Error, item: &TokenStream) -> TokenStream {
    use proc_macro2::TokenTree;
    // The item keyword is the first identifier after attributes, visibility and
    // qualifiers (`pub(crate) unsafe extern "C" fn`, `const X`, `struct S`, ...).
    for tt in item.clone() {
        let TokenTree::Ident(ident) = tt else {
            continue;
        };
        match ident.to_string().as_str() {
            "pub" | "crate" | "unsafe" | "async" | "extern" | "default" | "const" => {}
            "fn" => break,
            _ => {
                return syn::Error::new(ident.span(), "`#[observe]` can only be used on functions")
                    .to_compile_error();
            }
        }
    }
    e.to_compile_error()
}

fn generate(
    args: &Args,
    func: &MaybeItemFn,
    default_krate: TokenStream,
) -> syn::Result<TokenStream> {
    let sig = &func.sig;
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span,
            "`#[observe]` cannot be used on a `const fn`: an observation is recorded at run \
             time; remove `const` or the attribute",
        ));
    }
    if let Some(attr) = func
        .outer_attrs
        .iter()
        .find(|a| a.path().is_ident("track_caller"))
    {
        return Err(syn::Error::new_spanned(
            attr,
            "`#[track_caller]` does not pass through `#[observe]`: the body runs inside \
             the observation, where `Location::caller()` would name this function; remove \
             one of the two attributes",
        ));
    }

    let krate = match &args.krate {
        Some(path) => path.to_token_stream(),
        None => default_krate,
    };
    let private = quote!(#krate::__private);
    let observe = quote!(#private::observe);
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&sig.ident.unraw().to_string(), sig.ident.span()));
    let params = collect_params(sig, args)?;
    let shape = shape(args, func)?;
    if let Some((key, _)) = &args.transform {
        if !matches!(shape, Shape::Stream { .. } | Shape::Iter { .. }) {
            return Err(syn::Error::new(
                key.span(),
                "`transform_to_string` needs a function that returns a stream or an iterator \
                 (`impl Stream<Item = T>`, `impl Iterator<Item = T>`, or the `stream` / \
                 `iterator` argument): its items are what it joins",
            ));
        }
    }

    let g = Gen {
        args,
        private,
        observe,
        name,
        params,
        n: Names::new(),
    };
    let body = match shape {
        Shape::Value => g.sync_value(func),
        Shape::Async => g.async_fn(func),
        Shape::BoxedAsyncBlock { index } => g.boxed_async_block(func, index),
        Shape::Future => g.sync_wrapped(func, Wrapper::Future),
        Shape::Stream { boxed } => g.sync_wrapped(func, Wrapper::Stream { boxed }),
        Shape::Iter { boxed } => g.sync_wrapped(func, Wrapper::Iter { boxed }),
    };

    let MaybeItemFn {
        outer_attrs,
        inner_attrs,
        vis,
        sig,
        ..
    } = func;
    Ok(quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #body
        }
    })
}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

fn collect_params(sig: &Signature, args: &Args) -> syn::Result<Vec<Param>> {
    let mut all = Vec::new();
    for arg in &sig.inputs {
        if let FnArg::Typed(pat_type) = arg {
            let cfg: Vec<Attribute> = pat_type
                .attrs
                .iter()
                .filter(|a| a.path().is_ident("cfg"))
                .cloned()
                .collect();
            let mut idents = Vec::new();
            bound_idents(&pat_type.pat, &mut idents);
            for ident in idents {
                all.push(Param {
                    key: param_key(&ident),
                    ident,
                    cfg: cfg.clone(),
                });
            }
        }
    }

    let Some(skips) = &args.skip else {
        return Ok(all);
    };
    let mut error: Option<syn::Error> = None;
    for skip in skips {
        let wanted = skip.unraw().to_string();
        if wanted == "self" || all.iter().any(|p| p.key == wanted) {
            continue;
        }
        let e = syn::Error::new(
            skip.span(),
            format!("cannot skip `{wanted}`: the function has no parameter with that name"),
        );
        match &mut error {
            Some(all) => all.combine(e),
            None => error = Some(e),
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    all.retain(|p| !skips.iter().any(|s| s.unraw() == p.key));
    Ok(all)
}

/// The input key of a binding: its name without `r#`; `async-trait`'s `__argN` (a
/// pattern parameter it renamed) becomes `argN`.
fn param_key(ident: &Ident) -> String {
    let s = ident.unraw().to_string();
    match s.strip_prefix("__arg") {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => format!("arg{n}"),
        _ => s,
    }
}

/// The identifiers a parameter pattern binds (`(a, b): (u32, u32)` binds `a` and `b`).
fn bound_idents(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(p) => {
            out.push(p.ident.clone());
            if let Some((_, sub)) = &p.subpat {
                bound_idents(sub, out);
            }
        }
        Pat::Reference(p) => bound_idents(&p.pat, out),
        Pat::Paren(p) => bound_idents(&p.pat, out),
        Pat::Type(p) => bound_idents(&p.pat, out),
        Pat::Tuple(p) => p.elems.iter().for_each(|e| bound_idents(e, out)),
        Pat::TupleStruct(p) => p.elems.iter().for_each(|e| bound_idents(e, out)),
        Pat::Slice(p) => p.elems.iter().for_each(|e| bound_idents(e, out)),
        Pat::Struct(p) => p.fields.iter().for_each(|f| bound_idents(&f.pat, out)),
        // Every alternative binds the same names.
        Pat::Or(p) => {
            if let Some(first) = p.cases.first() {
                bound_idents(first, out);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------

fn shape(args: &Args, func: &MaybeItemFn) -> syn::Result<Shape> {
    let sig = &func.sig;
    let ret = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => None,
    };
    let flag = |f: &Option<Flag>| f.as_ref().filter(|f| f.value).map(|f| f.span);
    let explicit_stream = flag(&args.stream);
    let explicit_iter = flag(&args.iterator);
    let disabled = |f: &Option<Flag>| f.as_ref().is_some_and(|f| !f.value);

    if let Some(span) = explicit_stream.or(explicit_iter) {
        let what = if explicit_stream.is_some() {
            "stream"
        } else {
            "iterator"
        };
        if sig.asyncness.is_some() {
            return Err(syn::Error::new(
                span,
                format!(
                    "`{what}` cannot be used on an `async fn`: return the {what} from a plain \
                     `fn` (for example `fn f() -> impl {}`)",
                    if what == "stream" {
                        "Stream<Item = T>"
                    } else {
                        "Iterator<Item = T>"
                    }
                ),
            ));
        }
        let Some(ret) = ret else {
            return Err(syn::Error::new(
                span,
                format!(
                    "`{what}` needs a function that returns {}",
                    if what == "stream" {
                        "a stream"
                    } else {
                        "an iterator"
                    }
                ),
            ));
        };
        let boxed = !matches!(strip_group(ret), Type::ImplTrait(_));
        return Ok(if explicit_stream.is_some() {
            Shape::Stream { boxed }
        } else {
            Shape::Iter { boxed }
        });
    }

    if sig.asyncness.is_some() {
        return Ok(Shape::Async);
    }
    if let Some(ret) = ret {
        if !disabled(&args.stream) && impl_of(ret, &["Stream"], STREAM_EXTRA) {
            return Ok(Shape::Stream { boxed: false });
        }
        if !disabled(&args.iterator) && impl_of(ret, &["Iterator"], ITER_EXTRA) {
            return Ok(Shape::Iter { boxed: false });
        }
    }
    if let Some(ret) = ret {
        if impl_of(ret, &["Future"], FUTURE_EXTRA) {
            return Ok(Shape::Future);
        }
    }
    if let Some(index) = func.stmts.as_deref().and_then(boxed_async_tail) {
        return Ok(Shape::BoxedAsyncBlock { index });
    }
    Ok(Shape::Value)
}

/// Other traits the wrappers implement (so they may appear next to the main one).
const STREAM_EXTRA: &[&str] = &["Send", "Sync", "Unpin"];
const ITER_EXTRA: &[&str] = &[
    "Send",
    "Sync",
    "Unpin",
    "DoubleEndedIterator",
    "ExactSizeIterator",
    "FusedIterator",
];
const FUTURE_EXTRA: &[&str] = &["Send", "Sync", "Unpin"];

fn strip_group(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => strip_group(&g.elem),
        Type::Paren(p) => strip_group(&p.elem),
        other => other,
    }
}

/// `impl Main<..> + Extra + 'a`, where every bound is one the wrapper also implements.
fn impl_of(ty: &Type, main: &[&str], extra: &[&str]) -> bool {
    let Type::ImplTrait(imp) = strip_group(ty) else {
        return false;
    };
    let mut found = false;
    for bound in &imp.bounds {
        match bound {
            TypeParamBound::Trait(t) => {
                if !matches!(t.modifier, syn::TraitBoundModifier::None) {
                    continue;
                }
                let Some(last) = t.path.segments.last() else {
                    return false;
                };
                let ident = last.ident.to_string();
                if main.contains(&ident.as_str()) {
                    found = true;
                } else if !extra.contains(&ident.as_str()) {
                    return false;
                }
            }
            TypeParamBound::Lifetime(_) => {}
            // `use<..>` precise capturing and anything newer: harmless.
            _ => {}
        }
    }
    found
}

/// The `Output = X` of `impl Future<Output = X>` or `Pin<Box<dyn Future<Output = X>>>`.
fn future_output(ty: &Type) -> Option<Type> {
    let bounds = match strip_group(ty) {
        Type::ImplTrait(t) => &t.bounds,
        Type::TraitObject(t) => &t.bounds,
        Type::Path(p) => {
            // Pin<Box<..>> / Box<..>: look at the last generic type argument.
            let last = p.path.segments.last()?;
            let PathArguments::AngleBracketed(a) = &last.arguments else {
                return None;
            };
            return a.args.iter().rev().find_map(|arg| match arg {
                GenericArgument::Type(t) => future_output(t),
                _ => None,
            });
        }
        _ => return None,
    };
    bounds.iter().find_map(|b| {
        let TypeParamBound::Trait(t) = b else {
            return None;
        };
        let last = t.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(a) = &last.arguments else {
            return None;
        };
        a.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(at) if at.ident == "Output" => Some(at.ty.clone()),
            _ => None,
        })
    })
}

/// The index of the last statement when it is `Box::pin(async { .. })`.
fn boxed_async_tail(stmts: &[Stmt]) -> Option<usize> {
    let index = stmts.len().checked_sub(1)?;
    let Stmt::Expr(expr, None) = &stmts[index] else {
        return None;
    };
    box_pin_async(expr).map(|_| index)
}

/// The `Box::pin` call and its `async` block, for `Box::pin(async { .. })`.
fn box_pin_async(expr: &Expr) -> Option<(&ExprCall, &ExprAsync)> {
    let Expr::Call(call) = expr else {
        return None;
    };
    let Expr::Path(path) = &*call.func else {
        return None;
    };
    let mut rev = path.path.segments.iter().rev();
    let is_box_pin = rev.next().is_some_and(|s| s.ident == "pin")
        && rev.next().is_some_and(|s| s.ident == "Box");
    match (is_box_pin, call.args.len(), call.args.first()) {
        (true, 1, Some(Expr::Async(block))) => Some((call, block)),
        _ => None,
    }
}

/// Replaces every `impl Trait` with `_`, so the type can annotate a `let`.
struct EraseImplTrait;

impl VisitMut for EraseImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(imp) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: Token![_](imp.span()),
            });
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
}

fn erase_impl_trait(ty: &Type) -> Type {
    let mut ty = ty.clone();
    EraseImplTrait.visit_type_mut(&mut ty);
    ty
}

/// What is known about the type a body produces.
#[derive(Clone, Copy)]
enum Ret<'a> {
    /// No return type, `()` or `!` (kept for the fake return): nothing to capture.
    Nothing(Option<&'a Type>),
    /// The declared type.
    Ty(&'a Type),
    /// Not written anywhere the macro can see (a future's output behind an alias).
    Unknown,
}

impl<'a> Ret<'a> {
    fn of(output: &'a ReturnType) -> Self {
        match output {
            ReturnType::Default => Ret::Nothing(None),
            ReturnType::Type(_, ty) => Ret::from_type(ty),
        }
    }

    fn from_type(ty: &'a Type) -> Self {
        match strip_group(ty) {
            Type::Tuple(t) if t.elems.is_empty() => Ret::Nothing(Some(ty)),
            // `!` cannot annotate a `let`: the body diverges anyway.
            Type::Never(_) => Ret::Nothing(None),
            _ => Ret::Ty(ty),
        }
    }

    fn captures(self) -> bool {
        !matches!(self, Ret::Nothing(_))
    }
}

/// An unreachable `return` of the declared type, first thing in the body: it fixes the
/// type of the closure / async block, so `?` and `.into()` infer as in the original.
/// A call that returns the type (never made: `if false`), not a diverging expression,
/// so no lint fires and nothing needs an `#[allow]` (which a crate's `#![forbid]` of
/// that lint would turn into an error).
fn fake_return(private: &TokenStream, ty: Option<&Type>, fallback: Span) -> TokenStream {
    let (ty, span) = match ty {
        Some(ty) => (erase_impl_trait(ty).into_token_stream(), ty.span()),
        None => (quote!(()), fallback),
    };
    // Located at the return type (resolved as before): a type error in the body then
    // says "return type inferred to be `T` here" about the signature, not the attribute.
    let private = located_at(private.clone(), span);
    quote_spanned! {span=>
        if false {
            return #private::unreachable_value::<#ty>();
        }
    }
}

/// `tokens` shown at `span` in messages, still resolved where they were written.
fn located_at(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut inner =
                    proc_macro2::Group::new(g.delimiter(), located_at(g.stream(), span));
                inner.set_span(g.span().located_at(span));
                tt = proc_macro2::TokenTree::Group(inner);
            } else {
                tt.set_span(tt.span().located_at(span));
            }
            tt
        })
        .collect()
}

enum Wrapper {
    Future,
    Stream { boxed: bool },
    Iter { boxed: bool },
}

// ---------------------------------------------------------------------------
// Code generation
// ---------------------------------------------------------------------------

impl Gen<'_> {
    /// `let lf_span = span!(..); let lf_recording = ..; <input capture>`
    fn prologue(&self) -> TokenStream {
        let Gen {
            private, name, n, ..
        } = self;
        let Names { span, rec, .. } = n;
        let ty = LitStr::new(
            self.args.type_name(),
            self.args
                .as_type
                .as_ref()
                .map_or(Span::call_site(), |t| t.lit.span()),
        );
        let input = self.input_capture();
        quote! {
            let #span = #private::tracing::span!(
                target: ::core::module_path!(),
                #private::tracing::Level::INFO,
                #name,
                langfuse.observation.type = #ty
            );
            let #rec = #private::is_recording(&#span);
            #input
        }
    }

    /// The capture switch for input or output: the explicit argument, else the env var.
    fn switch(&self, explicit: &Option<syn::LitBool>) -> TokenStream {
        match explicit {
            Some(b) => b.to_token_stream(),
            None => {
                let private = &self.private;
                quote!(#private::io_capture_enabled())
            }
        }
    }

    fn imports(&self) -> TokenStream {
        let observe = &self.observe;
        quote! {
            #[allow(unused_imports)]
            use #observe::{
                ErrViaDebug as _, ErrViaDisplay as _, ErrViaTypeName as _, ItemViaDebug as _,
                ItemViaSerialize as _, ItemViaText as _, ItemViaTypeName as _, ViaDebug as _,
                ViaResult as _, ViaSerialize as _, ViaTypeName as _, ViaValue as _,
            };
        }
    }

    fn input_capture(&self) -> TokenStream {
        if self.params.is_empty() || matches!(&self.args.capture_input, Some(b) if !b.value) {
            return TokenStream::new();
        }
        let Gen { observe, n, .. } = self;
        let Names {
            span, rec, input, ..
        } = n;
        let switch = self.switch(&self.args.capture_input);
        let imports = self.imports();
        let fields = self.params.iter().map(|p| {
            let Param { ident, key, cfg } = p;
            // A plain ASCII name is quoted here, at compile time; others (non-ASCII
            // identifiers need `\uXXXX` escapes) are encoded at run time.
            let slot = if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                let encoded = format!("\"{key}\": ");
                quote!(#input.encoded_key(#encoded))
            } else {
                quote!(#input.key(#key))
            };
            quote! {
                #(#cfg)*
                {
                    (&&&#observe::Wrap(&#ident)).__langfuse_json(#slot);
                }
            }
        });
        quote! {
            if #rec && #switch {
                #observe::capture_input(&#span, |#input| {
                    #imports
                    #(#fields)*
                });
            }
        }
    }

    /// Code that records `value` (a reference to the return value) on `span`: the `Ok`
    /// value (or the whole value) as output when `capture`, an `Err` as the error.
    fn output_capture(
        &self,
        span: &TokenStream,
        value: &TokenStream,
        capture: &TokenStream,
    ) -> TokenStream {
        let Gen {
            private, observe, ..
        } = self;
        let imports = self.imports();
        let ok = Ident::new("lf_ok", Span::mixed_site());
        let err = Ident::new("lf_err", Span::mixed_site());
        // Inside `capture_output`: a panicking `Serialize`, `Debug` or `Display` impl is
        // recorded on the observation before it continues.
        quote! {
            #observe::capture_output(#span, || {
                #imports
                #[allow(unreachable_patterns)]
                match (&&#observe::Out(#value)).__langfuse_split() {
                    ::core::result::Result::Ok(#ok) => {
                        if #capture {
                            #observe::set_output(#span, (&&&#observe::Wrap(#ok)).__langfuse_io());
                        }
                    }
                    ::core::result::Result::Err(#err) => {
                        #private::set_error(#span, (&&&#observe::ErrWrap(#err)).__langfuse_message());
                    }
                }
            })
        }
    }

    /// `|span, output, capture| { .. }`, coerced to the `fn` pointer `ObservedFuture` takes.
    fn finisher(&self, ret: Ret<'_>) -> TokenStream {
        if !ret.captures() {
            return quote!(|_, _, _| {});
        }
        let s = Ident::new("lf_s", Span::mixed_site());
        let o = Ident::new("lf_o", Span::mixed_site());
        let c = Ident::new("lf_c", Span::mixed_site());
        let body = self.output_capture(
            &s.to_token_stream(),
            &o.to_token_stream(),
            &c.to_token_stream(),
        );
        quote!(|#s, #o, #c| #body)
    }

    /// `{ <fake return> { body } }`; no fake return when the type is unknown.
    fn body_block(&self, func: &MaybeItemFn, body: &TokenStream, ret: Ret<'_>) -> TokenStream {
        let private = &self.private.to_token_stream();
        let fake = match ret {
            Ret::Unknown => TokenStream::new(),
            Ret::Ty(ty) | Ret::Nothing(Some(ty)) => {
                fake_return(private, Some(ty), func.sig.ident.span())
            }
            Ret::Nothing(None) => fake_return(private, None, func.sig.ident.span()),
        };
        quote!({ #fake { #body } })
    }

    /// A synchronous function returning a value.
    fn sync_value(&self, func: &MaybeItemFn) -> TokenStream {
        let Gen { observe, n, .. } = self;
        let Names {
            span,
            rec,
            cap,
            ret,
            enter,
            ..
        } = n;
        let prologue = self.prologue();
        let kind = Ret::of(&func.sig.output);
        let block = self.body_block(func, &func.body, kind);
        let run = quote! {
            let #enter = #span.enter();
            #observe::run(#rec, &#span, move || #block)
        };
        if !kind.captures() {
            // `-> !`: the closure's `()` is never produced; say so to the type checker.
            let never = matches!(&func.sig.output, ReturnType::Type(_, t) if matches!(strip_group(t), Type::Never(_)));
            let tail = never.then(|| quote!(; ::core::unreachable!()));
            return quote! {
                #prologue
                #[allow(clippy::let_unit_value, clippy::unit_arg)]
                { #run #tail }
            };
        }
        let switch = self.switch(&self.args.capture_output);
        let output = self.output_capture(&quote!(&#span), &quote!(&#ret), &cap.to_token_stream());
        quote! {
            #prologue
            let #ret = { #run };
            if #rec {
                let #cap: ::core::primitive::bool = #switch;
                #output
            }
            #ret
        }
    }

    /// `async fn`: the body becomes an `async move` block polled through
    /// `ObservedFuture` (span entered on every poll, panics recorded, output captured
    /// when it completes). The span is created at the first poll, like the body.
    fn async_fn(&self, func: &MaybeItemFn) -> TokenStream {
        let Gen { observe, n, .. } = self;
        let Names { span, rec, cap, .. } = n;
        let ret = Ret::of(&func.sig.output);
        let prologue = self.prologue();
        let block = self.body_block(func, &func.body, ret);
        let finisher = self.finisher(ret);
        let switch = if ret.captures() {
            self.switch(&self.args.capture_output)
        } else {
            quote!(false)
        };
        let body = Ident::new("lf_body", Span::mixed_site());
        // A disabled span (no subscriber, filtered out) skips the wrapper: the body
        // future is awaited as is (the shape `#[tracing::instrument]` uses).
        quote! {
            #prologue
            let #body = async move #block;
            if !#span.is_disabled() {
                let #cap: ::core::primitive::bool = #rec && #switch;
                #observe::ObservedFuture::with_output(#body, #span, #rec, #cap, #finisher).await
            } else {
                #body.await
            }
        }
    }

    /// `Box::pin(async { .. })` as the last statement (`async-trait`): the span and the
    /// input are taken when the function is called (before the block moves the
    /// parameters), and the inner block is observed inside the same box.
    fn boxed_async_block(&self, func: &MaybeItemFn, index: usize) -> TokenStream {
        let Gen { observe, n, .. } = self;
        let Names { span, rec, cap, .. } = n;
        let stmts = func
            .stmts
            .as_ref()
            .expect("the shape was chosen from parsed statements");
        let Stmt::Expr(expr, None) = &stmts[index] else {
            unreachable!("boxed_async_tail checked the statement")
        };
        let (call, async_expr) =
            box_pin_async(expr).expect("boxed_async_tail checked the expression");
        let output = match &func.sig.output {
            ReturnType::Type(_, t) => future_output(t),
            ReturnType::Default => None,
        };
        let ret = output.as_ref().map_or(Ret::Unknown, Ret::from_type);
        let mut inner = TokenStream::new();
        inner.append_all(&async_expr.block.stmts);
        let block = self.body_block(func, &inner, ret);
        let finisher = self.finisher(ret);
        let switch = if ret.captures() {
            self.switch(&self.args.capture_output)
        } else {
            quote!(false)
        };
        let prologue = self.prologue();
        let attrs = &async_expr.attrs;
        let capture = &async_expr.capture;
        let box_pin = &call.func;
        let before = &stmts[..index];
        quote! {
            #prologue
            let #cap: ::core::primitive::bool = #rec && #switch;
            #(#before)*
            #box_pin(#observe::ObservedFuture::with_output(
                #(#attrs)* async #capture #block,
                #span,
                #rec,
                #cap,
                #finisher,
            ))
        }
    }

    /// A synchronous body whose return value is wrapped (future, stream, iterator).
    fn sync_wrapped(&self, func: &MaybeItemFn, wrapper: Wrapper) -> TokenStream {
        let Gen { observe, n, .. } = self;
        let Names {
            span,
            rec,
            cap,
            ret,
            enter,
            ..
        } = n;
        let prologue = self.prologue();
        // A boxed stream/iterator is re-boxed around the wrapper, so the body's own
        // value has an unknown (unboxed-later) type: no fake return for it.
        let boxed = matches!(
            wrapper,
            Wrapper::Stream { boxed: true } | Wrapper::Iter { boxed: true }
        );
        let block = if boxed {
            let b = &func.body;
            quote!({ #b })
        } else {
            self.body_block(func, &func.body, Ret::of(&func.sig.output))
        };
        let switch = self.switch(&self.args.capture_output);
        let generation_like = matches!(self.args.type_name(), "generation" | "embedding");
        let wrapped = match wrapper {
            Wrapper::Future => {
                let output = match &func.sig.output {
                    ReturnType::Type(_, t) => future_output(t),
                    ReturnType::Default => None,
                };
                let finisher = self.finisher(output.as_ref().map_or(Ret::Unknown, Ret::from_type));
                quote!(#observe::ObservedFuture::with_output(#ret, #span, #rec, #cap, #finisher))
            }
            Wrapper::Stream { boxed } | Wrapper::Iter { boxed } => {
                let is_stream = matches!(wrapper, Wrapper::Stream { .. });
                // The wrapper is chosen by a probe of the value's type, so that a
                // return type that is not a stream (an iterator) is one error that
                // names the argument, at the argument, rather than errors about the
                // wrapper types (see `__private::observe::StreamProbe`).
                let (probe_fn, flag) = if is_stream {
                    ("__langfuse_stream", &self.args.stream)
                } else {
                    ("__langfuse_iterator", &self.args.iterator)
                };
                let at = flag
                    .as_ref()
                    .filter(|f| f.value)
                    .map_or_else(Span::call_site, |f| f.span);
                let c = Ident::new("lf_collector", Span::mixed_site());
                let item = Ident::new("lf_item", Span::mixed_site());
                let ok = Ident::new("lf_ok", Span::mixed_site());
                let err = Ident::new("lf_err", Span::mixed_site());
                let imports = self.imports();
                let collect = quote! {
                    |#c, #item| {
                        #imports
                        #[allow(unreachable_patterns)]
                        match (&&#observe::Out(#item)).__langfuse_split() {
                            ::core::result::Result::Ok(#ok) => {
                                (&&&&#observe::Item(#ok)).__langfuse_collect(#c);
                            }
                            ::core::result::Result::Err(#err) => {
                                #c.push_error((&&&#observe::ErrWrap(#err)).__langfuse_message());
                            }
                        }
                    }
                };
                let wrap = match (boxed, &self.args.transform) {
                    (false, None) => quote!(wrap),
                    (true, None) => quote!(wrap_boxed),
                    (false, Some(_)) => quote!(wrap_transformed),
                    (true, Some(_)) => quote!(wrap_boxed_transformed),
                };
                // The user's function, coerced to `fn(&[Item]) -> String` at its path.
                let transform = self
                    .args
                    .transform
                    .as_ref()
                    .map(|(_, path)| quote!(, #path));
                // Every token of the probe sits at the argument, so the error does
                // (`lf_probed` is only visible in the block below, which holds no
                // user code).
                let probed = Ident::new("lf_probed", at);
                let observe_at = respan(observe.to_token_stream(), at);
                let probe_fn = Ident::new(probe_fn, at);
                let probe = quote_spanned! {at=>
                    (&&#observe_at::StreamProbe(#probed)).#probe_fn()
                };
                let wrapper = quote! {
                    {
                        #[allow(unused_imports)]
                        use #observe::{ProbeFallback as _, ProbeIter as _, ProbeStream as _};
                        let #probed = &#ret;
                        #probe
                    }
                };
                let observing = quote! {
                    #observe::Observing {
                        span: #span,
                        recording: #rec,
                        capture_output: #cap,
                        generation_like: #generation_like,
                    }
                };
                quote!(#wrapper.#wrap(#ret, #observing, #collect #transform))
            }
        };
        quote! {
            #prologue
            let #ret = {
                let #enter = #span.enter();
                #observe::run(#rec, &#span, move || #block)
            };
            let #cap: ::core::primitive::bool = #rec && #switch;
            #wrapped
        }
    }
}

/// `tokens` with every span moved to `at` (keeping each token's hygiene).
fn respan(tokens: TokenStream, at: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), at));
                group.set_span(at);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(tt.span().located_at(at));
            }
            tt
        })
        .collect()
}
