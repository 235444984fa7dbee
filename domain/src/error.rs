//! Why a command was refused: the business outcomes callers match on by variant.
//!
//! Messages are the exact texts clients see (DESIGN §4); `http::error` picks the status.

/// A rule of the marketplace forbids the command in the entity's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The ticket is held by an order or sold.
    #[error("Ticket is already reserved")]
    AlreadyReserved,
    /// An edit of a held or sold ticket.
    #[error("Cannot edit a reserved ticket")]
    TicketReserved,
    /// A buyer tried to order a ticket they listed themselves.
    #[error("You cannot order your own ticket")]
    OwnTicket,
    /// The caller does not own the entity.
    #[error("Not authorized")]
    NotOwner,
    /// An edit that named a version (If-Match) other than the current one.
    #[error("The ticket has changed since you read it")]
    VersionMismatch,
    /// Cancelling an order that has been paid.
    #[error("Cannot cancel a paid order")]
    OrderPaid,
    /// Cancelling an order while its payment is being processed.
    #[error("A payment for this order is in progress")]
    PaymentInFlight,
    /// Paying an order that was cancelled or whose hold expired.
    #[error("Order is cancelled")]
    OrderCancelled,
    /// A buyer who already holds as many tickets as one buyer may (DESIGN §8).
    #[error(
        "You already hold {0} tickets, the most one buyer may hold at once: pay for or cancel one first"
    )]
    TooManyHolds(u32),
    /// A withdrawal of a held or sold ticket.
    #[error("Cannot withdraw a reserved ticket")]
    WithdrawReserved,
    /// Any command on a ticket its seller withdrew: it is gone, as if it never existed.
    #[error("Ticket not found")]
    TicketWithdrawn,
    /// An operator's refund of an order that was never paid.
    #[error("Only a paid order can be refunded")]
    OrderNotPaid,
    /// A follow-up naming an order that does not hold the ticket (a bug elsewhere).
    #[error("Ticket is not held by this order")]
    NotHeldByOrder,
}
