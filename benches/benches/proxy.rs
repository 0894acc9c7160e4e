//! Placeholder until the proxy benches land.
fn main() {}
