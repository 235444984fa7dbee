//! The marketplace's rules: value types, entities, commands, events and errors.
//!
//! Everything here is pure: no I/O, and nothing of actix, sled, serde or the clock. Time and
//! fresh ids are passed in by the caller, and the store and the HTTP layer each convert these
//! types to their own records and DTOs, so no derive here can change the disk format or the
//! API. Each entity module has a `decide` (state + command -> at most one event, or a
//! `DomainError`) and an `evolve` (state + event -> state) that the live actors and the
//! start-up replay share, so the two cannot drift apart.

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
