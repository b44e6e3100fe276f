//! What a component exports and imports, read from its type without
//! instantiating it: interfaces (with package versions), functions with
//! parameter names and types, and export indices for fast lookup. Also the
//! `inspect` rendering and method-name resolution (`iface/method`, aliases).

use crate::runtime::values::{describe, loose_key, loose_key_in, names_match};
use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex, Type};
use wasmtime::Engine;

/// An exported interface.
#[derive(Clone, Debug)]
pub struct ExportedInterface {
    /// Full name, e.g. `example:hello/greeter@1.0.0`.
    pub name: String,
    /// The interface's own name, e.g. `greeter`.
    pub short: String,
    /// Package version, if the name carries one.
    pub version: Option<semver::Version>,
}

/// An exported function, of an interface or at the component's root.
#[derive(Clone, Debug)]
pub struct ExportedFunc {
    /// Index into [`Exports::interfaces`]; `None` for a root export.
    pub interface: Option<usize>,
    /// WIT name, e.g. `say-hello2`.
    pub name: String,
    /// Parameter names and types.
    pub params: Vec<(String, Type)>,
    /// Result types (zero or one).
    pub results: Vec<Type>,
    /// Where the function is in the component's exports.
    pub index: ComponentExportIndex,
}

impl ExportedFunc {
    fn new(interface: Option<usize>, name: &str, f: &ComponentFunc, index: ComponentExportIndex) -> Self {
        let (params, results) = func_parts(f);
        Self { interface, name: name.to_string(), params, results, index }
    }

    /// `name: func(a: t, …) -> r`.
    pub fn signature(&self) -> String {
        signature(&self.name, &self.params, &self.results)
    }
}

/// The exports of a component, made by [`Exports::of`] or [`Exports::new`]
/// (which index the functions by name: read the fields, do not change them).
#[derive(Clone, Debug, Default)]
pub struct Exports {
    /// Exported interfaces.
    pub interfaces: Vec<ExportedInterface>,
    /// Exported functions.
    pub funcs: Vec<ExportedFunc>,
    /// Function numbers by name, for [`Exports::resolve`].
    names: NameIndex,
}

/// The functions of each name, exact and in [`loose_key`] form, each list
/// in export order: a dynamic call finds its method with one or two hash
/// lookups instead of comparing its name with every function's.
#[derive(Clone, Debug, Default)]
struct NameIndex {
    /// Each exact name with its functions, and the usual other spellings of
    /// each name (`sayHello`, `SayHello`, `say_hello` for `say-hello`) that
    /// are not exact names, with what their loose lookup finds: a call with
    /// either kind of name needs one lookup and no loose key.
    direct: FxHashMap<String, Vec<usize>>,
    loose: FxHashMap<String, Vec<usize>>,
}

impl NameIndex {
    fn new(funcs: &[ExportedFunc]) -> Self {
        let mut index = NameIndex::default();
        for (i, f) in funcs.iter().enumerate() {
            index.direct.entry(f.name.clone()).or_default().push(i);
            index.loose.entry(loose_key(&f.name)).or_default().push(i);
        }
        for f in funcs {
            for other in spellings(&f.name) {
                if let (false, Some(found)) = (index.direct.contains_key(&other), index.loose.get(&loose_key(&other))) {
                    index.direct.insert(other, found.clone());
                }
            }
        }
        index
    }

    /// The functions named `name` exactly (or, for one of the usual other
    /// spellings, loosely), then, only if asked for, those named so loosely.
    fn candidates<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [usize]> + 'a {
        let direct = self.direct.get(name).map_or(&[][..], Vec::as_slice);
        std::iter::once(direct).chain(std::iter::once_with(move || {
            // Most names are short ASCII: their loose form is built on the stack.
            let mut buf = [0u8; 64];
            let loose = match loose_key_in(name, &mut buf) {
                Some(key) => self.loose.get(key),
                None => self.loose.get(&loose_key(name)),
            };
            loose.map_or(&[][..], Vec::as_slice)
        }))
    }
}

/// `say-hello` spelled `sayHello`, `SayHello` and `say_hello` (each of which
/// [`names_match`] it); empty for a name without dashes.
fn spellings(name: &str) -> Vec<String> {
    if !name.contains('-') {
        return Vec::new();
    }
    let mut camel = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        match c {
            '-' => upper = true,
            c if upper => {
                camel.extend(c.to_uppercase());
                upper = false;
            }
            c => camel.push(c),
        }
    }
    let mut pascal: String = camel.chars().take(1).flat_map(char::to_uppercase).collect();
    pascal.extend(camel.chars().skip(1));
    vec![camel, pascal, name.replace('-', "_")]
}

/// Splits `ns:pkg/iface@1.2.3` into (`iface`, version).
pub fn parse_interface_name(name: &str) -> (String, Option<semver::Version>) {
    let (path, version) = match name.rsplit_once('@') {
        Some((p, v)) => (p, semver::Version::parse(v).ok()),
        None => (name, None),
    };
    let short = path.rsplit('/').next().unwrap_or(path).to_string();
    (short, version)
}

/// The name without its `@version`.
pub fn unversioned(name: &str) -> &str {
    name.rsplit_once('@').map(|(p, _)| p).unwrap_or(name)
}

fn func_parts(f: &ComponentFunc) -> (Vec<(String, Type)>, Vec<Type>) {
    (f.params().map(|(n, t)| (n.to_string(), t)).collect(), f.results().collect())
}

fn signature(name: &str, params: &[(String, Type)], results: &[Type]) -> String {
    let params: Vec<String> = params.iter().map(|(n, t)| format!("{n}: {}", describe(t))).collect();
    let mut s = format!("{name}: func({})", params.join(", "));
    if let Some(r) = results.first() {
        let _ = write!(s, " -> {}", describe(r));
    }
    s
}

impl Exports {
    /// Reads the exports of `component`.
    pub fn of(component: &Component, engine: &Engine) -> Self {
        let (mut interfaces, mut funcs) = (Vec::new(), Vec::new());
        let ty = component.component_type();
        for (name, ext) in ty.exports(engine) {
            match &ext.ty {
                ComponentItem::ComponentFunc(f) => {
                    if let Some(index) = component.get_export_index(None, name) {
                        funcs.push(ExportedFunc::new(None, name, f, index));
                    }
                }
                ComponentItem::ComponentInstance(inst) => {
                    let Some(inst_index) = component.get_export_index(None, name) else { continue };
                    let (short, version) = parse_interface_name(name);
                    let iface = interfaces.len();
                    interfaces.push(ExportedInterface { name: name.to_string(), short, version });
                    for (fname, fext) in inst.exports(engine) {
                        if let ComponentItem::ComponentFunc(f) = &fext.ty {
                            if let Some(index) = component.get_export_index(Some(&inst_index), fname) {
                                funcs.push(ExportedFunc::new(Some(iface), fname, f, index));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Self::new(interfaces, funcs)
    }

    /// Exports made of `interfaces` and `funcs` (whose `interface` fields
    /// index `interfaces`).
    pub fn new(interfaces: Vec<ExportedInterface>, funcs: Vec<ExportedFunc>) -> Self {
        let names = NameIndex::new(&funcs);
        Exports { interfaces, funcs, names }
    }

    /// The highest package version among the exported interfaces.
    pub fn package_version(&self) -> Option<semver::Version> {
        self.interfaces.iter().filter_map(|i| i.version.clone()).max()
    }

    /// Finds a method: `method`, `iface/method` or `ns:pkg/iface@v/method`,
    /// with loose matching (`sayHello2` = `say-hello2`). A bare name must be
    /// unique across interfaces. Errors carry a hint for the message.
    pub fn resolve(&self, method: &str) -> Result<usize, String> {
        let (iface, name) = match method.rsplit_once('/') {
            Some((i, n)) => (Some(i), n),
            None => (None, method),
        };
        let iface_ok = |f: &ExportedFunc| match (iface, f.interface) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(want), Some(i)) => {
                let have = &self.interfaces[i];
                have.name == want || unversioned(&have.name) == want || names_match(&have.short, want)
            }
        };
        // Exact names first, then loose ones; no allocation for a short ASCII
        // name unless it is ambiguous (this runs on every dynamic call).
        for candidates in self.names.candidates(name) {
            let mut hits = candidates.iter().copied().filter(|&i| iface_ok(&self.funcs[i]));
            match (hits.next(), hits.next()) {
                (None, _) => continue,
                (Some(one), None) => return Ok(one),
                (Some(a), Some(b)) => {
                    let names: Vec<String> = [a, b].into_iter().chain(hits).map(|i| self.qualified(i)).collect();
                    return Err(format!(" (ambiguous: use one of {})", names.join(", ")));
                }
            }
        }
        Err(String::new())
    }

    /// `iface/method` (or the bare name for a root export).
    pub fn qualified(&self, func: usize) -> String {
        let f = &self.funcs[func];
        match f.interface {
            Some(i) => format!("{}/{}", self.interfaces[i].short, f.name),
            None => f.name.clone(),
        }
    }
}

/// A human-readable listing of a component's imports and exports with
/// signatures (the `inspect` command).
pub fn render(component: &Component, engine: &Engine) -> String {
    let mut s = String::new();
    let ty = component.component_type();
    for (label, items) in [("import", ty.imports(engine).collect::<Vec<_>>()), ("export", ty.exports(engine).collect())] {
        for (name, ext) in items {
            match &ext.ty {
                ComponentItem::ComponentFunc(f) => {
                    let (p, r) = func_parts(f);
                    let _ = writeln!(s, "{label} {}", signature(name, &p, &r));
                }
                ComponentItem::ComponentInstance(inst) => {
                    let _ = writeln!(s, "{label} {name} {{");
                    for (fname, fext) in inst.exports(engine) {
                        match &fext.ty {
                            ComponentItem::ComponentFunc(f) => {
                                let (p, r) = func_parts(f);
                                let _ = writeln!(s, "    {};", signature(fname, &p, &r));
                            }
                            ComponentItem::Resource(_) => {
                                let _ = writeln!(s, "    resource {fname};");
                            }
                            _ => {}
                        }
                    }
                    let _ = writeln!(s, "}}");
                }
                other => {
                    let _ = writeln!(s, "{label} {name}: {}", item_kind(other));
                }
            }
        }
    }
    s
}

fn item_kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "func",
        ComponentItem::CoreFunc(_) => "core func",
        ComponentItem::Module(_) => "core module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_split_into_short_name_and_version() {
        let (short, v) = parse_interface_name("example:hello/greeter@1.2.3");
        assert_eq!(short, "greeter");
        assert_eq!(v, Some(semver::Version::new(1, 2, 3)));
        assert_eq!(unversioned("example:hello/greeter@1.2.3"), "example:hello/greeter");
        assert_eq!(parse_interface_name("a:b/c").1, None);
    }

    /// hello-world's exports (`example:hello/greeter@1.0.0`: `say-hello`,
    /// `say-hello2`), optionally with a second interface of the same functions.
    fn hello_exports(twice: bool) -> Exports {
        let engine = Engine::default();
        let component = Component::from_file(&engine, crate::plugins::path("hello-world")).expect("built plugin");
        let Exports { mut interfaces, mut funcs, .. } = Exports::of(&component, &engine);
        if twice {
            interfaces.push(ExportedInterface { name: "example:hello/other@1.0.0".into(), short: "other".into(), version: None });
            let copies: Vec<ExportedFunc> = funcs.iter().map(|f| ExportedFunc { interface: Some(1), ..f.clone() }).collect();
            funcs.extend(copies);
        }
        Exports::new(interfaces, funcs)
    }

    #[test]
    fn methods_resolve_by_exact_loose_and_qualified_names() {
        let e = hello_exports(false);
        let name = |m: &str| e.resolve(m).map(|i| e.funcs[i].name.clone());
        for m in ["say-hello", "sayHello", "say_hello", "SAY-HELLO", "greeter/sayHello", "example:hello/greeter/say-hello", "example:hello/greeter@1.0.0/sayHello"] {
            assert_eq!(name(m).as_deref(), Ok("say-hello"), "{m}");
        }
        assert_eq!(name("sayHello2").as_deref(), Ok("say-hello2"));
        for m in ["sayHell", "sayHello3", "", "other/sayHello", "say-hello/x", "Sträße"] {
            assert_eq!(name(m), Err(String::new()), "{m}");
        }
        let long = format!("say{}hello", "-".repeat(100));
        assert_eq!(name(&long).as_deref(), Ok("say-hello"), "a long name is matched loosely too");
    }

    #[test]
    fn other_spellings_of_a_name_find_what_its_loose_lookup_finds() {
        assert_eq!(spellings("say-hello2"), ["sayHello2", "SayHello2", "say_hello2"]);
        assert_eq!(spellings("get-all-users"), ["getAllUsers", "GetAllUsers", "get_all_users"]);
        assert!(spellings("run").is_empty());
        for twice in [false, true] {
            let e = hello_exports(twice);
            for f in &e.funcs {
                for other in spellings(&f.name) {
                    assert!(names_match(&f.name, &other), "{other}");
                    assert_eq!(e.names.direct.get(&other), e.names.loose.get(&loose_key(&other)), "{other}");
                }
            }
        }
    }

    #[test]
    fn a_bare_name_exported_by_two_interfaces_is_ambiguous_until_qualified() {
        let e = hello_exports(true);
        assert_eq!(e.resolve("sayHello"), Err(" (ambiguous: use one of greeter/say-hello, other/say-hello)".into()));
        assert_eq!(e.resolve("say-hello2"), Err(" (ambiguous: use one of greeter/say-hello2, other/say-hello2)".into()));
        assert_eq!(e.resolve("other/sayHello"), Ok(2));
        assert_eq!(e.resolve("greeter/say-hello"), Ok(0));
    }
}
