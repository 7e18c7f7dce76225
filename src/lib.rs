//! The `ddsql` application: wiring of the front end (`ddsql-sql`), the
//! engine and the connectors into a [`Session`] that executes scripts
//! against a data directory.

pub mod qtt;
pub mod render;
pub mod server;
pub mod session;
pub mod shell;
pub mod test_runner;

pub use session::{ScriptError, Session};
