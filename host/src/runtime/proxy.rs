//! Typed imports: a job that imports a service interface directly (e.g.
//! `example:users/users@1.0.0`) is linked to a service exporting a
//! semver-compatible version of it, through host proxies that copy values
//! between the two Stores.
//!
//! Binding rule: among services exporting a compatible interface (same
//! package and interface name, same major version — same minor for 0.x — and
//! at least the imported version), the job's input may name one:
//! `{"$bind": {"example:users/users": "user-service-py"}}` (interface with or
//! without version; service as `name` or `name@version`). Otherwise the
//! newest version wins; on a tie, the first registered. Every imported
//! function must exist in the chosen service with identical parameter and
//! result types, and no type may hold a resource, future or stream (handles
//! cannot cross Stores); otherwise the job is rejected before it runs, naming
//! the import. A service call that fails without a WIT `result` to carry the
//! error (a trap, a refusal) traps the job with that message.

use crate::error::LoadError;
use crate::runtime::exports::{parse_interface_name, unversioned};
use crate::runtime::imports::GuestHost;
use crate::runtime::job::JobState;
use crate::runtime::service::{LoadedService, ServiceLookup};
use crate::runtime::values::{describe, holds_handles};
use std::sync::Arc;
use wasmtime::component::types::{ComponentInstance, ComponentItem};
use wasmtime::component::{Linker, Type, Val};
use wasmtime::{Engine, StoreContextMut};

/// The input key naming services for typed imports.
pub const BIND_KEY: &str = "$bind";

/// Whether an export named `have` satisfies an import named `want`.
pub fn compatible(want: &str, have: &str) -> bool {
    if unversioned(want) != unversioned(have) {
        return false;
    }
    match (parse_interface_name(want).1, parse_interface_name(have).1) {
        (Some(w), Some(h)) if w.major == 0 => h.major == 0 && h.minor == w.minor && h >= w,
        (Some(w), Some(h)) => h.major == w.major && h >= w,
        (None, None) => true,
        _ => false,
    }
}

/// One imported function: name, parameter types, result types.
#[derive(Clone, Debug)]
pub struct ImportedFunc {
    name: String,
    params: Vec<Type>,
    results: Vec<Type>,
}

/// An imported service interface of a job and the service it is bound to.
#[derive(Clone)]
pub struct TypedImport {
    /// The import's name, e.g. `example:users/users@1.0.0`.
    pub name: String,
    funcs: Vec<ImportedFunc>,
    default: Binding,
}

/// A service and, per imported function, its function index there.
#[derive(Clone)]
pub struct Binding {
    service: Arc<LoadedService>,
    funcs: Vec<usize>,
}

impl TypedImport {
    /// Reads the import's functions, refusing handles.
    fn new(engine: &Engine, name: &str, ty: &ComponentInstance, lookup: &dyn ServiceLookup) -> Result<Self, LoadError> {
        let unsatisfied = |reason: String| LoadError::UnsatisfiedImport { import: name.to_string(), reason };
        let mut funcs = Vec::new();
        for (fname, item) in ty.exports(engine) {
            match &item.ty {
                ComponentItem::ComponentFunc(f) => {
                    let params: Vec<Type> = f.params().map(|(_, t)| t).collect();
                    let results: Vec<Type> = f.results().collect();
                    if params.iter().chain(&results).any(holds_handles) {
                        return Err(unsatisfied(format!("function `{fname}` passes resources, futures or streams")));
                    }
                    funcs.push(ImportedFunc { name: fname.to_string(), params, results });
                }
                ComponentItem::Resource(_) => {
                    return Err(unsatisfied(format!("resource `{fname}` cannot be shared between a job and a service")));
                }
                _ => {}
            }
        }
        let mut reasons = Vec::new();
        for (service, iface) in lookup.providers(name) {
            match bind(&funcs, &service, iface) {
                Ok(idx) => return Ok(Self { name: name.to_string(), funcs, default: Binding { service, funcs: idx } }),
                Err(r) => reasons.push(r),
            }
        }
        Err(unsatisfied(if reasons.is_empty() {
            "no service on this master exports a compatible interface".into()
        } else {
            reasons.join("; ")
        }))
    }

    /// The binding named by a `$bind` entry (`service` or `service@version`).
    fn bind_to(&self, service_key: &str, lookup: &dyn ServiceLookup) -> Result<Binding, LoadError> {
        let unsatisfied = |reason: String| LoadError::UnsatisfiedImport { import: self.name.clone(), reason };
        let service = lookup
            .find(service_key)
            .ok_or_else(|| unsatisfied(format!("{BIND_KEY} names service '{service_key}', which is not registered")))?;
        let iface = service
            .exports
            .interfaces
            .iter()
            .position(|i| compatible(&self.name, &i.name))
            .ok_or_else(|| unsatisfied(format!("{BIND_KEY} names service '{service_key}', which exports no compatible interface")))?;
        let funcs = bind(&self.funcs, &service, iface).map_err(unsatisfied)?;
        Ok(Binding { service, funcs })
    }
}

/// Matches each imported function to one of `service`'s, with equal types.
fn bind(funcs: &[ImportedFunc], service: &LoadedService, iface: usize) -> Result<Vec<usize>, String> {
    funcs
        .iter()
        .map(|want| {
            let idx = service
                .exports
                .funcs
                .iter()
                .position(|g| g.interface == Some(iface) && g.name == want.name)
                .ok_or_else(|| format!("service '{}' has no function `{}`", service.name, want.name))?;
            let have = &service.exports.funcs[idx];
            let have_params: Vec<Type> = have.params.iter().map(|(_, t)| t.clone()).collect();
            if have_params != want.params || have.results != want.results {
                return Err(format!(
                    "function `{}` differs: the job expects {}, service '{}' has {}",
                    want.name,
                    describe_sig(&want.params, &want.results),
                    service.name,
                    describe_sig(&have_params, &have.results)
                ));
            }
            Ok(idx)
        })
        .collect()
}

fn describe_sig(params: &[Type], results: &[Type]) -> String {
    let p: Vec<String> = params.iter().map(describe).collect();
    let r: Vec<String> = results.iter().map(describe).collect();
    format!("func({}) -> ({})", p.join(", "), r.join(", "))
}

/// Defines proxies for the imported instance `import` (number `slot` among
/// the job's typed imports) in `linker`, bound by default as the rule says.
pub fn link_import(
    linker: &mut Linker<JobState>,
    engine: &Engine,
    slot: usize,
    import: &str,
    ty: &ComponentInstance,
    lookup: &dyn ServiceLookup,
) -> Result<TypedImport, LoadError> {
    let typed = TypedImport::new(engine, import, ty, lookup)?;
    let linker_err = |e: wasmtime::Error| LoadError::UnsatisfiedImport { import: import.to_string(), reason: format!("{e:#}") };
    let mut inst = linker.instance(import).map_err(linker_err)?;
    for (j, f) in typed.funcs.iter().enumerate() {
        let default = typed.default.clone();
        inst.func_new_async(&f.name, move |store: StoreContextMut<'_, JobState>, _ty, params: &[Val], results: &mut [Val]| {
            let binding = store.data().binding(slot).unwrap_or(&default);
            let (target, idx) = (binding.service.clone(), binding.funcs[j]);
            let ctx = store.data().call_ctx();
            Box::new(async move {
                let ctx = ctx.map_err(|e| wasmtime::Error::msg(e.to_string()))?;
                let out = target.call_vals(idx, params.to_vec(), ctx).await.map_err(|e| wasmtime::Error::msg(e.to_string()))?;
                for (slot, v) in results.iter_mut().zip(out) {
                    *slot = v;
                }
                Ok(())
            })
        })
        .map_err(linker_err)?;
    }
    Ok(typed)
}

/// The per-run bindings a job's input asks for with `$bind` (one entry per
/// typed import, `None` = the default). Inputs without `$bind` cost nothing.
pub fn overrides(imports: &[TypedImport], input: &str, lookup: &dyn ServiceLookup) -> Result<Vec<Option<Binding>>, LoadError> {
    if imports.is_empty() || !input.contains(BIND_KEY) {
        return Ok(Vec::new());
    }
    let json: serde_json::Value = serde_json::from_str(input).unwrap_or_default();
    let Some(map) = json.get(BIND_KEY).and_then(|b| b.as_object()) else { return Ok(Vec::new()) };
    let mut out = vec![None; imports.len()];
    for (iface, service) in map {
        let service = service.as_str().ok_or_else(|| LoadError::UnsatisfiedImport {
            import: iface.clone(),
            reason: format!("{BIND_KEY} values must be service names"),
        })?;
        let k = imports
            .iter()
            .position(|t| t.name == *iface || unversioned(&t.name) == unversioned(iface))
            .ok_or_else(|| LoadError::UnsatisfiedImport { import: iface.clone(), reason: format!("{BIND_KEY} names an interface the job does not import") })?;
        out[k] = Some(imports[k].bind_to(service, lookup)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn semver_compatibility_of_interface_names() {
        assert!(compatible("example:users/users@1.0.0", "example:users/users@1.3.0"));
        assert!(!compatible("example:users/users@1.2.0", "example:users/users@1.1.0"));
        assert!(!compatible("example:users/users@1.0.0", "example:users/users@2.0.0"));
        assert!(compatible("a:b/c@0.2.0", "a:b/c@0.2.5"));
        assert!(!compatible("a:b/c@0.2.0", "a:b/c@0.3.0"));
        assert!(!compatible("a:b/c@1.0.0", "a:b/d@1.0.0"));
    }
}
