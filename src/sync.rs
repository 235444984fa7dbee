//! Taking a std mutex, the one way this crate does it.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering from poisoning: every critical section in this crate leaves
/// its data consistent at each step (an insert, a removal, a swap), so a panic in another
/// holder cannot leave it half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
