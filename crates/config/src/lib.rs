//! Ringway configuration: the YAML file shape, compiled into the checked runtime shape
//! ([`model`]), with every problem reported at once with its path.

pub mod model;
