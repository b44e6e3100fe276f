//! The runtime a lean (`#![no_std]`) job needs in place of `std`'s: a global
//! allocator (wasi-libc's `malloc`, whose heap starts inside the initial
//! memory, so a short job never grows its memory), `cabi_realloc` for the
//! component ABI, and a panic handler that sends the panic message to the
//! requester as an error log line, then traps. None of it imports WASI.
//!
//! ```text
//! #![no_std]
//! extern crate alloc;
//! job_sdk::lean_runtime!();
//! ```

use crate::{log, Level};
use alloc::format;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, Ordering};

// wasi-libc (shipped with the wasm32-wasip2 target): its allocator and the
// `memcpy` family the compiler emits calls to. None of these import WASI.
#[link(name = "c")]
extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn aligned_alloc(align: usize, size: usize) -> *mut u8;
    fn realloc(ptr: *mut u8, size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
}

/// The largest alignment wasi-libc's `malloc` guarantees.
const MALLOC_ALIGN: usize = 16;

/// The global allocator of a lean job: wasi-libc's `malloc` and `free`.
pub struct LibcAlloc;

unsafe impl GlobalAlloc for LibcAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            malloc(layout.size())
        } else {
            aligned_alloc(layout.align(), layout.size())
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        free(ptr)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            return realloc(ptr, new_size);
        }
        let new = aligned_alloc(layout.align(), new_size);
        if !new.is_null() {
            core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            free(ptr);
        }
        new
    }
}

/// The component ABI's `cabi_realloc` (what [`lean_runtime!`]'s export calls):
/// the host allocates arguments in the job's memory through it. On
/// wasm32-wasip2 a `std` job gets it from `std`, and wit-bindgen compiles its
/// own only for other targets, so a lean job brings this one.
///
/// # Safety
/// The arguments follow the component ABI: `ptr` is null or was returned by
/// this function with `old_size` and `align`.
pub unsafe fn cabi_realloc(ptr: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    let new = if old_size == 0 {
        if new_size == 0 {
            return align as *mut u8;
        }
        alloc::alloc::alloc(Layout::from_size_align_unchecked(new_size, align))
    } else {
        alloc::alloc::realloc(ptr, Layout::from_size_align_unchecked(old_size, align), new_size)
    };
    if new.is_null() {
        core::arch::wasm32::unreachable()
    }
    new
}

/// Set by the first panic: a panic while reporting one traps at once.
static PANICKING: AtomicBool = AtomicBool::new(false);

/// What [`lean_runtime!`]'s panic handler does: logs the message at error
/// level (it reaches the requester like any log line), then traps.
pub fn panicked(info: &core::panic::PanicInfo<'_>) -> ! {
    if !PANICKING.swap(true, Ordering::Relaxed) {
        let msg = match info.location() {
            Some(at) => format!("job panicked at {}:{}: {}", at.file(), at.line(), info.message()),
            None => format!("job panicked: {}", info.message()),
        };
        log(Level::Error, &msg);
    }
    core::arch::wasm32::unreachable()
}

/// Defines the global allocator, `cabi_realloc` and the panic handler of a
/// lean `#![no_std]` job. Use it once, in the job crate.
#[macro_export]
macro_rules! lean_runtime {
    () => {
        #[global_allocator]
        static JOB_SDK_ALLOCATOR: $crate::lean::LibcAlloc = $crate::lean::LibcAlloc;

        #[panic_handler]
        fn job_sdk_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::lean::panicked(info)
        }

        /// The component ABI's allocation entry point (see `job_sdk::lean`).
        ///
        /// # Safety
        /// Called by the host as the component ABI specifies.
        #[no_mangle]
        pub unsafe extern "C" fn cabi_realloc(ptr: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
            $crate::lean::cabi_realloc(ptr, old_size, align, new_size)
        }
    };
}
