//! The admin endpoint.

mod config;

pub use config::AdminConfig;
