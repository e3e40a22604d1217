//! Placeholder; replaced by the crate's own docs.
#![forbid(unsafe_code)]
