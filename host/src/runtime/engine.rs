//! The wasmtime engines of a process: one for jobs (Cranelift, pooling
//! allocator, fast instantiation of many short-lived instances), one for
//! jobs seen for the first time (Winch, a baseline compiler that compiles
//! about four times faster into slower code, on-demand allocation: a cold
//! job runs on it while Cranelift compiles it in the background), and one
//! for services (Cranelift, on-demand allocation: few, long-lived, possibly
//! large instances). All use the component model, async calls without the
//! component-model-async concurrency path, epoch interruption, and the
//! on-disk compile cache.

use crate::error::LoadError;
use crate::limits;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use wasmtime::component::Component;
use wasmtime::{Cache, CacheConfig, Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, UpdateDeadline};

/// Bytes of each job slot's linear memory kept resident between jobs.
const JOB_KEEP_RESIDENT: usize = 2 << 20;

/// Settings of the engines.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where compiled artifacts are cached (`None`: no disk cache).
    pub cache_dir: Option<PathBuf>,
    /// Soft size bound of the disk cache, in bytes (oldest entries go first).
    pub cache_bytes: u64,
    /// Concurrent job instances (pooling slots).
    pub job_slots: u32,
    /// The largest memory a job may be given, in bytes (the pool's slot size).
    pub job_memory_max: u64,
    /// Run jobs seen for the first time on baseline (Winch) code while
    /// Cranelift compiles them in the background (`false`: every job waits
    /// for Cranelift).
    pub baseline_jobs: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            cache_dir: default_cache_dir(),
            cache_bytes: limits::DISK_CACHE_BYTES,
            job_slots: limits::JOB_SLOTS,
            job_memory_max: limits::JOB_MEMORY,
            baseline_jobs: true,
        }
    }
}

/// `REGCENTER_CACHE_DIR`, else the user's cache directory.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("REGCENTER_CACHE_DIR") {
        // wasmtime's cache wants an absolute path.
        let dir = PathBuf::from(dir);
        return Some(if dir.is_absolute() { dir } else { std::env::current_dir().map(|cwd| cwd.join(&dir)).unwrap_or(dir) });
    }
    directories::ProjectDirs::from("", "", "regcenter").map(|d| d.cache_dir().join("compiled"))
}

/// What running wasm does at an epoch tick, unless it is to be stopped:
/// runs on within its slice (until `slice_end`), then yields its thread to
/// the runtime's other tasks (see [`limits::WASM_SLICE`]).
pub fn at_tick(now: Instant, slice_end: Instant) -> UpdateDeadline {
    if now < slice_end {
        UpdateDeadline::Continue(1)
    } else {
        UpdateDeadline::Yield(1)
    }
}

/// The two engines and the thread that advances their epochs.
pub struct Engines {
    /// Engine for job instances (optimized code).
    pub jobs: Engine,
    /// Engine for jobs' first runs (baseline code), if enabled.
    pub baseline_jobs: Option<Engine>,
    /// Engine for service instances.
    pub services: Engine,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Engines {
    /// Builds both engines and starts the epoch ticker.
    pub fn new(cfg: &EngineConfig) -> Result<Self, LoadError> {
        let cache = match &cfg.cache_dir {
            Some(dir) => {
                let mut cc = CacheConfig::new();
                cc.with_directory(dir.clone()).with_files_total_size_soft_limit(cfg.cache_bytes);
                match Cache::new(cc) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "compile cache disabled");
                        None
                    }
                }
            }
            None => None,
        };

        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(cfg.job_slots)
            .total_core_instances(cfg.job_slots.saturating_mul(4))
            .total_memories(cfg.job_slots.saturating_mul(2))
            .total_tables(cfg.job_slots.saturating_mul(4))
            .total_stacks(cfg.job_slots)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            .max_memory_size(cfg.job_memory_max as usize)
            // Reset a slot's first pages with memset instead of decommitting
            // them: a fresh job then touches warm pages, not page faults.
            .linear_memory_keep_resident(JOB_KEEP_RESIDENT)
            // Where the kernel can tell (Linux 6.7+), reset only the pages
            // a job dirtied instead of the whole resident prefix.
            .pagemap_scan(Enabled::Auto)
            .table_keep_resident(JOB_KEEP_RESIDENT / 16)
            .async_stack_keep_resident(JOB_KEEP_RESIDENT / 8);
        let mut job_cfg = base_config(cache.clone());
        // With baseline jobs, Cranelift compiles jobs in the background on
        // one low-priority thread (see `tiering`), not on every core.
        job_cfg.parallel_compilation(!cfg.baseline_jobs);
        job_cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let jobs = Engine::new(&job_cfg).map_err(|e| LoadError::Instantiate { message: format!("job engine: {e}") })?;

        let baseline_jobs = if cfg.baseline_jobs {
            let mut cfg = base_config(cache.clone());
            cfg.strategy(wasmtime::Strategy::Winch);
            Some(Engine::new(&cfg).map_err(|e| LoadError::Instantiate { message: format!("baseline job engine: {e}") })?)
        } else {
            None
        };

        let services = Engine::new(&base_config(cache))
            .map_err(|e| LoadError::Instantiate { message: format!("service engine: {e}") })?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engines: Vec<Engine> = [Some(jobs.clone()), baseline_jobs.clone(), Some(services.clone())].into_iter().flatten().collect();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("regcenter-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(limits::EPOCH_TICK);
                        for e in &engines {
                            e.increment_epoch();
                        }
                    }
                })
                .ok()
        };
        Ok(Self { jobs, baseline_jobs, services, stop, ticker })
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

fn base_config(cache: Option<Cache>) -> Config {
    let mut cfg = Config::new();
    cfg.wasm_component_model(true)
        .concurrency_support(false)
        .epoch_interruption(true)
        .cache(cache);
    cfg
}

/// Compiles component bytes after checking size and kind, so that a core
/// module or garbage gets a precise error, and writes its memory images
/// (see [`write_memory_images`]). Blocking: call from a blocking context
/// for large modules.
pub fn compile(engine: &Engine, bytes: &[u8], max: usize) -> Result<Component, LoadError> {
    if bytes.len() > max {
        return Err(LoadError::TooLarge { size: bytes.len(), max });
    }
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(LoadError::Invalid { message: "missing the \\0asm header".into() });
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::CoreModule);
    }
    let component = Component::new(engine, bytes).map_err(|e| LoadError::Invalid { message: format!("{e:#}") })?;
    write_memory_images(&component);
    Ok(component)
}

/// Attempts at writing a component's memory images before leaving it to
/// its first instantiation.
const IMAGE_ATTEMPTS: u64 = 4;

/// Writes the copy-on-write images of the component's linear memories now,
/// in the compile, rather than at its first instantiation. wasmtime writes
/// each image to a memfd and seals it; sealing can fail for a moment
/// ("cannot add seals to the memfd": the kernel still finds the new file's
/// pages referenced elsewhere; seen once, loading an 11.6 MB JavaScript
/// service component). A failed attempt leaves nothing behind, so it is
/// retried here with a new memfd; after the last, the first instantiation
/// tries once more and reports its error.
fn write_memory_images(component: &Component) {
    for attempt in 1..=IMAGE_ATTEMPTS {
        match component.initialize_copy_on_write_image() {
            Ok(()) => return,
            Err(e) => {
                tracing::debug!(attempt, error = %format!("{e:#}"), "memory image not written; trying again");
                std::thread::sleep(std::time::Duration::from_millis(5 * attempt));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wasm_runs_on_within_its_slice_and_yields_after_it() {
        let start = Instant::now();
        let end = start + limits::WASM_SLICE;
        assert!(matches!(at_tick(start, end), UpdateDeadline::Continue(1)), "a run that straddles a tick keeps its thread");
        assert!(matches!(at_tick(end - Duration::from_micros(1), end), UpdateDeadline::Continue(1)));
        assert!(matches!(at_tick(end, end), UpdateDeadline::Yield(1)), "a run past its slice yields");
        assert!(matches!(at_tick(end + Duration::from_secs(1), end), UpdateDeadline::Yield(1)));
    }
}
