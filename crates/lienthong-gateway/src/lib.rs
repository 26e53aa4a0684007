//! The exchange. A node has two faces: the client face speaks the X-Road message protocol for
//! REST (PR-REST r1) to the agency's own systems; the peer face speaks lienthong's node-to-node
//! protocol `lt1` (docs/protocol.md) over mutual TLS 1.3 with Ed25519-signed requests and
//! responses (batch signatures: one per batch of messages, `batchsig`) bound by a request
//! hash. The provider checks identity, signature, replay window
//! and agreement (consumer, service, purpose, validity) before its backend is touched, and
//! returns only the fields the agreement allows.

pub mod answer;
pub mod backend;
pub mod batchsig;
pub mod documents;
pub mod error;
pub mod incident;
pub mod metadata;
pub mod msglog;
pub mod node;
pub mod protocol;
pub mod record;
pub mod snapshot;
pub mod telemetry;
pub mod trace;
pub mod witness;
