//! Record linkage for person data, Fellegi–Sunter style, aware of Vietnamese names, dates,
//! personal ids and the 2025 administrative reorganisation.
//!
//! The path: a [`model::Model`] (TOML) is bound to an input's fields as a
//! [`schema::Schema`]; each record, already normalised by the dictionary, is
//! [`schema::Schema::prepare`]d once; [`block`] produces candidate pairs (the union of the
//! blocking rules, each pair once); [`score::Scorer`] weighs them; [`link::dedupe`] and
//! [`cluster::clusters`] find duplicates, [`link::link`] links to a register;
//! [`train::train`] estimates the parameters.
//!
//! **Invariant:** no I/O, clock or environment; deterministic for a seed whatever the
//! number of threads.

pub mod block;
pub mod cluster;
pub mod compare;
pub mod link;
pub mod model;
pub mod schema;
pub mod score;
pub mod text;
pub mod train;

pub use compare::Kind;
pub use model::Model;
pub use schema::{Prepared, Schema};
pub use score::Scorer;
