pub mod legacy;
pub mod vn;
