//! Parsing of the `#[observe(...)]` arguments.
//!
//! Every argument is `key`, `key = value` or `key(...)`, in any order, each at most
//! once. Errors point at the offending token and say what was expected.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitStr, Path, Token};

/// The observation types a function can be (`event` has no duration, so it is not one).
pub(crate) const FUNCTION_TYPES: [&str; 9] = [
    "span",
    "generation",
    "embedding",
    "agent",
    "tool",
    "chain",
    "retriever",
    "evaluator",
    "guardrail",
];

const ARGUMENTS: &str = "`name`, `as_type`, `capture_input`, `capture_output`, `skip`, `stream`, \
     `iterator`, `transform_to_string`, `crate`";

/// A validated `as_type`.
pub(crate) struct AsType {
    pub(crate) name: &'static str,
    pub(crate) lit: LitStr,
}

/// A boolean flag written `flag` or `flag = true|false`.
#[derive(Clone)]
pub(crate) struct Flag {
    pub(crate) value: bool,
    pub(crate) span: Span,
}

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) as_type: Option<AsType>,
    pub(crate) capture_input: Option<LitBool>,
    pub(crate) capture_output: Option<LitBool>,
    pub(crate) skip: Option<Vec<Ident>>,
    pub(crate) stream: Option<Flag>,
    pub(crate) iterator: Option<Flag>,
    /// `transform_to_string = path::to::f`, with the key (for errors).
    pub(crate) transform: Option<(Ident, Path)>,
    pub(crate) krate: Option<Path>,
}

impl Args {
    /// The wire name of the observation type.
    pub(crate) fn type_name(&self) -> &'static str {
        self.as_type.as_ref().map_or("span", |t| t.name)
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut errors: Option<syn::Error> = None;
        let mut push = |e: syn::Error| match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        };

        while !input.is_empty() {
            // `crate` is a keyword: accept any identifier-like token as a key.
            let key = input.call(Ident::parse_any)?;
            let key_str = key.to_string();
            let duplicate = |present: bool| -> syn::Result<()> {
                if present {
                    Err(syn::Error::new(
                        key.span(),
                        format!("duplicate `{key_str}` argument; give it only once"),
                    ))
                } else {
                    Ok(())
                }
            };
            match key_str.as_str() {
                "name" => {
                    let lit = value_of(input, &key, parse_str_value)?;
                    match (duplicate(args.name.is_some()), lit) {
                        (Err(e), _) | (_, Err(e)) => push(e),
                        (Ok(()), Ok(lit)) if lit.value().is_empty() => push(syn::Error::new(
                            lit.span(),
                            "the observation name must not be empty",
                        )),
                        (Ok(()), Ok(lit)) => args.name = Some(lit),
                    }
                }
                "as_type" => {
                    let lit = value_of(input, &key, parse_str_value)?;
                    match (
                        duplicate(args.as_type.is_some()),
                        lit.and_then(validate_type),
                    ) {
                        (Err(e), _) | (_, Err(e)) => push(e),
                        (Ok(()), Ok(t)) => args.as_type = Some(t),
                    }
                }
                "capture_input" | "capture_output" => {
                    let lit = value_of(input, &key, parse_bool_value)?;
                    let slot = if key_str == "capture_input" {
                        &mut args.capture_input
                    } else {
                        &mut args.capture_output
                    };
                    match (duplicate(slot.is_some()), lit) {
                        (Err(e), _) | (_, Err(e)) => push(e),
                        (Ok(()), Ok(lit)) => *slot = Some(lit),
                    }
                }
                "stream" | "iterator" => {
                    let flag = if input.peek(Token![=]) {
                        value_of(input, &key, parse_bool_value)?.map(|b| Flag {
                            value: b.value,
                            span: key.span(),
                        })
                    } else {
                        Ok(Flag {
                            value: true,
                            span: key.span(),
                        })
                    };
                    let slot = if key_str == "stream" {
                        &mut args.stream
                    } else {
                        &mut args.iterator
                    };
                    match (duplicate(slot.is_some()), flag) {
                        (Err(e), _) | (_, Err(e)) => push(e),
                        (Ok(()), Ok(flag)) => *slot = Some(flag),
                    }
                }
                "skip" => {
                    if !input.peek(syn::token::Paren) {
                        return Err(syn::Error::new(
                            key.span(),
                            "expected a parameter list: `skip(param, ...)`",
                        ));
                    }
                    let content;
                    syn::parenthesized!(content in input);
                    let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                        &content,
                        Ident::parse_any,
                    )?;
                    let mut list: Vec<Ident> = Vec::new();
                    for name in names {
                        if list.iter().any(|n| n.unraw() == name.unraw()) {
                            push(syn::Error::new(
                                name.span(),
                                format!("`{}` is skipped twice", name.unraw()),
                            ));
                        } else {
                            list.push(name);
                        }
                    }
                    match duplicate(args.skip.is_some()) {
                        Err(e) => push(e),
                        Ok(()) => args.skip = Some(list),
                    }
                }
                "transform_to_string" => {
                    let path = value_of(input, &key, parse_fn_path_value)?;
                    match (duplicate(args.transform.is_some()), path) {
                        (Err(e), _) | (_, Err(e)) => push(e),
                        (Ok(()), Ok(path)) => args.transform = Some((key.clone(), path)),
                    }
                }
                "crate" => {
                    let path = value_of(input, &key, parse_path_value)?;
                    match (duplicate(args.krate.is_some()), path) {
                        (Err(e), _) | (_, Err(e)) => push(e),
                        (Ok(()), Ok(path)) => args.krate = Some(path),
                    }
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown argument `{key_str}`; expected one of {ARGUMENTS}"),
                    ));
                }
            }

            if input.is_empty() {
                break;
            }
            if !input.peek(Token![,]) {
                return Err(input.error("expected `,` between arguments"));
            }
            input.parse::<Token![,]>()?;
        }

        if let (Some(stream), Some(iterator)) = (&args.stream, &args.iterator) {
            if stream.value && iterator.value {
                push(syn::Error::new(
                    iterator.span,
                    "`stream` and `iterator` cannot both be set: the return value is one or the other",
                ));
            }
        }

        match errors {
            Some(e) => Err(e),
            None => Ok(args),
        }
    }
}

/// Parses `= <value>` after `key`; the outer `Result` is a syntax error (stop parsing),
/// the inner one a value of the wrong kind (keep going, report together).
fn value_of<T>(
    input: ParseStream<'_>,
    key: &Ident,
    parse: fn(&Ident, Expr) -> syn::Result<T>,
) -> syn::Result<syn::Result<T>> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            key.span(),
            format!("expected `{key} = ...`"),
        ));
    }
    input.parse::<Token![=]>()?;
    let expr: Expr = input.parse()?;
    Ok(parse(key, expr))
}

fn parse_str_value(key: &Ident, expr: Expr) -> syn::Result<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit),
        other => Err(syn::Error::new(
            other.span(),
            format!("expected a string literal: `{key} = \"...\"`"),
        )),
    }
}

fn parse_bool_value(key: &Ident, expr: Expr) -> syn::Result<LitBool> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(lit),
            ..
        }) => Ok(lit),
        other => Err(syn::Error::new(
            other.span(),
            format!("expected `true` or `false`: `{key} = false`"),
        )),
    }
}

fn parse_path_value(_key: &Ident, expr: Expr) -> syn::Result<Path> {
    match expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Ok(p.path),
        // `crate = "path"`, as serde spells it.
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => lit.parse_with(Path::parse_mod_style),
        other => Err(syn::Error::new(
            other.span(),
            "expected a path to the Langfuse crate: `crate = ::langfuse_tracing_core`",
        )),
    }
}

fn parse_fn_path_value(key: &Ident, expr: Expr) -> syn::Result<Path> {
    match expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Ok(p.path),
        other => Err(syn::Error::new(
            other.span(),
            format!("expected a path to a function `fn(&[Item]) -> String`: `{key} = join_tokens`"),
        )),
    }
}

fn validate_type(lit: LitStr) -> syn::Result<AsType> {
    let value = lit.value();
    if let Some(name) = FUNCTION_TYPES.iter().copied().find(|t| *t == value) {
        return Ok(AsType { name, lit });
    }
    let expected = FUNCTION_TYPES
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = if value == "event" {
        format!(
            "`event` cannot be the type of an observed function: an event is a point in time \
             without duration; use one of {expected}"
        )
    } else if FUNCTION_TYPES.contains(&value.to_ascii_lowercase().as_str()) {
        format!(
            "unknown observation type `{value}`; types are lowercase: `{}`",
            value.to_ascii_lowercase()
        )
    } else {
        format!("unknown observation type `{value}`; expected one of {expected}")
    };
    Err(syn::Error::new(lit.span(), message))
}
