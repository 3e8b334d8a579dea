//! The event bodies now live in the registry core; the service names them from there.

pub use crate::registry::bodies::*;
