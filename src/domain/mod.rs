//! The marketplace's rules: value types, entities, commands, events and errors.
//!
//! Everything here is pure. It may use serde derives (the store encodes these types), but it
//! does no I/O and knows nothing of actix, sled, bincode, serde_json or the clock: time and
//! fresh ids are passed in by the caller. Each entity module has a `decide` (state + command
//! -> at most one event, or a `DomainError`) and an `evolve` (state + event -> state) that
//! the live actors and the start-up replay share, so the two cannot drift apart.

pub mod charge;
pub mod error;
pub mod events;
pub mod ids;
pub mod money;
pub mod order;
pub mod ticket;
pub mod time;
pub mod user;
pub mod version;

#[cfg(test)]
mod tests;
