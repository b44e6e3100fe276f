//! The host side of the `regcenter:job` interfaces that both jobs and
//! services import: `services` (dynamic calls, listing) and the WIT types
//! they carry. `log` and `channel` differ between jobs and services and live
//! with their Store data ([`super::job`], [`super::service`]).

use crate::error::CallError;
use crate::limits::MAX_ARGS_BYTES;
use crate::runtime::service::{CallCtx, ServiceInfo, ServiceLookup};
use std::sync::Arc;
use wasmtime::component::{ComponentType, Lift, Linker, Lower, WasmStr};
use wasmtime::StoreContextMut;
use wasmtime_wasi::WasiView;

/// Versioned names of the interfaces, as guests import them.
pub const SERVICES: &str = "regcenter:job/services@0.1.0";
/// The shared types interface.
pub const TYPES: &str = "regcenter:job/types@0.1.0";
/// The job's stream with its requester.
pub const CHANNEL: &str = "regcenter:job/channel@0.1.0";
/// Logging.
pub const LOG: &str = "regcenter:job/log@0.1.0";

/// What Store data must offer for the shared imports.
pub trait GuestHost: WasiView + 'static {
    /// The services around the guest (gone when the registry is dropped).
    fn lookup(&self) -> Option<Arc<dyn ServiceLookup>>;
    /// The context for a call the guest makes now, or why it may not call.
    fn call_ctx(&self) -> Result<CallCtx, CallError>;
    /// The guest's name in logs.
    fn label(&self) -> &Arc<str>;
}

/// WIT `call-error`.
#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(variant)]
pub enum WitCallError {
    #[component(name = "service-not-found")]
    ServiceNotFound(String),
    #[component(name = "method-not-found")]
    MethodNotFound(String),
    #[component(name = "invalid-args")]
    InvalidArgs(String),
    #[component(name = "service-error")]
    ServiceError(String),
    #[component(name = "trapped")]
    Trapped(String),
    #[component(name = "refused")]
    Refused(String),
}

impl From<CallError> for WitCallError {
    fn from(e: CallError) -> Self {
        let msg = e.to_string();
        match e {
            CallError::ServiceNotFound { .. } => Self::ServiceNotFound(msg),
            CallError::MethodNotFound { .. } => Self::MethodNotFound(msg),
            CallError::InvalidArgs { .. } => Self::InvalidArgs(msg),
            CallError::ServiceError { payload } => Self::ServiceError(payload.to_string()),
            CallError::Trapped { .. } => Self::Trapped(msg),
            CallError::Refused { .. } => Self::Refused(msg),
        }
    }
}

/// WIT `service-info`.
#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub struct WitServiceInfo {
    name: String,
    version: String,
    interfaces: Vec<String>,
    metadata: Vec<(String, String)>,
}

impl From<ServiceInfo> for WitServiceInfo {
    fn from(i: ServiceInfo) -> Self {
        Self { name: i.name, version: i.version, interfaces: i.interfaces, metadata: i.metadata.into_iter().collect() }
    }
}

/// WIT `level`.
#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[component(enum)]
#[repr(u8)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[component(name = "trace")]
    Trace,
    #[component(name = "debug")]
    Debug,
    #[component(name = "info")]
    Info,
    #[component(name = "warn")]
    Warn,
    #[component(name = "error")]
    Error,
}

/// Writes a guest's log line to the host log.
pub fn trace_guest_log(label: &str, level: Level, message: &str) {
    match level {
        Level::Trace => tracing::trace!(target: "regcenter::guest", guest = label, "{message}"),
        Level::Debug => tracing::debug!(target: "regcenter::guest", guest = label, "{message}"),
        Level::Info => tracing::info!(target: "regcenter::guest", guest = label, "{message}"),
        Level::Warn => tracing::warn!(target: "regcenter::guest", guest = label, "{message}"),
        Level::Error => tracing::error!(target: "regcenter::guest", guest = label, "{message}"),
    }
}

/// One dynamic call: `args` is JSON text.
pub async fn call_json_text(
    lookup: Option<Arc<dyn ServiceLookup>>,
    ctx: CallCtx,
    service: &str,
    method: &str,
    args: &str,
) -> Result<String, CallError> {
    let lookup = lookup.ok_or_else(|| CallError::Refused { message: "the service registry is shutting down".into() })?;
    let svc = lookup.find(service).ok_or_else(|| CallError::ServiceNotFound { service: service.to_string() })?;
    let invalid = |message: String| CallError::InvalidArgs { service: service.to_string(), method: method.to_string(), message };
    if args.len() > MAX_ARGS_BYTES {
        return Err(invalid(format!("arguments are {} bytes, over the {MAX_ARGS_BYTES}-byte limit", args.len())));
    }
    // No arguments, the most common call, is not parsed.
    let json = match args.trim() {
        "" | "null" => serde_json::Value::Null,
        "[]" => serde_json::Value::Array(Vec::new()),
        _ => serde_json::from_str(args).map_err(|e| invalid(format!("arguments are not JSON: {e}")))?,
    };
    let out = svc.call_json(method, &json, ctx).await?;
    // Straight into bytes: `to_string` would go through `fmt` per character run.
    serde_json::to_string(&out).map_err(|e| CallError::Refused { message: format!("the result could not be encoded as JSON: {e}") })
}

/// Adds `regcenter:job/types` and `regcenter:job/services` to `linker`.
pub fn add_services<T: GuestHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.instance(TYPES)?;
    let mut inst = linker.instance(SERVICES)?;
    inst.func_wrap_async(
        "call",
        |store: StoreContextMut<'_, T>, (service, method, args): (WasmStr, WasmStr, WasmStr)| {
            let lookup = store.data().lookup();
            let ctx = store.data().call_ctx();
            Box::new(async move {
                let result = match ctx {
                    Ok(ctx) => {
                        // Read in place: the guest waits in this call, so
                        // its memory holds still until the call returns.
                        let (service, method, args) = (service.to_str(&store)?, method.to_str(&store)?, args.to_str(&store)?);
                        call_json_text(lookup, ctx, &service, &method, &args).await
                    }
                    Err(e) => Err(e),
                };
                Ok((result.map_err(WitCallError::from),))
            })
        },
    )?;
    inst.func_wrap("list-services", |store: StoreContextMut<'_, T>, (): ()| {
        let list = store.data().lookup().map(|l| l.list()).unwrap_or_default();
        Ok((list.into_iter().map(WitServiceInfo::from).collect::<Vec<_>>(),))
    })?;
    Ok(())
}

/// Adds `regcenter:job/log` for services: lines go to the host log only.
pub fn add_service_log<T: GuestHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.instance(LOG)?.func_wrap("log", |store: StoreContextMut<'_, T>, (level, message): (Level, String)| {
        let message: String = message.chars().take(crate::limits::LOG_LINE_BYTES).collect();
        trace_guest_log(store.data().label(), level, &message);
        Ok(())
    })?;
    Ok(())
}
