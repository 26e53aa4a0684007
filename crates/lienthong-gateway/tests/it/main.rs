//! A registry and two nodes on loopback over real mutual TLS, with a dataset published from a
//! real SQLite table (and PostgreSQL / MariaDB tables when their URLs are set).

mod attacks;
mod clientauth;
mod exchange;
mod guarantees;
mod harness;
mod msglog;
mod passthrough;
mod tables;
mod traces;
mod witness;
mod xroad;
