//! Placeholder: the telemetry helper fills this in.
pub mod record;
