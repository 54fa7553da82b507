//! Images of this instance's linear memory (`admin.image-*` in the WIT): the fastest way
//! to start a large state again, since loading one is copying pages rather than decoding
//! records and rebuilding indexes.
//!
//! An image is taken and loaded between calls, when the state is at rest: no frame of
//! the core is on the stack, and everything the core holds (its state, the allocator's
//! own bookkeeping, the standard library's statics) is ordinary memory at addresses that
//! are the same in every instance of the same component. Copying every page of one
//! instance into a fresh instance of the same component therefore gives an instance that
//! goes on exactly where the first one stopped. The host keys an image by the
//! component's hash and refuses it for any other build.
//!
//! Three things are never copied: the stack (the export doing the copying runs on it),
//! [`SCRATCH`] and [`CONTROL`]. While a load is in progress, and while one chunk is read
//! out, every allocation (the canonical ABI's buffer for the chunk included) comes from
//! `SCRATCH`, a static buffer, by bumping a pointer, and nothing is freed: the real
//! allocator is not called, so its bookkeeping can be replaced under it and is never
//! half-written in an image. Saving reads the three as zeros.

use maas_core::engine::HEAP_BYTES;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

/// A wasm page.
const PAGE: u64 = 65_536;

/// Most bytes one `image-read` or `image-load` moves.
pub const MAX_CHUNK: u32 = 4 << 20;

/// The chunk buffer, and room for the small allocations around it.
const SCRATCH_BYTES: usize = MAX_CHUNK as usize + (256 << 10);

/// Where allocations go while the allocator proper must not be touched.
#[repr(C, align(64))]
struct Scratch(UnsafeCell<[u8; SCRATCH_BYTES]>);

// SAFETY: the component runs on one thread (wasm32-wasip2 has no threads here); the
// buffer is only reached through `bump`, whose spans never overlap until reset.
unsafe impl Sync for Scratch {}

static SCRATCH: Scratch = Scratch(UnsafeCell::new([0; SCRATCH_BYTES]));

/// The image machinery's own state, never copied by a load.
struct Control {
    /// Allocations come from `SCRATCH`.
    scratch: AtomicBool,
    /// A load is in progress.
    loading: AtomicBool,
    /// The next free byte of `SCRATCH`, as an offset.
    next: AtomicUsize,
    /// Where the next allocation of exactly `place_len` bytes goes (0: nowhere): the
    /// chunk `image-load` is handed next, lowered straight into place.
    place: AtomicUsize,
    place_len: AtomicUsize,
}

static CONTROL: Control = Control {
    scratch: AtomicBool::new(false),
    loading: AtomicBool::new(false),
    next: AtomicUsize::new(0),
    place: AtomicUsize::new(0),
    place_len: AtomicUsize::new(0),
};

unsafe extern "C" {
    // Defined by the linker (wasm-ld): the bounds of the shadow stack.
    static __stack_low: u8;
    static __stack_high: u8;
}

fn scratch_span() -> (usize, usize) {
    let start = SCRATCH.0.get() as usize;
    (start, start + SCRATCH_BYTES)
}

/// Address ranges a load never writes and a save reads as zeros, sorted.
fn skipped() -> [(usize, usize); 4] {
    let stack = (
        &raw const __stack_low as usize,
        &raw const __stack_high as usize,
    );
    let control = &raw const CONTROL as usize;
    let mut spans = [
        // Nothing lives at address 0, and it is not a valid pointer to copy from.
        (0, 16),
        stack,
        scratch_span(),
        (control, control + size_of::<Control>()),
    ];
    spans.sort_unstable();
    spans
}

/// Calls `f(start, end)` for each piece of `[start, end)` outside the skipped ranges.
fn pieces(start: usize, end: usize, mut f: impl FnMut(usize, usize)) {
    let mut at = start;
    for (s, e) in skipped() {
        if e <= at {
            continue;
        }
        if s >= end {
            break;
        }
        if s > at {
            f(at, s);
        }
        at = at.max(e);
    }
    if at < end {
        f(at, end);
    }
}

/// Bytes of linear memory now.
fn memory_bytes() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * PAGE
}

fn reset_scratch() {
    CONTROL.next.store(0, Relaxed);
}

/// `[offset, offset + len)` as addresses, if it lies within linear memory.
fn span(offset: u64, len: usize) -> Result<(usize, usize), String> {
    let end = offset.saturating_add(len as u64);
    if end > memory_bytes() {
        return Err(format!(
            "bytes {offset}..{end} are beyond the instance's {} bytes of memory",
            memory_bytes()
        ));
    }
    // Within memory_bytes(), which fits a wasm32 address.
    Ok((offset as usize, end as usize))
}

/// Reads `len` bytes of linear memory from `offset`; skipped ranges read as zeros.
pub fn read(offset: u64, len: u32) -> Result<Vec<u8>, String> {
    if len > MAX_CHUNK {
        return Err(format!("at most {MAX_CHUNK} bytes at a time, not {len}"));
    }
    let (start, end) = span(offset, len as usize)?;
    if CONTROL.loading.load(Relaxed) {
        return Err("a load is in progress".into());
    }
    // The buffer comes from SCRATCH so the allocator's bookkeeping stays as it was for
    // the whole image; it is returned to the host, and its free is a no-op.
    reset_scratch();
    CONTROL.scratch.store(true, Relaxed);
    let mut out = vec![0u8; end - start];
    pieces(start, end, |s, e| {
        let at = s - start;
        if let Some(dst) = out.get_mut(at..at + (e - s)) {
            // SAFETY: `[s, e)` lies within linear memory (checked by `span`), is not the
            // stack or this module's buffers, and nothing writes it meanwhile.
            let src = unsafe { std::slice::from_raw_parts(s as *const u8, e - s) };
            dst.copy_from_slice(src);
        }
    });
    CONTROL.scratch.store(false, Relaxed);
    Ok(out)
}

/// Starts a load of `memory_bytes` bytes: grows memory to that size; returns the size
/// before, below which every page must be loaded.
pub fn load_begin(memory_bytes_wanted: u64) -> Result<u64, String> {
    if CONTROL.loading.load(Relaxed) {
        return Err("a load is already in progress".into());
    }
    if !memory_bytes_wanted.is_multiple_of(PAGE) {
        return Err(format!(
            "{memory_bytes_wanted} bytes is not a whole number of pages"
        ));
    }
    let had = memory_bytes();
    if memory_bytes_wanted < had {
        return Err(format!(
            "the image's {memory_bytes_wanted} bytes are fewer than this instance's {had}"
        ));
    }
    let grow = ((memory_bytes_wanted - had) / PAGE) as usize;
    if grow > 0 && core::arch::wasm32::memory_grow(0, grow) == usize::MAX {
        return Err(format!("memory cannot grow to {memory_bytes_wanted} bytes"));
    }
    reset_scratch();
    CONTROL.loading.store(true, Relaxed);
    CONTROL.scratch.store(true, Relaxed);
    Ok(had)
}

/// Has the next allocation of exactly `len` bytes (the chunk the next `load` is given)
/// come straight from `[offset, offset + len)` when that range skips nothing; returns
/// whether it will.
pub fn load_place(offset: u64, len: u32) -> Result<bool, String> {
    if !CONTROL.loading.load(Relaxed) {
        return Err("no load in progress: call image-load-begin first".into());
    }
    let (start, end) = span(offset, len as usize)?;
    let clear = start < end && skipped().iter().all(|&(s, e)| e <= start || s >= end);
    let (at, n) = if clear { (start, end - start) } else { (0, 0) };
    CONTROL.place.store(at, Relaxed);
    CONTROL.place_len.store(n, Relaxed);
    Ok(clear)
}

/// Copies `data` to linear memory at `offset`, outside the skipped ranges.
pub fn load(offset: u64, data: Vec<u8>) -> Result<(), String> {
    if !CONTROL.loading.load(Relaxed) {
        return Err("no load in progress: call image-load-begin first".into());
    }
    if data.len() > MAX_CHUNK as usize {
        return Err(format!("at most {MAX_CHUNK} bytes at a time"));
    }
    let (start, end) = span(offset, data.len())?;
    if data.as_ptr() as usize == start {
        // Lowered straight into place (`load_place`): already where it belongs, and never
        // freed (frees are no-ops while loading).
        std::mem::forget(data);
        reset_scratch();
        return Ok(());
    }
    pieces(start, end, |s, e| {
        let at = s - start;
        if let Some(src) = data.get(at..at + (e - s)) {
            // SAFETY: `[s, e)` lies within linear memory (checked by `span`) and is not
            // the stack, SCRATCH (where `data` is) or CONTROL, so no live Rust value is
            // written: what it overwrites belongs to the state being replaced, which no
            // code reads until the load finishes.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), s as *mut u8, e - s) };
        }
    });
    drop(data);
    reset_scratch();
    Ok(())
}

/// Ends a load: the allocator proper, now the image's, serves allocations again.
pub fn load_finish() -> Result<(), String> {
    if !CONTROL.loading.load(Relaxed) {
        return Err("no load in progress: call image-load-begin first".into());
    }
    CONTROL.scratch.store(false, Relaxed);
    CONTROL.loading.store(false, Relaxed);
    Ok(())
}

/// The component's allocator: the system allocator, except while an image is read or
/// loaded, when allocations come from `SCRATCH` and frees are no-ops.
pub struct ImageAlloc;

fn in_scratch(ptr: *mut u8) -> bool {
    let (start, end) = scratch_span();
    (start..end).contains(&(ptr as usize))
}

/// A span of `layout` from `SCRATCH`, or null when it is used up; the place asked for
/// by `load_place` when it is of that size.
fn bump(layout: Layout) -> *mut u8 {
    let place = CONTROL.place.swap(0, Relaxed);
    if place != 0 && CONTROL.place_len.load(Relaxed) == layout.size() && layout.align() == 1 {
        return place as *mut u8;
    }
    let (start, _) = scratch_span();
    let next = CONTROL.next.load(Relaxed);
    let align = layout.align().max(1);
    let at = (start + next).next_multiple_of(align) - start;
    match at.checked_add(layout.size()) {
        Some(end) if end <= SCRATCH_BYTES => {
            CONTROL.next.store(end, Relaxed);
            (start + at) as *mut u8
        }
        _ => std::ptr::null_mut(),
    }
}

// SAFETY: outside scratch mode every call is forwarded to `System` with its own
// arguments; in scratch mode spans come from `bump`, never overlap, are aligned as asked
// and are never handed to `System`.
/// `ptr`, after counting in [`HEAP_BYTES`] that `size` bytes replace `freed` when the
/// system allocator gave it (the core refuses growth by what the heap holds).
fn held(ptr: *mut u8, size: usize, freed: usize) -> *mut u8 {
    if !ptr.is_null() {
        HEAP_BYTES.fetch_add(size, Relaxed);
        HEAP_BYTES.fetch_sub(freed, Relaxed);
    }
    ptr
}

unsafe impl GlobalAlloc for ImageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if CONTROL.scratch.load(Relaxed) {
            bump(layout)
        } else {
            // SAFETY: forwarded as given.
            held(unsafe { System.alloc(layout) }, layout.size(), 0)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if CONTROL.scratch.load(Relaxed) {
            let ptr = bump(layout);
            if !ptr.is_null() {
                // SAFETY: `bump` returned `layout.size()` bytes of SCRATCH.
                unsafe { std::ptr::write_bytes(ptr, 0, layout.size()) };
            }
            ptr
        } else {
            // SAFETY: forwarded as given.
            held(unsafe { System.alloc_zeroed(layout) }, layout.size(), 0)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_scratch(ptr) || CONTROL.scratch.load(Relaxed) {
            return;
        }
        // SAFETY: `ptr` came from `System` (it is not in SCRATCH) with this layout.
        unsafe { System.dealloc(ptr, layout) }
        HEAP_BYTES.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if in_scratch(ptr) || CONTROL.scratch.load(Relaxed) {
            // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid
            // layout.
            let new =
                unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
            if !new.is_null() {
                // SAFETY: both spans hold at least the smaller size and do not overlap.
                unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            }
            return new;
        }
        // SAFETY: forwarded as given.
        held(
            unsafe { System.realloc(ptr, layout, new_size) },
            new_size,
            layout.size(),
        )
    }
}
