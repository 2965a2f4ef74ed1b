//! Procedural macros behind `plughost-sdk`: `#[rpc]`, `#[subscribe]` and `plugin!`.
//!
//! Use them through `plughost_sdk`; the expansions name `::plughost_sdk` paths.
//! `#[rpc]`/`#[subscribe]` keep the fn and add a hidden const `__plughost_entry_<fn>` that
//! describes it; `plugin!(a, b)` collects those consts into a hidden `__PLUGHOST_ENTRIES`
//! (what `plughost_sdk::test_host!()` runs natively) and generates the component exports.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Error, FnArg, ItemFn, LitStr, Path, Token};

/// Marks `fn(&Conn, P) -> Result<R, E>` (or `fn(&Conn) -> Result<R, E>`) as the handler of
/// the RPC method named by the argument; without an argument the fn's name is the method name.
#[proc_macro_attribute]
pub fn rpc(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr, item, Kind::Rpc)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

/// Marks `fn(&Conn, &str) -> Result<SubscribeGrant, E>` (optionally with a third
/// `Option<&[u8]>` arg, the subscribe data) as the subscribe handler of a channel namespace.
///
/// The namespace of a channel follows Centrifugo's rule (`channel.namespace_boundary = "#"`):
/// the part before the first `#`; a name without `#` is in the default namespace `""`
/// (Centrifugo's `channel.without_namespace`). So `#[subscribe("user")]` authorises `user#42`,
/// and `#[subscribe("")]` authorises channels without `#`, such as `news`.
#[proc_macro_attribute]
pub fn subscribe(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr, item, Kind::Subscribe)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

/// Lists every `#[rpc]` and `#[subscribe]` fn of the plugin and exports them as the component.
#[proc_macro]
pub fn plugin(input: TokenStream) -> TokenStream {
    expand_plugin(input.into())
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rpc,
    Subscribe,
}

fn entry_ident(f: &syn::Ident) -> syn::Ident {
    // The user's span makes `plugin!(name)` resolve the entry where `name` resolves.
    format_ident!("__plughost_entry_{}", f, span = f.span())
}

fn expand(attr: TokenStream, item: TokenStream, kind: Kind) -> syn::Result<TokenStream2> {
    let func: ItemFn = syn::parse(item)?;
    let sig = &func.sig;
    let what = if kind == Kind::Rpc {
        "#[rpc]"
    } else {
        "#[subscribe]"
    };
    if let Some(a) = &sig.asyncness {
        return Err(Error::new(
            a.span(),
            format!("{what} handlers must not be async"),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(Error::new(
            sig.generics.span(),
            format!("{what} handlers must not be generic"),
        ));
    }
    if let Some(FnArg::Receiver(r)) = sig.inputs.first() {
        return Err(Error::new(
            r.span(),
            format!("{what} handlers must be free fns, not methods"),
        ));
    }

    let name = if attr.is_empty() {
        if kind == Kind::Subscribe {
            return Err(Error::new(
                Span::call_site(),
                "#[subscribe] needs the namespace: #[subscribe(\"user\")], or #[subscribe(\"\")] for channels without '#'",
            ));
        }
        sig.ident.to_string()
    } else {
        let lit: LitStr = syn::parse(attr)?;
        let value = lit.value();
        // `""` is a namespace (the default one, of channels without `#`), not a method name.
        if value.is_empty() && kind == Kind::Rpc {
            return Err(Error::new(lit.span(), "the name must not be empty"));
        }
        if kind == Kind::Subscribe && value.contains('#') {
            return Err(Error::new(
                lit.span(),
                "a namespace is the part of a channel before '#': it cannot contain '#'",
            ));
        }
        value
    };

    let f = &sig.ident;
    let vis = &func.vis;
    let entry = entry_ident(f);
    let argc = sig.inputs.len();
    let body = match kind {
        Kind::Rpc => {
            let doc = doc_of(&func.attrs);
            let (call, params_schema, result_schema) = match argc {
                1 => (
                    quote! {
                        ::plughost_sdk::__private::decode_params::<::plughost_sdk::NoParams>(__params)?;
                        let __result = #f(__conn)?;
                    },
                    quote! { ::plughost_sdk::__private::schema_of::<::plughost_sdk::NoParams>() },
                    quote! { ::plughost_sdk::__private::result_schema_of_unit(#f) },
                ),
                2 => (
                    quote! {
                        let __params = ::plughost_sdk::__private::decode_params(__params)?;
                        let __result = #f(__conn, __params)?;
                    },
                    quote! { ::plughost_sdk::__private::params_schema_of(#f) },
                    quote! { ::plughost_sdk::__private::result_schema_of(#f) },
                ),
                _ => {
                    return Err(Error::new(
                        sig.inputs.span(),
                        "#[rpc] handlers take (conn: &Conn) or (conn: &Conn, params: P)",
                    ))
                }
            };
            quote! {
                fn __plughost_call(
                    __conn: &::plughost_sdk::Conn,
                    __params: &[u8],
                ) -> ::core::result::Result<::std::vec::Vec<u8>, ::plughost_sdk::RpcError> {
                    #call
                    ::plughost_sdk::__private::encode_result(&__result)
                }
                fn __plughost_params_schema() -> ::std::string::String { #params_schema }
                fn __plughost_result_schema() -> ::std::string::String { #result_schema }
                ::plughost_sdk::__private::Entry::Method(::plughost_sdk::__private::Method {
                    name: #name,
                    doc: #doc,
                    params_schema: __plughost_params_schema,
                    result_schema: __plughost_result_schema,
                    call: __plughost_call,
                })
            }
        }
        Kind::Subscribe => {
            let invoke = match argc {
                2 => quote! { #f(__conn, __channel) },
                3 => quote! { #f(__conn, __channel, __data) },
                _ => {
                    return Err(Error::new(
                        sig.inputs.span(),
                        "#[subscribe] handlers take (conn: &Conn, channel: &str) or (conn: &Conn, channel: &str, data: Option<&[u8]>)",
                    ))
                }
            };
            quote! {
                fn __plughost_handler(
                    __conn: &::plughost_sdk::Conn,
                    __channel: &str,
                    __data: ::core::option::Option<&[u8]>,
                ) -> ::core::result::Result<::plughost_sdk::SubscribeGrant, ::plughost_sdk::RpcError> {
                    let _ = __data;
                    #invoke.map_err(::core::convert::Into::into)
                }
                ::plughost_sdk::__private::Entry::Subscribe(::plughost_sdk::__private::Subscribe {
                    namespace: #name,
                    handler: __plughost_handler,
                })
            }
        }
    };
    Ok(quote! {
        #func

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #vis const #entry: ::plughost_sdk::__private::Entry = { #body };
    })
}

/// The fn's doc comment: `///` lines joined, one leading space each dropped, trimmed.
fn doc_of(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta {
            if let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
            {
                let line = s.value();
                lines.push(line.strip_prefix(' ').map(str::to_owned).unwrap_or(line));
            }
        }
    }
    lines.join("\n").trim().to_owned()
}

fn expand_plugin(input: TokenStream2) -> syn::Result<TokenStream2> {
    let paths = Punctuated::<Path, Token![,]>::parse_terminated.parse2(input)?;
    let entries = paths.iter().map(|p| {
        let mut p = p.clone();
        let last = p.segments.last_mut().expect("a path has a segment");
        last.ident = entry_ident(&last.ident);
        quote_spanned! { p.span()=> #p }
    });
    Ok(quote! {
        // Named (not inside the `const _` below) so that `plughost_sdk::test_host!()` finds
        // the handlers in native tests; a const adds nothing to the component.
        #[doc(hidden)]
        #[allow(dead_code)]
        pub const __PLUGHOST_ENTRIES: &[::plughost_sdk::__private::Entry] = &[#(#entries),*];

        const _: () = {
            const ENTRIES: &[::plughost_sdk::__private::Entry] = __PLUGHOST_ENTRIES;
            const _: () = ::plughost_sdk::__private::check_unique(ENTRIES);

            struct __PlughostPlugin;

            impl ::plughost_sdk::__private::Guest for __PlughostPlugin {
                fn describe() -> ::plughost_sdk::__private::PluginInfo {
                    ::plughost_sdk::__private::describe(ENTRIES)
                }

                fn call(
                    ctx: ::plughost_sdk::__private::WitConn,
                    method: ::std::string::String,
                    params: ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<::std::vec::Vec<u8>, ::plughost_sdk::__private::WitRpcError> {
                    ::plughost_sdk::__private::call(ENTRIES, ctx, &method, &params)
                }

                fn subscribe(
                    ctx: ::plughost_sdk::__private::WitConn,
                    channel: ::std::string::String,
                    data: ::core::option::Option<::std::vec::Vec<u8>>,
                ) -> ::core::result::Result<
                    ::plughost_sdk::__private::WitSubscribeGrant,
                    ::plughost_sdk::__private::WitRpcError,
                > {
                    ::plughost_sdk::__private::subscribe(ENTRIES, ctx, &channel, data.as_deref())
                }
            }

            ::plughost_sdk::bindings::__plughost_export!(__PlughostPlugin with_types_in ::plughost_sdk::bindings);
        };
    })
}
