//! # ddsql-sql: the ksqlDB dialect front end
//!
//! Text becomes a running query in three steps, each its own module:
//!
//! 1. [`parser`] turns text into the syntax tree of [`ast`], with positions;
//! 2. [`binder`] resolves names against the [`catalog`] and types every
//!    expression, producing a [`binder::BoundStatement`] whose queries are
//!    logical [`plan`]s;
//! 3. the engine crate lowers those plans to differential dataflow.
//!
//! [`eval`] holds the semantics of scalar expressions, shared by the engine
//! and the binder (which folds constants such as `INSERT ... VALUES`).
//! Nothing here knows about timely, Kafka or files.
//!
//! ```
//! use ddsql_sql::{binder::{bind, BoundStatement}, catalog::{Catalog, NoTopics}, parser::parse};
//!
//! let mut catalog = Catalog::default();
//! let script = "
//!     create stream orders (user_id bigint key, order_id bigint)
//!       with (kafka_topic='orders', value_format='JSON', partitions=1);
//!     create table first_orders as
//!       select user_id, min(order_id) as first_order from orders group by user_id;";
//! for statement in parse(script).unwrap() {
//!     let bound = bind(&catalog, &NoTopics, &Default::default(), &statement).unwrap();
//!     catalog.apply(&bound);
//! }
//! let table = catalog.source("FIRST_ORDERS").unwrap();
//! assert_eq!(table.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["USER_ID", "FIRST_ORDER"]);
//! assert_eq!(catalog.queries()[0].id, "CTAS_FIRST_ORDERS_0");
//! ```

pub mod ast;
pub mod binder;
pub mod catalog;
pub mod error;
pub mod eval;
pub mod explain;
pub mod functions;
pub mod parser;
pub mod plan;
pub mod properties;
pub mod types;
pub mod variables;

pub use error::{Pos, SqlError};
