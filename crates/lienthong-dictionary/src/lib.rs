//! The shared data dictionary of lienthong: elements, code lists, administrative units,
//! validators and normalisers. Pure: no file, network or clock access (the caller passes
//! "today" in [`validate::Options`]); input arrives as `&str` or `impl BufRead`.

pub mod catalog;
pub mod codes;
pub mod element;
pub mod engine;
pub mod finding;
pub mod input;
pub mod legacy;
mod memo;
pub mod report;
pub mod schema;
pub mod units;
pub mod validate;
pub mod vn;
