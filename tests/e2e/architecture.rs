//! The layering of the host crate, checked from its source: which file of `host/src` refers
//! to which other file, and that those references only point one way.
//!
//! The host is layered so it can be read, tested and changed a layer at a time: the plugin
//! contract at the bottom, the capabilities (host functions) above it, the runtime, and the
//! front ends (`proxy/`), dispatch, registry and server on top, with `lib.rs`/`main.rs` as the
//! facade. A reference from a lower layer to a higher one, or a loop between files, undoes
//! that, and the compiler accepts both silently; these tests refuse them:
//!
//! - `host_modules_import_one_way`: no loops between files (strongly connected components of
//!   more than one file), except a loop entirely inside `host/src/runtime/`, which is allowed.
//! - `capabilities_import_no_dispatch_registry_proxy_or_runtime`: host functions do not reach
//!   up into dispatch, the registry, the front ends, the runtime, the server or the commands.
//! - `front_ends_import_no_runtime`: `proxy/` goes through dispatch, never the runtime itself.
//! - `contract_imports_nothing_above_it`: `contract.rs` is the bottom and refers to no file.
//!
//! The graph is built by parsing every file with `syn` and following each `crate::`, `super::`
//! and `self::` path, both in `use` trees (grouped ones too) and in code (expressions, types,
//! patterns), including the bodies of macro calls and paths in attribute strings
//! (`#[serde(with = "crate::x")]`). A module path resolves to the longest prefix of it that is a
//! file, `a/b.rs` or `a/b/mod.rs`; `self` and `super` are relative to the referring file's module
//! (`x/mod.rs` is `x`, `x/y.rs` is `x::y`) and to any inline `mod` around the path.
//! `#[cfg(test)]` items and `tests.rs` files are left out (tests may reach anywhere), so are
//! `lib.rs` and `main.rs` as referrers (they are the facade), and a file referring to itself.
//!
//! A path that starts at a child module without `self::` (`publish::add_to_linker` after
//! `mod publish;` in `capabilities/mod.rs`) is followed too ([`FOLLOW_CHILD_MODULE_PATHS`]): a
//! parent `mod.rs` that calls into its children while they use its items is a loop as well,
//! so what children share lives in a module of its own (`capabilities/context.rs`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::visit::{self, Visit};

/// Whether a path starting at a child module the file declares (`mod publish;` .. `publish::X`)
/// counts as a reference, like `self::publish::X` does: see the module documentation.
const FOLLOW_CHILD_MODULE_PATHS: bool = true;

/// A file of the host crate: its path relative to `host/src`, with `/` separators.
type File = String;

/// Where a reference was written: the path as written, and the lines it is on.
type Evidence = BTreeMap<String, BTreeSet<usize>>;

/// Which file refers to which, with the paths that make each reference.
struct Graph {
    /// Every `.rs` file under `host/src`.
    files: BTreeSet<File>,
    /// referrer -> referred-to -> paths written in the referrer.
    edges: BTreeMap<File, BTreeMap<File, Evidence>>,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").join("host/src")
}

/// How a file is shown in failure messages.
fn shown(file: &str) -> String {
    format!("host/src/{file}")
}

/// The `.rs` files under `dir`, relative to `root`.
fn rust_files(root: &Path, dir: &Path, out: &mut BTreeSet<File>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(root).expect("under host/src");
            let parts: Vec<String> = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
            out.insert(parts.join("/"));
        }
    }
}

/// The module a file is: `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` and `main.rs` the root.
fn module_of(file: &str) -> Vec<String> {
    if file == "lib.rs" || file == "main.rs" {
        return Vec::new();
    }
    let mut parts: Vec<String> = file.trim_end_matches(".rs").split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The file an absolute module path lands in: its longest prefix that is a file.
fn resolve(files: &BTreeSet<File>, module: &[String]) -> File {
    for len in (1..=module.len()).rev() {
        let joined = module[..len].join("/");
        for candidate in [format!("{joined}.rs"), format!("{joined}/mod.rs")] {
            if files.contains(&candidate) {
                return candidate;
            }
        }
    }
    "lib.rs".to_string()
}

/// Whether a `#[cfg(...)]` predicate can only hold in test builds: `test` or `all(.., test, ..)`.
fn cfg_requires_test(meta: &syn::Meta) -> bool {
    match meta {
        syn::Meta::Path(path) => path.is_ident("test"),
        syn::Meta::List(list) if list.path.is_ident("all") => list
            .parse_args_with(syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)
            .is_ok_and(|items| items.iter().any(cfg_requires_test)),
        _ => false,
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg") && attr.parse_args::<syn::Meta>().is_ok_and(|meta| cfg_requires_test(&meta))
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::ExternCrate(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::ForeignMod(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// The names of the modules declared (`mod x;` or `mod x { .. }`) among `items`, tests left out.
fn declared_modules(items: &[syn::Item]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) if !is_test_only(&m.attrs) => Some(m.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// The module a piece of code is in: the file's module plus any inline `mod x { .. }` around it.
struct Scope {
    module: Vec<String>,
    children: BTreeSet<String>,
}

/// Collects the absolute module paths one file refers to.
struct Collector {
    scopes: Vec<Scope>,
    /// (absolute module path, path as written, line)
    found: Vec<(Vec<String>, String, usize)>,
}

impl Collector {
    /// Records `segments` (as written, generics left out) if it starts at `crate`, `self` or
    /// `super` (or a child module of the current scope, if [`FOLLOW_CHILD_MODULE_PATHS`]).
    fn record(&mut self, segments: &[String], line: usize) {
        let Some(first) = segments.first() else { return };
        let scope = self.scopes.last().expect("a scope");
        let mut absolute = match first.as_str() {
            "crate" | "$crate" => segments[1..].to_vec(),
            "self" | "super" => {
                let mut base = scope.module.clone();
                let mut rest = segments;
                while let Some(segment) = rest.first() {
                    match segment.as_str() {
                        "self" => {}
                        "super" => {
                            if base.pop().is_none() {
                                return; // not a valid path; the compiler will say so
                            }
                        }
                        _ => break,
                    }
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                base
            }
            name if FOLLOW_CHILD_MODULE_PATHS && segments.len() > 1 && scope.children.contains(name) => {
                let mut base = scope.module.clone();
                base.extend(segments.iter().cloned());
                base
            }
            _ => return,
        };
        absolute.retain(|s| s != "self");
        self.found.push((absolute, segments.join("::"), line));
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.use_leaf(prefix, &n.ident),
            syn::UseTree::Rename(r) => self.use_leaf(prefix, &r.ident),
            syn::UseTree::Glob(g) => {
                // `a::b::*` resolves like `a::b`: no file is named `*`
                prefix.push("*".to_string());
                self.record(prefix, g.star_token.spans[0].start().line);
                prefix.pop();
            }
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }

    fn use_leaf(&mut self, prefix: &mut Vec<String>, ident: &syn::Ident) {
        let line = ident.span().start().line;
        if ident == "self" {
            // `use a::b::{self}` refers to `a::b`
            self.record(prefix, line);
        } else {
            prefix.push(ident.to_string());
            self.record(prefix, line);
            prefix.pop();
        }
    }

    /// Paths in the tokens of a macro call or an attribute, which `syn` leaves unparsed:
    /// `ident :: ident :: ..` runs, and in attributes also string literals that are paths.
    fn scan(&mut self, tokens: TokenStream, in_attribute: bool) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let is_colon = |i: usize, spacing: Option<Spacing>| {
            matches!(tokens.get(i), Some(TokenTree::Punct(p))
                if p.as_char() == ':' && spacing.is_none_or(|s| p.spacing() == s))
        };
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(group) => {
                    self.scan(group.stream(), in_attribute);
                    i += 1;
                }
                TokenTree::Literal(literal) if in_attribute => {
                    if let syn::Lit::Str(string) = syn::Lit::new(literal.clone()) {
                        if let Ok(path) = string.parse::<syn::Path>() {
                            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
                            if path.leading_colon.is_none() && segments.len() > 1 {
                                self.record(&segments, literal.span().start().line);
                            }
                        }
                    }
                    i += 1;
                }
                TokenTree::Ident(ident)
                    if !(i >= 2 && is_colon(i - 2, Some(Spacing::Joint)) && is_colon(i - 1, None)) =>
                {
                    let mut segments = vec![ident.to_string()];
                    let mut next = i + 1;
                    while is_colon(next, Some(Spacing::Joint)) && is_colon(next + 1, None) {
                        let Some(TokenTree::Ident(segment)) = tokens.get(next + 2) else { break };
                        segments.push(segment.to_string());
                        next += 3;
                    }
                    if segments.len() > 1 {
                        self.record(&segments, ident.span().start().line);
                    }
                    i = next;
                }
                _ => i += 1,
            }
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_test_only(item_attrs(item)) {
            visit::visit_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        for attr in &item.attrs {
            self.visit_attribute(attr);
        }
        if let Some((_, items)) = &item.content {
            let mut module = self.scopes.last().expect("a scope").module.clone();
            module.push(item.ident.to_string());
            self.scopes.push(Scope { module, children: declared_modules(items) });
            for inner in items {
                self.visit_item(inner);
            }
            self.scopes.pop();
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        for attr in &item.attrs {
            self.visit_attribute(attr);
        }
        let mut prefix = Vec::new();
        self.use_tree(&mut prefix, &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            let line = path.segments.first().map_or(0, |s| s.ident.span().start().line);
            self.record(&segments, line);
        }
        visit::visit_path(self, path);
    }

    /// `pub(crate)`, `pub(super)`, `pub(in crate::x)` say who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        self.scan(mac.tokens.clone(), false);
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if attr.path().is_ident("doc") {
            return;
        }
        match &attr.meta {
            syn::Meta::Path(path) => self.visit_path(path),
            syn::Meta::List(list) => {
                self.visit_path(&list.path);
                self.scan(list.tokens.clone(), true);
            }
            syn::Meta::NameValue(nv) => {
                self.visit_path(&nv.path);
                self.visit_expr(&nv.value);
            }
        }
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs: &[syn::Attribute] = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        if !is_test_only(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast syn::TraitItem) {
        let attrs: &[syn::Attribute] = match item {
            syn::TraitItem::Const(i) => &i.attrs,
            syn::TraitItem::Fn(i) => &i.attrs,
            syn::TraitItem::Type(i) => &i.attrs,
            syn::TraitItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        if !is_test_only(attrs) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_field(&mut self, field: &'ast syn::Field) {
        if !is_test_only(&field.attrs) {
            visit::visit_field(self, field);
        }
    }

    fn visit_variant(&mut self, variant: &'ast syn::Variant) {
        if !is_test_only(&variant.attrs) {
            visit::visit_variant(self, variant);
        }
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        if !is_test_only(&arm.attrs) {
            visit::visit_arm(self, arm);
        }
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        if !is_test_only(&local.attrs) {
            visit::visit_local(self, local);
        }
    }

    fn visit_stmt_macro(&mut self, stmt: &'ast syn::StmtMacro) {
        if !is_test_only(&stmt.attrs) {
            visit::visit_stmt_macro(self, stmt);
        }
    }
}

/// Parses `host/src` and builds the file graph.
fn graph() -> Graph {
    let src = src_dir();
    let mut files = BTreeSet::new();
    rust_files(&src, &src, &mut files);
    assert!(files.contains("lib.rs"), "no host/src/lib.rs under {}", src.display());

    let mut edges: BTreeMap<File, BTreeMap<File, Evidence>> = BTreeMap::new();
    for file in &files {
        let name = file.rsplit('/').next().expect("a file name");
        if file == "lib.rs" || file == "main.rs" || name == "tests.rs" {
            continue;
        }
        let text = std::fs::read_to_string(src.join(file)).unwrap_or_else(|e| panic!("reading {}: {e}", shown(file)));
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| {
            let at = e.span().start();
            panic!("{} does not parse ({}:{}): {e}", shown(file), at.line, at.column + 1)
        });
        if is_test_only(&parsed.attrs) {
            continue;
        }
        let mut collector = Collector {
            scopes: vec![Scope { module: module_of(file), children: declared_modules(&parsed.items) }],
            found: Vec::new(),
        };
        collector.visit_file(&parsed);
        let from = edges.entry(file.clone()).or_default();
        for (module, written, line) in collector.found {
            let to = resolve(&files, &module);
            if &to != file {
                from.entry(to).or_default().entry(written).or_default().insert(line);
            }
        }
    }
    Graph { files, edges }
}

impl Graph {
    fn targets(&self, file: &str) -> impl Iterator<Item = &File> {
        self.edges.get(file).into_iter().flat_map(|to| to.keys())
    }

    /// `from -> to: crate::x::Y (lines 3, 9), ..`
    fn describe_edge(&self, from: &str, to: &str) -> String {
        let evidence = &self.edges[from][to];
        let paths: Vec<String> = evidence
            .iter()
            .map(|(written, lines)| {
                let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
                let word = if lines.len() == 1 { "line" } else { "lines" };
                format!("`{written}` ({word} {})", lines.join(", "))
            })
            .collect();
        format!("{} -> {}: {}", shown(from), shown(to), paths.join(", "))
    }

    /// The strongly connected components (Tarjan), each sorted; in a stable order.
    fn strongly_connected(&self) -> Vec<Vec<File>> {
        struct Tarjan<'g> {
            graph: &'g Graph,
            next_index: usize,
            index: BTreeMap<&'g str, usize>,
            low: BTreeMap<&'g str, usize>,
            stack: Vec<&'g str>,
            on_stack: BTreeSet<&'g str>,
            components: Vec<Vec<File>>,
        }
        impl<'g> Tarjan<'g> {
            fn connect(&mut self, node: &'g str) {
                self.index.insert(node, self.next_index);
                self.low.insert(node, self.next_index);
                self.next_index += 1;
                self.stack.push(node);
                self.on_stack.insert(node);
                for next in self.graph.targets(node) {
                    let next = next.as_str();
                    if !self.index.contains_key(next) {
                        self.connect(next);
                        let low = self.low[node].min(self.low[next]);
                        self.low.insert(node, low);
                    } else if self.on_stack.contains(next) {
                        let low = self.low[node].min(self.index[next]);
                        self.low.insert(node, low);
                    }
                }
                if self.low[node] == self.index[node] {
                    let mut component = Vec::new();
                    loop {
                        let member = self.stack.pop().expect("node on the stack");
                        self.on_stack.remove(member);
                        component.push(member.to_string());
                        if member == node {
                            break;
                        }
                    }
                    component.sort();
                    self.components.push(component);
                }
            }
        }
        let mut tarjan = Tarjan {
            graph: self,
            next_index: 0,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            components: Vec::new(),
        };
        for file in &self.files {
            if !tarjan.index.contains_key(file.as_str()) {
                tarjan.connect(file);
            }
        }
        let mut components = tarjan.components;
        components.sort();
        components
    }

    /// A shortest loop from `start` back to it, through `members` only.
    fn shortest_loop(&self, start: &str, members: &BTreeSet<&str>) -> Vec<String> {
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            for next in self.targets(node) {
                let next = next.as_str();
                if !members.contains(next) {
                    continue;
                }
                if next == start {
                    let mut path = vec![start.to_string()];
                    let mut at = node;
                    while at != start {
                        path.push(at.to_string());
                        at = came_from[at];
                    }
                    path.push(start.to_string());
                    path.reverse();
                    return path;
                }
                if !came_from.contains_key(next) {
                    came_from.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        Vec::new()
    }

    /// Every edge from a file `from` accepts to a file `to` accepts, described.
    fn edges_where(&self, from: impl Fn(&str) -> bool, to: impl Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        for (source, targets) in &self.edges {
            if !from(source) {
                continue;
            }
            for target in targets.keys() {
                if to(target) {
                    out.push(self.describe_edge(source, target));
                }
            }
        }
        out
    }
}

/// Whether `file` is the top-level module `name`: `name.rs` or anything under `name/`.
fn is_module(file: &str, name: &str) -> bool {
    file == format!("{name}.rs") || file.starts_with(&format!("{name}/"))
}

#[test]
fn host_modules_import_one_way() {
    let graph = graph();
    let mut report = Vec::new();
    let loops: Vec<Vec<File>> = graph
        .strongly_connected()
        .into_iter()
        .filter(|component| component.len() > 1)
        .filter(|component| !component.iter().all(|file| file.starts_with("runtime/")))
        .collect();
    for (number, component) in loops.iter().enumerate() {
        let members: BTreeSet<&str> = component.iter().map(String::as_str).collect();
        let mut text = format!("loop {} ({} files):\n", number + 1, component.len());
        for file in component {
            text += &format!("    {}\n", shown(file));
        }
        let example = graph.shortest_loop(&component[0], &members);
        let example: Vec<String> = example.iter().map(|file| shown(file)).collect();
        text += &format!("  for example: {}\n  references inside the loop:\n", example.join(" -> "));
        for edge in graph.edges_where(|from| members.contains(from), |to| members.contains(to)) {
            text += &format!("    {edge}\n");
        }
        report.push(text);
    }
    assert!(
        loops.is_empty(),
        "host/src has {} import loop(s) between files; references must point one way (only a loop \
         entirely inside host/src/runtime/ is allowed):\n\n{}",
        loops.len(),
        report.join("\n")
    );
}

#[test]
fn capabilities_import_no_dispatch_registry_proxy_or_runtime() {
    const ABOVE: [&str; 9] =
        ["dispatch", "registry", "proxy", "runtime", "server", "operator", "system", "reload", "cli"];
    let graph = graph();
    let edges =
        graph.edges_where(|from| from.starts_with("capabilities/"), |to| ABOVE.iter().any(|name| is_module(to, name)));
    assert!(
        edges.is_empty(),
        "host/src/capabilities/ refers to layers above it ({}); host functions get what they need \
         passed in instead:\n    {}",
        ABOVE.map(|name| format!("{name}.rs or {name}/")).join(", "),
        edges.join("\n    ")
    );
}

#[test]
fn front_ends_import_no_runtime() {
    let graph = graph();
    let edges = graph.edges_where(|from| from.starts_with("proxy/"), |to| is_module(to, "runtime"));
    assert!(
        edges.is_empty(),
        "host/src/proxy/ (the front ends) refers to host/src/runtime/; front ends go through dispatch:\n    {}",
        edges.join("\n    ")
    );
}

#[test]
fn contract_imports_nothing_above_it() {
    let graph = graph();
    assert!(
        graph.files.contains("contract.rs"),
        "the contract module is missing: host/src/contract.rs does not exist (the plugin contract is \
         the bottom layer, which every other layer may use and which uses none)"
    );
    let edges = graph.edges_where(|from| from == "contract.rs", |_| true);
    assert!(
        edges.is_empty(),
        "host/src/contract.rs is the bottom layer but refers to other files of the crate:\n    {}",
        edges.join("\n    ")
    );
}
