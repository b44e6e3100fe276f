//! What a component exports and imports, read from its type without
//! instantiating it: interfaces (with package versions), functions with
//! parameter names and types, and export indices for fast lookup. Also the
//! `inspect` rendering and method-name resolution (`iface/method`, aliases).

use crate::runtime::values::{describe, loose_eq, loose_key, names_match};
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
    /// `name` as [`names_match`] compares it (computed once, not per call).
    loose: String,
}

impl ExportedFunc {
    fn new(interface: Option<usize>, name: &str, f: &ComponentFunc, index: ComponentExportIndex) -> Self {
        let (params, results) = func_parts(f);
        Self { interface, name: name.to_string(), params, results, index, loose: loose_key(name) }
    }

    /// `name: func(a: t, …) -> r`.
    pub fn signature(&self) -> String {
        signature(&self.name, &self.params, &self.results)
    }
}

/// The exports of a component.
#[derive(Clone, Debug, Default)]
pub struct Exports {
    /// Exported interfaces.
    pub interfaces: Vec<ExportedInterface>,
    /// Exported functions.
    pub funcs: Vec<ExportedFunc>,
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
        let mut out = Exports::default();
        let ty = component.component_type();
        for (name, ext) in ty.exports(engine) {
            match &ext.ty {
                ComponentItem::ComponentFunc(f) => {
                    if let Some(index) = component.get_export_index(None, name) {
                        out.funcs.push(ExportedFunc::new(None, name, f, index));
                    }
                }
                ComponentItem::ComponentInstance(inst) => {
                    let Some(inst_index) = component.get_export_index(None, name) else { continue };
                    let (short, version) = parse_interface_name(name);
                    let iface = out.interfaces.len();
                    out.interfaces.push(ExportedInterface { name: name.to_string(), short, version });
                    for (fname, fext) in inst.exports(engine) {
                        if let ComponentItem::ComponentFunc(f) = &fext.ty {
                            if let Some(index) = component.get_export_index(Some(&inst_index), fname) {
                                out.funcs.push(ExportedFunc::new(Some(iface), fname, f, index));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        out
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
        // Exact names first, then loose ones; no allocation unless ambiguous
        // (this runs on every dynamic call).
        let exact = |f: &ExportedFunc| f.name == name;
        let loose = |f: &ExportedFunc| loose_eq(&f.loose, name);
        for matches in [&exact as &dyn Fn(&ExportedFunc) -> bool, &loose] {
            let mut hits = (0..self.funcs.len()).filter(|&i| iface_ok(&self.funcs[i]) && matches(&self.funcs[i]));
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
}
