//! Ringway core types shared by every crate: classified errors, the clock seam, request ids, the
//! duration grammar, the borrowed view of a request's header fields, and W3C trace context.
//!
//! Nothing here does I/O; the data plane, policy crates and analytics all build on these.

mod duration;
mod error;
mod fields;
mod request_id;
mod time;
mod trace;

pub use duration::parse_duration;
pub use error::{reason_phrase, ErrorKind, Side};
pub use fields::HeaderFields;
pub use request_id::{RequestId, RequestIdGen, REQUEST_ID_MAX_LEN};
pub use time::{Clock, ManualClock, SystemClock};
pub use trace::{parse_traceparent, Parent, TraceContext, TRACEPARENT_LEN};
