//! The module layering of `integrations-core`: the top-level modules import each other in
//! one direction only, along the layer table of the crate docs (`src/lib.rs`,
//! "Architecture"). The table is parsed from the docs, so the docs and the check cannot
//! drift apart.
//!
//! Every `crate::`, `super::` and `self::` path is resolved to the top-level module it
//! names: `use` trees (grouped, renamed, globbed) and paths in types, expressions, patterns
//! and bounds, with root re-exports (`crate::Error`, `crate::Registry`) followed to their
//! module. `#[cfg(test)]` items and modules are skipped. Paths inside macro invocations
//! are not seen (they are token streams); the compiler still resolves them, so an import
//! hidden there is the one thing this check misses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use syn::visit::{self, Visit};

/// One import of a module by another, and what caused it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Evidence {
    /// The file, relative to `src/`.
    file: String,
    /// The path as written (`crate::service::credential_aad`).
    path: String,
}

/// The import graph between top-level modules.
#[derive(Debug, Default)]
struct Graph {
    /// The top-level modules declared in `lib.rs`.
    modules: BTreeSet<String>,
    /// `from -> to -> what caused it`.
    edges: BTreeMap<String, BTreeMap<String, BTreeSet<Evidence>>>,
}

/// The crate's source files, by path relative to `src/`.
type Sources = BTreeMap<PathBuf, String>;

fn read_sources(dir: &Path) -> Sources {
    fn walk(root: &Path, dir: &Path, out: &mut Sources) {
        for entry in std::fs::read_dir(dir).expect("readable source directory") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("readable source file");
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), text);
            }
        }
    }
    let mut out = Sources::new();
    walk(dir, dir, &mut out);
    out
}

/// Whether `attrs` make an item test-only (`#[cfg(test)]`, `#[cfg(all(test, ...))]`).
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        if !attr.path().is_ident("cfg") {
            return false;
        }
        let Ok(meta) = attr.parse_args::<syn::Meta>() else {
            return false;
        };
        match meta {
            syn::Meta::Path(path) => path.is_ident("test"),
            syn::Meta::List(list) if list.path.is_ident("all") => list
                .parse_args_with(
                    syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated,
                )
                .is_ok_and(|parts| parts.iter().any(|m| m.path().is_ident("test"))),
            _ => false,
        }
    })
}

/// Every path a `use` tree imports, as segments (`self` in a group names its parent).
fn flatten_use(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) if n.ident == "self" => out.push(prefix.clone()),
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            path.push(n.ident.to_string());
            out.push(path);
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push(path);
        }
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(g) => {
            for item in &g.items {
                flatten_use(item, prefix, out);
            }
        }
    }
}

/// What `lib.rs` declares: its modules and which module each root re-export comes from.
struct Root {
    modules: BTreeSet<String>,
    reexports: BTreeMap<String, String>,
}

fn read_root(lib: &syn::File) -> Root {
    let mut modules = BTreeSet::new();
    let mut reexports = BTreeMap::new();
    for item in &lib.items {
        match item {
            syn::Item::Mod(m) if !is_test_only(&m.attrs) => {
                modules.insert(m.ident.to_string());
            }
            syn::Item::Use(u) if !is_test_only(&u.attrs) => {
                let mut paths = Vec::new();
                flatten_use(&u.tree, &mut Vec::new(), &mut paths);
                for path in paths {
                    let path: Vec<&str> = path
                        .iter()
                        .map(String::as_str)
                        .skip_while(|s| *s == "crate" || *s == "self")
                        .collect();
                    if let (Some(module), Some(name)) = (path.first(), path.last()) {
                        reexports.insert((*name).to_owned(), (*module).to_owned());
                    }
                }
                // Renamed re-exports are keyed by their new name.
                collect_renames(&u.tree, &mut Vec::new(), &mut reexports);
            }
            _ => {}
        }
    }
    Root { modules, reexports }
}

fn collect_renames(
    tree: &syn::UseTree,
    prefix: &mut Vec<String>,
    out: &mut BTreeMap<String, String>,
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            collect_renames(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Rename(r) => {
            if let Some(module) = prefix.iter().find(|s| *s != "crate" && *s != "self") {
                out.insert(r.rename.to_string(), module.clone());
            }
        }
        syn::UseTree::Group(g) => {
            for item in &g.items {
                collect_renames(item, prefix, out);
            }
        }
        syn::UseTree::Name(_) | syn::UseTree::Glob(_) => {}
    }
}

/// Walks one file, recording the modules its paths name.
struct FileVisitor<'a> {
    root: &'a Root,
    file: String,
    /// The module the visitor is in (`["webhook", "schemes"]`).
    module: Vec<String>,
    /// Out-of-line `mod x;` declarations met, as module paths.
    children: Vec<Vec<String>>,
    graph: &'a mut Graph,
}

impl FileVisitor<'_> {
    /// Resolves `segments` from the current module; records an edge when it names
    /// another top-level module.
    fn record(&mut self, segments: &[String]) {
        // `crate::`, then any number of `self::` and `super::`, from the current module.
        let mut absolute: Vec<&str> = self.module.iter().map(String::as_str).collect();
        let mut rest = segments.iter().map(String::as_str).peekable();
        match rest.peek() {
            Some(&"crate") => {
                absolute.clear();
                rest.next();
            }
            Some(&("self" | "super")) => {}
            _ => return,
        }
        while let Some(&segment) = rest.peek() {
            match segment {
                "self" => {}
                "super" => {
                    if absolute.pop().is_none() {
                        return;
                    }
                }
                _ => break,
            }
            rest.next();
        }
        absolute.extend(rest);
        let Some(top) = absolute.first() else {
            return;
        };
        let target = if self.root.modules.contains(*top) {
            (*top).to_owned()
        } else if let Some(module) = self.root.reexports.get(*top) {
            module.clone()
        } else {
            return;
        };
        let Some(from) = self.module.first() else {
            return;
        };
        if *from == target {
            return;
        }
        self.graph
            .edges
            .entry(from.clone())
            .or_default()
            .entry(target)
            .or_default()
            .insert(Evidence {
                file: self.file.clone(),
                path: segments.join("::"),
            });
    }
}

macro_rules! skip_test_items {
    ($lt:lifetime; $($method:ident($ty:ty) => $walk:path;)*) => {
        $(
            fn $method(&mut self, item: &$lt $ty) {
                if !is_test_only(&item.attrs) {
                    $walk(self, item);
                }
            }
        )*
    };
}

impl<'ast> Visit<'ast> for FileVisitor<'_> {
    skip_test_items! {
        'ast;
        visit_item_fn(syn::ItemFn) => visit::visit_item_fn;
        visit_item_impl(syn::ItemImpl) => visit::visit_item_impl;
        visit_item_const(syn::ItemConst) => visit::visit_item_const;
        visit_item_static(syn::ItemStatic) => visit::visit_item_static;
        visit_item_struct(syn::ItemStruct) => visit::visit_item_struct;
        visit_item_enum(syn::ItemEnum) => visit::visit_item_enum;
        visit_item_trait(syn::ItemTrait) => visit::visit_item_trait;
        visit_item_type(syn::ItemType) => visit::visit_item_type;
        visit_item_macro(syn::ItemMacro) => visit::visit_item_macro;
        visit_impl_item_fn(syn::ImplItemFn) => visit::visit_impl_item_fn;
        visit_impl_item_const(syn::ImplItemConst) => visit::visit_impl_item_const;
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if is_test_only(&item.attrs) {
            return;
        }
        let mut paths = Vec::new();
        flatten_use(&item.tree, &mut Vec::new(), &mut paths);
        for path in paths {
            self.record(&path);
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if is_test_only(&item.attrs) {
            return;
        }
        self.module.push(item.ident.to_string());
        match &item.content {
            Some((_, items)) => {
                for item in items {
                    self.visit_item(item);
                }
            }
            None => self.children.push(self.module.clone()),
        }
        self.module.pop();
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.record(&segments);
        visit::visit_path(self, path);
    }

    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {
        // Attributes (docs, derives, cfgs) import nothing.
    }
}

/// Where the file of module `module` is, given the file that declared it.
fn module_file(sources: &Sources, parent_file: &Path, module: &[String]) -> Option<PathBuf> {
    let name = module.last()?;
    let parent_dir = match parent_file.file_name()?.to_str()? {
        "lib.rs" | "mod.rs" => parent_file.parent()?.to_path_buf(),
        file => parent_file.parent()?.join(file.trim_end_matches(".rs")),
    };
    // Inline modules between the file and the declaration add directories.
    let candidates = [
        parent_dir.join(format!("{name}.rs")),
        parent_dir.join(name).join("mod.rs"),
    ];
    candidates.into_iter().find(|c| sources.contains_key(c))
}

/// Builds the graph of the crate whose files are `sources`, starting at `lib.rs` and
/// following `mod` declarations (so test-only modules and unlinked files are not read).
///
/// # Panics
///
/// When a file does not parse or a declared module has no file.
fn graph_of(sources: &Sources) -> Graph {
    let lib_path = PathBuf::from("lib.rs");
    let lib = syn::parse_file(&sources[&lib_path]).expect("lib.rs parses");
    let root = read_root(&lib);
    let mut graph = Graph {
        modules: root.modules.clone(),
        ..Graph::default()
    };
    // (file, its module path, the module path of the file's top)
    let mut queue: Vec<(PathBuf, Vec<String>)> = vec![(lib_path, Vec::new())];
    while let Some((file, module)) = queue.pop() {
        let text = &sources[&file];
        let parsed =
            syn::parse_file(text).unwrap_or_else(|e| panic!("{} parses: {e}", file.display()));
        let mut visitor = FileVisitor {
            root: &root,
            file: file.display().to_string(),
            module: module.clone(),
            children: Vec::new(),
            graph: &mut graph,
        };
        visitor.visit_file(&parsed);
        for child in std::mem::take(&mut visitor.children) {
            // A `mod x;` inside inline modules of this file lives under their directory.
            let nested = &child[module.len()..child.len() - 1];
            let mut declaring = file.clone();
            for inline in nested {
                declaring = match declaring.file_name().and_then(|f| f.to_str()) {
                    Some("lib.rs" | "mod.rs") => {
                        declaring.parent().unwrap().join(inline).join("mod.rs")
                    }
                    Some(f) => declaring
                        .parent()
                        .unwrap()
                        .join(f.trim_end_matches(".rs"))
                        .join(inline)
                        .join("mod.rs"),
                    None => unreachable!(),
                };
            }
            let path = module_file(sources, &declaring, &child)
                .unwrap_or_else(|| panic!("module {} has a file", child.join("::")));
            queue.push((path, child));
        }
    }
    graph
}

/// The cycles of the graph: one per strongly connected component of more than one
/// module, each listed as a closed walk.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        components: Vec<Vec<&'g str>>,
    }
    impl<'g> Tarjan<'g> {
        fn connect(&mut self, v: &'g str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            let graph = self.graph;
            for w in graph.edges.get(v).into_iter().flat_map(BTreeMap::keys) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.connect(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                self.components.push(component);
            }
        }
    }
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    let nodes: BTreeSet<&str> = graph
        .edges
        .iter()
        .flat_map(|(from, to)| std::iter::once(from.as_str()).chain(to.keys().map(String::as_str)))
        .collect();
    for node in nodes {
        if !tarjan.index.contains_key(node) {
            tarjan.connect(node);
        }
    }
    let mut out = Vec::new();
    for component in tarjan.components.into_iter().filter(|c| c.len() > 1) {
        let members: BTreeSet<&str> = component.iter().copied().collect();
        let start = *members.first().unwrap();
        // A shortest way back to `start` inside the component (breadth first).
        let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
        let mut frontier = vec![start];
        'search: while !frontier.is_empty() {
            let mut next = Vec::new();
            for v in frontier {
                for w in graph.edges[v].keys().map(String::as_str) {
                    if !members.contains(w) || previous.contains_key(w) {
                        continue;
                    }
                    previous.insert(w, v);
                    if w == start {
                        break 'search;
                    }
                    next.push(w);
                }
            }
            frontier = next;
        }
        let mut walk = vec![start.to_owned()];
        let mut at = previous[start];
        while at != start {
            walk.push(at.to_owned());
            at = previous[at];
        }
        walk.push(start.to_owned());
        walk.reverse();
        out.push(walk);
    }
    out
}

/// The layer table of the crate docs: module -> layer number.
fn layers_of(lib: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let mut in_section = false;
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if doc.starts_with('#') {
            in_section = doc == "# Architecture";
            continue;
        }
        if !in_section || !doc.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = doc.trim_matches('|').split('|').map(str::trim).collect();
        let Some(Ok(layer)) = cells.first().map(|c| c.parse::<u32>()) else {
            continue;
        };
        for module in cells.get(2).unwrap_or(&"").split('`').skip(1).step_by(2) {
            assert!(
                out.insert(module.to_owned(), layer).is_none(),
                "`{module}` is in the layer table twice"
            );
        }
    }
    out
}

/// Everything wrong with `graph` against `layers`, one problem per paragraph; empty when
/// the layering holds.
fn problems(graph: &Graph, layers: &BTreeMap<String, u32>) -> Vec<String> {
    let mut out = Vec::new();
    let evidence = |from: &str, to: &str| -> String {
        let mut text = String::new();
        for e in &graph.edges[from][to] {
            let _ = writeln!(text, "      {}: {}", e.file, e.path);
        }
        text
    };
    for cycle in cycles(graph) {
        let mut text = format!("import cycle: {}\n", cycle.join(" -> "));
        for pair in cycle.windows(2) {
            let _ = write!(
                text,
                "    {} -> {}:\n{}",
                pair[0],
                pair[1],
                evidence(&pair[0], &pair[1])
            );
        }
        out.push(text);
    }
    for module in &graph.modules {
        if !layers.contains_key(module) {
            out.push(format!(
                "module `{module}` is not in the layer table of the crate docs (src/lib.rs, # Architecture)"
            ));
        }
    }
    for module in layers.keys() {
        if !graph.modules.contains(module) {
            out.push(format!(
                "the layer table names `{module}`, which is not a module of lib.rs"
            ));
        }
    }
    for (from, targets) in &graph.edges {
        for to in targets.keys() {
            let (Some(a), Some(b)) = (layers.get(from), layers.get(to)) else {
                continue;
            };
            if b > a {
                out.push(format!(
                    "`{from}` (layer {a}) imports `{to}` (layer {b}), against the layering:\n{}",
                    evidence(from, to)
                ));
            }
        }
    }
    out
}

fn check(sources: &Sources) -> Vec<String> {
    let graph = graph_of(sources);
    let layers = layers_of(&sources[Path::new("lib.rs")]);
    problems(&graph, &layers)
}

#[test]
fn core_modules_import_along_the_documented_layers_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = read_sources(&src);
    let graph = graph_of(&sources);
    // The check sees the crate: the known downward imports are there.
    for (from, to) in [
        ("model", "sealing"),
        ("provider", "definition"),
        ("auth", "webhook"),
    ] {
        assert!(
            graph.edges.get(from).is_some_and(|t| t.contains_key(to)),
            "expected {from} -> {to} in {:?}",
            graph.edges
        );
    }
    let layers = layers_of(&sources[Path::new("lib.rs")]);
    assert!(
        layers.len() >= 20,
        "the layer table was not found: {layers:?}"
    );
    let problems = problems(&graph, &layers);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn synthetic(files: &[(&str, &str)]) -> Sources {
    files
        .iter()
        .map(|(path, text)| (PathBuf::from(path), (*text).to_owned()))
        .collect()
}

const TABLE: &str = "//! # Architecture\n//!\n//! | layer | name | modules |\n//! |---|---|---|\n//! | 1 | base | `error`, `b` |\n//! | 2 | top | `a` |\n";

#[test]
fn a_synthetic_cycle_fails_with_its_files_and_items() {
    let sources = synthetic(&[
        (
            "lib.rs",
            &format!("{TABLE}mod a;\nmod b;\nmod error;\npub use error::Error;\n"),
        ),
        ("a.rs", "use crate::b::Thing;\npub struct Other;\n"),
        // `b` reaches back to `a` through `super::` inside an inline module.
        (
            "b.rs",
            "pub struct Thing;\nmod inner {\n    fn f() -> super::super::a::Other { super::super::a::Other }\n}\n",
        ),
        ("error.rs", "pub struct Error;\n"),
    ]);
    let problems = check(&sources);
    let cycle = problems
        .iter()
        .find(|p| p.starts_with("import cycle"))
        .unwrap_or_else(|| panic!("no cycle reported: {problems:?}"));
    assert!(cycle.contains("a -> b -> a"), "{cycle}");
    assert!(cycle.contains("a.rs: crate::b::Thing"), "{cycle}");
    assert!(cycle.contains("b.rs: super::super::a::Other"), "{cycle}");
    // The same edge also goes against the table (b is below a).
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("`b` (layer 1) imports `a` (layer 2)"))
    );
}

#[test]
fn grouped_uses_root_reexports_and_test_code_resolve_as_written() {
    let sources = synthetic(&[
        (
            "lib.rs",
            &format!(
                "{TABLE}mod a;\nmod b;\nmod error;\npub use error::{{Error as Failure, Error}};\n"
            ),
        ),
        ("a.rs", "use crate::{Failure, b::{self, Thing}};\n"),
        (
            "b/mod.rs",
            "mod deep;\npub struct Thing;\n#[cfg(test)]\nmod tests {\n    use crate::a::*;\n}\n#[cfg(all(test, unix))]\nfn t() { let _ = crate::a::X; }\n",
        ),
        ("b/deep.rs", "use self::super::super::error::Error;\n"),
        ("error.rs", "pub struct Error;\n"),
    ]);
    let graph = graph_of(&sources);
    let a: BTreeSet<&str> = graph.edges["a"].keys().map(String::as_str).collect();
    assert_eq!(a, BTreeSet::from(["b", "error"]));
    assert!(
        graph.edges["a"]["error"]
            .iter()
            .any(|e| e.path == "crate::Failure")
    );
    // Test-only code in b imports a; it does not count.
    assert!(!graph.edges.get("b").is_some_and(|t| t.contains_key("a")));
    assert!(check(&sources).is_empty(), "{:?}", check(&sources));
}

#[test]
fn a_module_missing_from_the_table_or_an_upward_import_fails() {
    let sources = synthetic(&[
        (
            "lib.rs",
            &format!("{TABLE}mod a;\nmod b;\nmod c;\nmod error;\n"),
        ),
        ("a.rs", ""),
        ("b.rs", "fn f() { crate::a::go(); }\n"),
        ("c.rs", ""),
        ("error.rs", ""),
    ]);
    let problems = check(&sources);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("module `c` is not in the layer table")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`b` (layer 1) imports `a` (layer 2)")
                && p.contains("b.rs: crate::a::go")),
        "{problems:?}"
    );
    assert!(!problems.iter().any(|p| p.starts_with("import cycle")));
}
