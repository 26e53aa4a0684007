//! SQL dialects and connections shared by sources and the replica: `lienthong-store`'s.

pub use lienthong_store::{connect, identifier_ok, text_at, Dialect};

impl From<lienthong_store::StoreError> for crate::SyncError {
    fn from(e: lienthong_store::StoreError) -> Self {
        crate::SyncError::Config(e.to_string())
    }
}
