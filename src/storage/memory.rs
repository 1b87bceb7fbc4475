//! The in-memory backend (to be written).

/// Everything in process memory.
#[derive(Debug, Default)]
pub struct MemoryStorage {}
