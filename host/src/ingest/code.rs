//! Code items: one per top-level function, type, impl, class, method and module doc,
//! found with the tree-sitter grammar of the file's language. Each item keeps the comment
//! (doc comment, attributes, decorators) written directly above it, and its line range.

use tree_sitter::{Node, Parser};

/// A language with a grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lang {
    /// Rust.
    Rust,
    /// Python.
    Python,
    /// Go.
    Go,
    /// TypeScript.
    TypeScript,
    /// TypeScript with JSX.
    Tsx,
    /// JavaScript (and JSX).
    JavaScript,
}

impl Lang {
    /// The language of a file extension.
    pub fn from_extension(ext: &str) -> Option<Lang> {
        Some(match ext {
            "rs" => Lang::Rust,
            "py" | "pyi" => Lang::Python,
            "go" => Lang::Go,
            "ts" | "mts" | "cts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "js" | "jsx" | "mjs" | "cjs" => Lang::JavaScript,
            _ => return None,
        })
    }

    fn grammar(self) -> tree_sitter::Language {
        match self {
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
        }
    }

    /// How qualified names are joined: `Type::method` in Rust, `module.func` elsewhere.
    fn sep(self) -> &'static str {
        if self == Lang::Rust { "::" } else { "." }
    }
}

/// One code item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Qualified name, e.g. `Parser::parse`, `pkg.Type.Method`, `module.func`.
    pub name: String,
    /// The item's text with its doc comment.
    pub text: String,
    /// First line, 1-based, including the doc comment.
    pub start: u32,
    /// Last line, 1-based.
    pub end: u32,
}

/// Parsers, one per language, reused across files.
#[derive(Default)]
pub struct Parsers(Vec<(Lang, Parser)>);

impl Parsers {
    fn get(&mut self, lang: Lang) -> Option<&mut Parser> {
        if !self.0.iter().any(|(l, _)| *l == lang) {
            let mut p = Parser::new();
            p.set_language(&lang.grammar()).ok()?;
            self.0.push((lang, p));
        }
        self.0.iter_mut().find(|(l, _)| *l == lang).map(|(_, p)| p)
    }

    /// The items of one file; `module` is the file's module name (e.g. `pkg.sub.file`
    /// for Python, `search::tokenize` for Rust), used as the prefix where the language
    /// names items by module (Python) and as the name of the module doc.
    pub fn items(&mut self, lang: Lang, module: &str, text: &str) -> Vec<Item> {
        self.items_within(lang, module, text).0
    }

    /// [`Parsers::items`], and whether the file held more than is taken from one file:
    /// items nested deeper than [`MAX_NESTING`] or past the first [`MAX_ITEMS`] are left
    /// out (a file of 100,000 nested modules overflowed the stack; one of 110,000 empty
    /// functions filled the knowledge base).
    pub fn items_within(&mut self, lang: Lang, module: &str, text: &str) -> (Vec<Item>, bool) {
        let Some(tree) = self.get(lang).and_then(|p| p.parse(text, None)) else {
            return (Vec::new(), false);
        };
        let mut cx = Cx {
            lang,
            src: text.as_bytes(),
            items: Vec::new(),
            module,
            depth: 0,
            cut: false,
        };
        let prefix = match lang {
            Lang::Python => module.to_string(),
            Lang::Go => package(tree.root_node(), text.as_bytes()).unwrap_or_default(),
            _ => String::new(),
        };
        cx.scope(tree.root_node(), &prefix, true);
        (cx.items, cx.cut)
    }
}

fn package(root: Node, src: &[u8]) -> Option<String> {
    let mut c = root.walk();
    let clause = root
        .named_children(&mut c)
        .find(|n| n.kind() == "package_clause")?;
    let mut c2 = clause.walk();
    let name = clause.named_children(&mut c2).next()?;
    name.utf8_text(src).ok().map(str::to_string)
}

struct Cx<'a> {
    lang: Lang,
    src: &'a [u8],
    items: Vec<Item>,
    /// The file's module name, for its module doc.
    module: &'a str,
    /// Scopes entered and not left.
    depth: usize,
    /// Whether items were left out (see [`Parsers::items_within`]).
    cut: bool,
}

/// Scopes (modules, classes, impls) entered within one another, at most.
pub const MAX_NESTING: usize = 32;
/// Items taken from one file, at most.
pub const MAX_ITEMS: usize = 5000;
/// Bytes of a qualified name kept as it is built (the document keeps fewer).
const MAX_NAME_BYTES: usize = 1024;

/// Whether a node is a comment, attribute or decorator that belongs to the next item.
fn is_leading(kind: &str) -> bool {
    matches!(
        kind,
        "line_comment" | "block_comment" | "comment" | "attribute_item" | "decorator"
    )
}

impl Cx<'_> {
    fn text(&self, n: Node) -> &str {
        n.utf8_text(self.src).unwrap_or("")
    }

    fn field(&self, n: Node, name: &str) -> Option<String> {
        n.child_by_field_name(name)
            .map(|f| self.text(f).to_string())
    }

    fn join(&self, prefix: &str, name: &str) -> String {
        let mut joined = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}{}{name}", self.lang.sep())
        };
        // Past the bound the outer scopes go, not the item's own name: `…::Inner::f`.
        if joined.len() > MAX_NAME_BYTES {
            let mut start = joined.len() - (MAX_NAME_BYTES - '…'.len_utf8());
            while !joined.is_char_boundary(start) {
                start += 1;
            }
            joined = format!("…{}", joined.get(start..).unwrap_or_default());
        }
        joined
    }

    /// Pushes an item spanning `first` (its leading comment) to `last`, with `text`.
    fn push(&mut self, name: String, first: Node, last: Node, text: String) {
        if name.trim().is_empty() || text.trim().is_empty() {
            return;
        }
        if self.items.len() >= MAX_ITEMS {
            self.cut = true;
            return;
        }
        let start = u32::try_from(first.start_position().row + 1).unwrap_or(u32::MAX);
        // A line comment ends at column 0 of the next line (it holds its newline).
        let e = last.end_position();
        let row = if e.column == 0 && e.row > last.start_position().row {
            e.row
        } else {
            e.row + 1
        };
        let end = u32::try_from(row).unwrap_or(u32::MAX);
        self.items.push(Item {
            name,
            text,
            start,
            end,
        });
    }

    /// The source from `first` to the end of `last`.
    fn span(&self, first: Node, last: Node) -> String {
        let (a, b) = (first.start_byte(), last.end_byte());
        self.src
            .get(a..b.max(a))
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default()
    }

    /// The source from `first` to the start of `body` (a header), then `summary`.
    fn header(&self, first: Node, body: Option<Node>, last: Node, summary: &[String]) -> String {
        let Some(body) = body else {
            return self.span(first, last);
        };
        let head = self
            .src
            .get(first.start_byte()..body.start_byte())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        if summary.is_empty() {
            return self.span(first, last);
        }
        format!("{head}{{ {} }}", summary.join("; "))
    }

    /// An item named by the `name` field of `n`, spanning `first` to `outer` (which
    /// holds `n` when it is wrapped, e.g. in a decorator or an export).
    fn named(&mut self, n: Node, first: Node, outer: Node, prefix: &str) {
        if let Some(name) = self.field(n, "name") {
            let text = self.span(first, outer);
            self.push(self.join(prefix, &name), first, outer, text);
        }
    }

    /// One item for a declaration of one or more `names` (`a,b`), none for none.
    fn declared(&mut self, names: &[String], first: Node, outer: Node, prefix: &str) {
        if !names.is_empty() {
            let text = self.span(first, outer);
            self.push(self.join(prefix, &names.join(",")), first, outer, text);
        }
    }

    /// A class, trait or impl `n` named `qualified`: its members become items of their
    /// own, then it becomes one titled `title`: its header and its members' names.
    fn container(&mut self, n: Node, first: Node, outer: Node, qualified: &str, title: String) {
        let body = n.child_by_field_name("body");
        let before = self.items.len();
        if let Some(body) = body {
            self.scope(body, qualified, false);
        }
        let members: Vec<String> = self
            .items
            .get(before..)
            .unwrap_or_default()
            .iter()
            .map(|i| i.name.rsplit(['.', ':']).next().unwrap_or("").to_string())
            .collect();
        let text = self.header(first, body, outer, &members);
        self.push(title, first, outer, text);
    }

    /// Walks the children of a scope (a file, a module body, a class body, an impl),
    /// unless it lies deeper than [`MAX_NESTING`] scopes.
    fn scope(&mut self, node: Node, prefix: &str, top: bool) {
        if self.depth >= MAX_NESTING {
            self.cut = true;
            return;
        }
        self.depth += 1;
        self.scope_within(node, prefix, top);
        self.depth -= 1;
    }

    fn scope_within(&mut self, node: Node, prefix: &str, top: bool) {
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        let mut lead: Option<Node> = None;
        let mut prev_end: Option<usize> = None;
        let mut module_doc: Vec<Node> = Vec::new();
        for (i, child) in children.iter().copied().enumerate() {
            let kind = child.kind();
            let adjacent = prev_end.is_some_and(|e| child.start_position().row <= e + 1);
            if top && self.is_module_doc(child, i, &module_doc) {
                module_doc.push(child);
                prev_end = Some(child.end_position().row);
                continue;
            }
            if is_leading(kind) {
                if lead.is_none() || !adjacent {
                    lead = Some(child);
                }
                prev_end = Some(child.end_position().row);
                continue;
            }
            let first = lead.filter(|_| adjacent).unwrap_or(child);
            lead = None;
            prev_end = Some(child.end_position().row);
            self.item(child, first, prefix);
        }
        if let (Some(a), Some(b)) = (module_doc.first(), module_doc.last()) {
            let name = match (prefix.is_empty(), self.module.is_empty()) {
                (false, _) => prefix,
                (true, false) => self.module,
                (true, true) => "(module)",
            };
            let text = self.span(*a, *b);
            self.push(name.to_string(), *a, *b, text);
        }
    }

    /// Whether `n` (the `i`th child of a file) is part of the module's doc.
    fn is_module_doc(&self, n: Node, i: usize, so_far: &[Node]) -> bool {
        let contiguous = so_far.len() == i;
        if !contiguous {
            return false;
        }
        match self.lang {
            Lang::Rust => {
                let t = self.text(n);
                t.starts_with("//!") || t.starts_with("/*!")
            }
            Lang::Python => {
                i == 0
                    && n.kind() == "expression_statement"
                    && n.named_child(0).is_some_and(|s| s.kind() == "string")
            }
            Lang::Go => {
                n.kind() == "comment"
                    && n.next_named_sibling()
                        .is_some_and(|s| s.kind() == "package_clause")
            }
            _ => false,
        }
    }

    fn item(&mut self, n: Node, first: Node, prefix: &str) {
        match (self.lang, n.kind()) {
            (Lang::Rust, _) => self.rust(n, first, prefix),
            (Lang::Python, _) => self.python(n, first, n, prefix),
            (Lang::Go, _) => self.go(n, first, prefix),
            _ => self.script(n, first, n, prefix),
        }
    }

    fn rust(&mut self, n: Node, first: Node, prefix: &str) {
        match n.kind() {
            "function_item"
            | "function_signature_item"
            | "struct_item"
            | "enum_item"
            | "union_item"
            | "type_item"
            | "const_item"
            | "static_item"
            | "macro_definition" => self.named(n, first, n, prefix),
            "trait_item" | "impl_item" => {
                let name = if n.kind() == "trait_item" {
                    self.field(n, "name")
                } else {
                    self.field(n, "type").map(|t| strip_generics(&t))
                };
                let Some(name) = name else { return };
                let qualified = self.join(prefix, &name);
                let title = match (n.kind(), self.field(n, "trait")) {
                    ("impl_item", Some(tr)) => format!("{qualified} impl {}", strip_generics(&tr)),
                    ("impl_item", None) => format!("{qualified} impl"),
                    _ => qualified.clone(),
                };
                self.container(n, first, n, &qualified, title);
            }
            "mod_item" => {
                let Some(name) = self.field(n, "name") else {
                    return;
                };
                let cfg_test = self.text(first).contains("cfg(test)");
                match n.child_by_field_name("body") {
                    Some(body) if !cfg_test => {
                        let qualified = self.join(prefix, &name);
                        self.scope(body, &qualified, false);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn python(&mut self, n: Node, first: Node, outer: Node, prefix: &str) {
        match n.kind() {
            "decorated_definition" => {
                if let Some(def) = n.child_by_field_name("definition") {
                    self.python(def, first, n, prefix);
                }
            }
            "function_definition" => self.named(n, first, outer, prefix),
            "class_definition" => self.class(n, first, outer, prefix),
            _ => {}
        }
    }

    /// A class named by its `name` field (Python, TypeScript, JavaScript).
    fn class(&mut self, n: Node, first: Node, outer: Node, prefix: &str) {
        if let Some(name) = self.field(n, "name") {
            let qualified = self.join(prefix, &name);
            self.container(n, first, outer, &qualified, qualified.clone());
        }
    }

    fn go(&mut self, n: Node, first: Node, prefix: &str) {
        match n.kind() {
            "function_declaration" => self.named(n, first, n, prefix),
            "method_declaration" => {
                let Some(name) = self.field(n, "name") else {
                    return;
                };
                let receiver = n
                    .child_by_field_name("receiver")
                    .map(|r| self.receiver_type(r))
                    .unwrap_or_default();
                let owner = self.join(prefix, &receiver);
                let text = self.span(first, n);
                self.push(self.join(&owner, &name), first, n, text);
            }
            "type_declaration" | "const_declaration" | "var_declaration" => {
                let mut c = n.walk();
                let names: Vec<String> = n
                    .named_children(&mut c)
                    .filter_map(|s| self.field(s, "name"))
                    .collect();
                self.declared(&names, first, n, prefix);
            }
            _ => {}
        }
    }

    /// The type name of a Go receiver, `(s *Server)` → `Server`.
    fn receiver_type(&self, r: Node) -> String {
        let t = self.text(r);
        let inner = t.trim_matches(|c| c == '(' || c == ')');
        let ty = inner.split_whitespace().last().unwrap_or("");
        strip_generics(ty.trim_start_matches('*'))
    }

    fn script(&mut self, n: Node, first: Node, outer: Node, prefix: &str) {
        match n.kind() {
            "export_statement" => {
                if let Some(d) = n.child_by_field_name("declaration") {
                    self.script(d, first, n, prefix);
                } else if let Some(v) = n.child_by_field_name("value") {
                    self.script(v, first, n, prefix);
                }
            }
            "function_declaration"
            | "generator_function_declaration"
            | "interface_declaration"
            | "type_alias_declaration"
            | "enum_declaration"
            | "method_definition"
            | "abstract_method_signature"
            | "function_signature" => self.named(n, first, outer, prefix),
            "class_declaration" | "abstract_class_declaration" | "class" => {
                self.class(n, first, outer, prefix)
            }
            "lexical_declaration" | "variable_declaration" => {
                let mut c = n.walk();
                let names: Vec<String> = n
                    .named_children(&mut c)
                    .filter(|d| d.kind() == "variable_declarator")
                    .filter_map(|d| self.field(d, "name"))
                    .collect();
                self.declared(&names, first, outer, prefix);
            }
            _ => {}
        }
    }
}

/// `Map<K, V>` → `Map`.
fn strip_generics(t: &str) -> String {
    t.split('<').next().unwrap_or(t).trim().to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn names(lang: Lang, module: &str, text: &str) -> Vec<(String, u32, u32)> {
        Parsers::default()
            .items(lang, module, text)
            .into_iter()
            .map(|i| (i.name, i.start, i.end))
            .collect()
    }

    #[test]
    fn a_file_nested_or_filled_past_the_limits_is_taken_in_part() {
        // 20,000 modules within one another (140 KB) overflowed the stack.
        let deep = format!(
            "{}fn f() {{}}{}",
            "mod a{".repeat(20_000),
            "}".repeat(20_000)
        );
        let (items, cut) = Parsers::default().items_within(Lang::Rust, "", &deep);
        assert!(cut);
        assert!(items.len() <= MAX_NESTING, "{}", items.len());
        assert!(items.iter().all(|i| i.name.len() <= MAX_NAME_BYTES));
        // Long names nested: each name clipped as it is built, not at the end.
        let long = format!("mod {} {{", "m".repeat(5_000));
        let names = format!("{}fn f() {{}}{}", long.repeat(30), "}".repeat(30));
        let (items, cut) = Parsers::default().items_within(Lang::Rust, "", &names);
        assert!(!cut);
        assert!(items.iter().all(|i| i.name.len() <= MAX_NAME_BYTES));
        assert!(
            items
                .iter()
                .any(|i| i.name.starts_with('…') && i.name.ends_with("::f"))
        );
        // 6,000 functions: the first 5,000.
        let many = "fn a() {}\n".repeat(6_000);
        let (items, cut) = Parsers::default().items_within(Lang::Rust, "", &many);
        assert!(cut);
        assert_eq!(items.len(), MAX_ITEMS);
        // Within the limits nothing is cut.
        let (items, cut) = Parsers::default().items_within(Lang::Rust, "", "mod a { fn f() {} }");
        assert!(!cut);
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].name, "a::f");
    }

    #[test]
    fn rust_items_keep_their_doc_comments_and_lines() {
        let src = "//! The module.\n\n/// Adds.\n#[inline]\nfn add(a: u8) -> u8 {\n    a\n}\n\nstruct S;\n\nimpl S {\n    /// New.\n    fn new() -> S {\n        S\n    }\n}\n\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n";
        let items = Parsers::default().items(Lang::Rust, "", src);
        let got: Vec<(&str, u32, u32)> = items
            .iter()
            .map(|i| (i.name.as_str(), i.start, i.end))
            .collect();
        assert_eq!(
            got,
            vec![
                ("add", 3, 7),
                ("S", 9, 9),
                ("S::new", 12, 15),
                ("S impl", 11, 16),
                ("(module)", 1, 1)
            ]
        );
        assert!(items[0].text.starts_with("/// Adds.\n#[inline]\nfn add"));
        assert_eq!(items[3].text, "impl S { new }");
    }

    #[test]
    fn python_go_and_typescript_items_are_qualified() {
        let py = "\"\"\"Mod doc.\"\"\"\n\nclass A:\n    def m(self):\n        \"\"\"Doc.\"\"\"\n        pass\n\n@dec\ndef f():\n    pass\n";
        assert_eq!(
            names(Lang::Python, "pkg.mod", py),
            vec![
                ("pkg.mod.A.m".to_string(), 4, 6),
                ("pkg.mod.A".to_string(), 3, 6),
                ("pkg.mod.f".to_string(), 8, 10),
                ("pkg.mod".to_string(), 1, 1)
            ]
        );
        let go = "package store\n\n// Get reads.\nfunc (s *Store) Get(k string) string {\n\treturn k\n}\n\ntype Store struct{}\n";
        assert_eq!(
            names(Lang::Go, "", go),
            vec![
                ("store.Store.Get".to_string(), 3, 6),
                ("store.Store".to_string(), 8, 8)
            ]
        );
        let ts = "/** Says hi. */\nexport function hi(): string { return 'hi'; }\nexport class C {\n  run() {}\n}\nconst x = () => 1;\n";
        assert_eq!(
            names(Lang::TypeScript, "", ts),
            vec![
                ("hi".to_string(), 1, 2),
                ("C.run".to_string(), 4, 4),
                ("C".to_string(), 3, 5),
                ("x".to_string(), 6, 6)
            ]
        );
    }
}
