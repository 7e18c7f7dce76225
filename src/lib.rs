//! The `ddsql` application: wiring of the front end (`ddsql-sql`), the
//! engine and the connectors into a [`Session`] that executes scripts
//! against a data directory.

pub mod print;
pub mod qtt;
pub mod render;
pub mod server;
pub mod session;
pub mod shell;
pub mod test_runner;
pub mod topics;

pub use session::{ScriptError, Session};

/// Tunes mimalloc (the binaries' allocator) for a dataflow: keep freed
/// memory for a second before returning it to the OS. Rows are allocated
/// and freed in waves, one batch at a time; with mimalloc's default 10 ms
/// the same pages went back to the kernel and were faulted in (and zeroed)
/// again between batches: first-order spent about a sixth of its time in
/// page faults (see bench/NOTES.md). `MIMALLOC_PURGE_DELAY` in the
/// environment still wins.
pub fn tune_allocator() {
    // mimalloc's `mi_option_purge_delay` (the same in its v2 and v3 headers).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a process-wide option; mimalloc reads options
        // atomically, so this is sound at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    }
}
