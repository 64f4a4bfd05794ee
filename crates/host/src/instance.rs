//! An instance kept between calls (a session's), on its own below `run`, which fills and empties
//! it, and `sessions`, which holds it: neither needs the other.

use std::time::Instant;

use wasmtime::Store;
use wasmtime::component;

use crate::state::InvocationState;

/// An instance and its store, between calls.
pub(crate) struct Instance {
    pub(crate) store: Store<InvocationState>,
    pub(crate) instance: component::Instance,
    pub(crate) created: Instant,
}

impl Instance {
    /// When it was created.
    pub(crate) fn created(&self) -> Instant {
        self.created
    }
}
