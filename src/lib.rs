//! ticketing: a ticket marketplace in one process.
pub mod domain;
pub mod payments;
