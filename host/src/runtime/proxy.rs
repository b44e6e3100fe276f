//! Typed imports: a job that imports a service interface directly (e.g.
//! `example:users/users@1.0.0`) is linked to a service exporting a
//! semver-compatible version of it, through host proxies that copy values
//! between the two Stores.
//!
//! Binding rule: among services exporting a compatible interface (same
//! package and interface name, same major version — same minor for 0.x),
//! the newest version wins; on a tie, the first registered. Every imported
//! function must exist in the chosen service with identical parameter and
//! result types, and no type may hold a resource, future or stream (handles
//! cannot cross Stores); otherwise the job is rejected before it runs, naming
//! the import. A service call that fails without a WIT `result` to carry the
//! error (a trap, a refusal) traps the job with that message.

use crate::error::LoadError;
use crate::runtime::exports::{unversioned, parse_interface_name};
use crate::runtime::imports::GuestHost;
use crate::runtime::job::JobState;
use crate::runtime::service::ServiceLookup;
use crate::runtime::values::{describe, holds_handles};
use wasmtime::component::types::{ComponentInstance, ComponentItem};
use wasmtime::component::{Linker, Val};
use wasmtime::{Engine, StoreContextMut};

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

/// Defines proxies for the imported instance `import` in `linker`.
pub fn link_import(
    linker: &mut Linker<JobState>,
    engine: &Engine,
    import: &str,
    ty: &ComponentInstance,
    lookup: &dyn ServiceLookup,
) -> Result<(), LoadError> {
    let unsatisfied = |reason: String| LoadError::UnsatisfiedImport { import: import.to_string(), reason };
    let providers = lookup.providers(import);
    let (service, iface) = providers
        .into_iter()
        .next()
        .ok_or_else(|| unsatisfied("no service on this master exports a compatible interface".into()))?;
    let mut inst = linker.instance(import).map_err(|e| unsatisfied(format!("{e:#}")))?;
    for (fname, item) in ty.exports(engine) {
        let f = match &item.ty {
            ComponentItem::ComponentFunc(f) => f,
            ComponentItem::Resource(_) => {
                return Err(unsatisfied(format!("resource `{fname}` cannot be shared between a job and a service")));
            }
            _ => continue,
        };
        let want_params: Vec<_> = f.params().map(|(_, t)| t).collect();
        let want_results: Vec<_> = f.results().collect();
        if want_params.iter().chain(&want_results).any(holds_handles) {
            return Err(unsatisfied(format!("function `{fname}` passes resources, futures or streams")));
        }
        let idx = service
            .exports
            .funcs
            .iter()
            .position(|g| g.interface == Some(iface) && g.name == fname)
            .ok_or_else(|| unsatisfied(format!("service '{}' has no function `{fname}`", service.name)))?;
        let have = &service.exports.funcs[idx];
        let have_params: Vec<_> = have.params.iter().map(|(_, t)| t.clone()).collect();
        if have_params != want_params || have.results != want_results {
            return Err(unsatisfied(format!(
                "function `{fname}` differs: the job expects {}, service '{}' has {}",
                describe_sig(&want_params, &want_results),
                service.name,
                describe_sig(&have_params, &have.results)
            )));
        }
        let target = service.clone();
        inst.func_new_async(fname, move |store: StoreContextMut<'_, JobState>, _ty, params: &[Val], results: &mut [Val]| {
            let target = target.clone();
            let ctx = store.data().call_ctx();
            Box::new(async move {
                let ctx = ctx.map_err(|e| wasmtime::Error::msg(e.to_string()))?;
                let out = target
                    .call_vals(idx, params.to_vec(), ctx)
                    .await
                    .map_err(|e| wasmtime::Error::msg(e.to_string()))?;
                for (slot, v) in results.iter_mut().zip(out) {
                    *slot = v;
                }
                Ok(())
            })
        })
        .map_err(|e| unsatisfied(format!("{e:#}")))?;
    }
    Ok(())
}

fn describe_sig(params: &[wasmtime::component::Type], results: &[wasmtime::component::Type]) -> String {
    let p: Vec<String> = params.iter().map(describe).collect();
    let r: Vec<String> = results.iter().map(describe).collect();
    format!("func({}) -> ({})", p.join(", "), r.join(", "))
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
