//! The in-job call's floor: the same `call-loop` job with the same input,
//! whose dynamic `services.call` import goes straight to one function of a
//! bare instance of the service. What is left is wasmtime's part of an
//! in-job call: the guest's import, reading its three strings in place, a
//! `call_async` into the service's Store, and the string result as JSON
//! text. None of this project's dispatch is on it: no service lookup, no
//! arguments document, no instance lease, call context or statistics.

use super::cluster::{call_loop_input, call_times, CallTimes};
use super::{plugin, BenchError};
use crate::runtime::imports::{WitCallError, SERVICES};
use crate::runtime::job::{JobState, PreparedJob};
use crate::runtime::service::ServiceLookup;
use crate::{JobLimits, ServiceRegistry};
use std::sync::Arc;
use wasmtime::component::{Type, Val, WasmStr};
use wasmtime::StoreContextMut;

/// A `call-loop` job linked to one function of a bare service instance.
pub struct CallFloor {
    job: Arc<PreparedJob>,
    registry: ServiceRegistry,
    label: String,
}

impl CallFloor {
    /// Links `call-loop` to `method` of a new instance of `service`; the
    /// method takes nothing and returns a string (hello-world's sayHello).
    pub async fn new(registry: &ServiceRegistry, service: &str, method: &str) -> Result<Self, BenchError> {
        let label = format!("the call floor on {service}.{method}");
        let fail = |e: String| BenchError(format!("{label}: {e}"));
        let svc = registry.lookup().find(service).ok_or_else(|| fail("no such service".into()))?;
        let (instance, func) = svc.bare_instance(method).await.map_err(|e| fail(e.to_string()))?;
        let ty = func.ty(&instance);
        if ty.params().len() != 0 || !matches!(ty.results().collect::<Vec<_>>().as_slice(), [Type::String]) {
            return Err(fail("it must take no arguments and return a string".into()));
        }
        let instance = Arc::new(tokio::sync::Mutex::new(instance));
        let bytes = plugin("call-loop")?;
        let job = registry
            .runtime()
            .prepare_job_relinked(&bytes, |linker| {
                linker.instance(SERVICES)?.func_wrap_async(
                    "call",
                    move |store: StoreContextMut<'_, JobState>, (service, method, args): (WasmStr, WasmStr, WasmStr)| {
                        let instance = instance.clone();
                        Box::new(async move {
                            // Read in place, as the job's own import does.
                            let read = service.to_str(&store)?.len() + method.to_str(&store)?.len() + args.to_str(&store)?.len();
                            std::hint::black_box(read);
                            let mut instance = instance.lock().await;
                            let mut results = [Val::Bool(false)];
                            func.call_async(&mut *instance, &[], &mut results).await?;
                            let Val::String(s) = &results[0] else { return Err(wasmtime::Error::msg("the result is not a string")) };
                            Ok((Ok::<String, WitCallError>(serde_json::to_string(s)?),))
                        })
                    },
                )
            })
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self { job, registry: registry.clone(), label })
    }

    /// `count` calls timed inside one job, as `Cluster::in_job_calls` does.
    pub async fn calls(&self, service: &str, count: u64) -> Result<CallTimes, BenchError> {
        let lookup: Arc<dyn ServiceLookup> = self.registry.lookup();
        let running = self.registry.runtime().start_job(self.job.clone(), call_loop_input(service, count), JobLimits::default(), lookup);
        call_times(running, &self.label).await
    }
}
