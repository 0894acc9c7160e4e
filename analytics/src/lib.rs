//! Placeholder: the analytics helper fills this in.
