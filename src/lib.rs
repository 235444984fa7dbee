//! ticketing: a ticket marketplace in one process.
pub mod actors;
pub mod clock;
pub mod domain;
pub mod store;
