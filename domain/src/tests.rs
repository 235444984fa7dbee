//! Given / when / then tests of the pure rules: fold the given events with `evolve`, run
//! `decide`, compare the event or the error variant.

use super::charge::{self, ChargeStatus};
use super::charge::{CardToken, ChargeOutcome};
use super::error::DomainError;
use super::events::{Event, FollowUp};
use super::ids::{ChargeId, OrderId, RawId, TicketId, UserId};
use super::money::Price;
use super::order::{self, OrderCommand, OrderStatus};
use super::ticket::{self, Ticket, TicketChange, TicketCommand, TicketStatus, Title};
use super::time::Timestamp;
use super::user::{Email, Password};
use super::version::Version;

fn seller() -> UserId {
    UserId::new(RawId::from_parts(1, 1))
}
fn buyer() -> UserId {
    UserId::new(RawId::from_parts(1, 2))
}
fn ticket_id() -> TicketId {
    TicketId::new(RawId::from_parts(2, 1))
}
fn order_id(n: u64) -> OrderId {
    OrderId::new(RawId::from_parts(3, n))
}
fn charge_id() -> ChargeId {
    ChargeId::new(RawId::from_parts(4, 1))
}
fn price(text: &str) -> Price {
    Price::parse(text).expect("test prices are valid")
}
fn title(text: &str) -> Title {
    Title::parse(text).expect("test titles are valid")
}
const DEADLINE: u64 = 1_000_000;
/// How long past the hold's deadline a payment may wait on the buyer's authentication.
const GRACE_SECS: u64 = 300;

fn listed() -> Event {
    ticket::create(ticket_id(), seller(), title("Concert"), price("20"))
}
fn reserve(n: u64, by: UserId) -> ticket::Reservation {
    ticket::Reservation {
        order_id: order_id(n),
        buyer: by,
        expires_at: Timestamp::from_millis(DEADLINE),
    }
}

/// Folds `given` into a ticket and reserves it.
fn check_reserve(given: &[Event], when: ticket::Reservation) -> Result<Event, DomainError> {
    let state = given
        .iter()
        .fold(None, ticket::evolve)
        .expect("given events create the ticket");
    ticket::reserve(&state, when).map(Event::OrderCreated)
}

/// Folds `given` into a ticket, runs `when`, and returns what `decide` said.
fn check_ticket(given: &[Event], when: TicketCommand) -> Result<Option<Event>, DomainError> {
    let state = given
        .iter()
        .fold(None, ticket::evolve)
        .expect("given events create the ticket");
    ticket::decide(&state, when)
}

/// Folds `given` into an order, runs `when`, and returns what `decide` said.
fn check_order(given: &[Event], when: OrderCommand) -> Result<Option<Event>, DomainError> {
    let state = given
        .iter()
        .fold(None, order::evolve)
        .expect("given events create the order");
    order::decide(&state, when)
}

fn fold_ticket(events: &[Event]) -> Ticket {
    events
        .iter()
        .fold(None, ticket::evolve)
        .expect("events create the ticket")
}

fn reserved(n: u64) -> Event {
    check_reserve(&[listed()], reserve(n, buyer())).expect("a listed ticket can be reserved")
}

/// The sale of a ticket reserved by order `n` (`reserved(n)`).
fn marked_sold(n: u64) -> Event {
    check_ticket(
        &[listed(), reserved(n)],
        TicketCommand::MarkSold {
            order_id: order_id(n),
        },
    )
    .expect("the holder may mark it sold")
    .expect("a sale is an event")
}

#[test]
fn prices_are_parsed_to_cents_without_floats() {
    assert_eq!(price("19.99").cents(), 1999);
    assert_eq!(price("20").cents(), 2000);
    assert_eq!(price("20.5").cents(), 2050);
    assert_eq!(price("0.50").cents(), 50);
    assert_eq!(price("999999.99").cents(), 99_999_999);
    for bad in [
        "0.49", "1000000", "19.999", "-5", "", ".5", "5.", "1e3", " 5", "abc", "5.5.5",
    ] {
        assert!(Price::parse(bad).is_err(), "{bad:?} must be refused");
    }
    assert_eq!(price("19.9").to_string(), "19.90");
}

#[test]
fn emails_are_trimmed_and_lower_cased() {
    let email = Email::parse("  Alice@Example.COM ").expect("valid");
    assert_eq!(email.as_str(), "alice@example.com");
    for bad in [
        "",
        "alice",
        "alice@",
        "@example.com",
        "a@b",
        "a b@example.com",
        "a@@b.com",
        "a@b..com",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn passwords_count_characters_and_never_show_in_debug() {
    assert!(Password::parse("1234567").is_err());
    assert!(Password::parse("12345678").is_ok());
    assert!(
        Password::parse(&"é".repeat(128)).is_ok(),
        "128 characters, 256 bytes"
    );
    assert!(Password::parse(&"x".repeat(129)).is_err());
    let debug = format!("{:?}", Password::parse("secret-password").expect("valid"));
    assert!(!debug.contains("secret"), "{debug}");
}

#[test]
fn titles_are_trimmed_and_count_unicode_characters() {
    assert_eq!(title("  Gig  ").as_str(), "Gig");
    assert!(Title::parse("   ").is_err());
    assert!(Title::parse(&"ü".repeat(200)).is_ok());
    assert!(Title::parse(&"ü".repeat(201)).is_err());
}

#[test]
fn titles_refuse_control_direction_changing_and_invisible_characters() {
    use crate::ticket::InvalidTitle;
    let refused = [
        ("Gig\u{0007}night", "a control character"),
        ("Gig\nnight", "a line break"),
        ("Gig \u{202E}thgin", "a right-to-left override"),
        ("Gig \u{2067}night\u{2069}", "an isolate"),
        ("G\u{200B}ig", "a zero-width space"),
        ("Gig\u{200D}", "a zero-width joiner"),
        ("\u{FEFF}Gig", "a byte order mark"),
        ("Gig\u{2060}night", "a word joiner"),
    ];
    for (text, why) in refused {
        assert_eq!(Title::parse(text), Err(InvalidTitle::Characters), "{why}");
    }
    assert_eq!(Title::parse(""), Err(InvalidTitle::Length));
    // Letters of every script, emoji and accents are titles like any other.
    for text in [
        "Résumé ✓",
        "東京ドーム",
        "مباراة",
        "🎸 Gig",
        "Ωmega",
        "I ❤\u{FE0F} jazz",
    ] {
        assert!(Title::parse(text).is_ok(), "{text}");
    }
}

#[test]
fn card_tokens_are_trimmed_and_bounded() {
    assert_eq!(
        CardToken::parse("  tok_visa ").map(CardToken::into_string),
        Ok("tok_visa".to_owned())
    );
    let longest = "t".repeat(CardToken::MAX_LEN);
    assert!(CardToken::parse(&longest).is_ok());
    for bad in ["", "   ", &format!("{longest}t")] {
        assert!(CardToken::parse(bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn ids_are_24_lowercase_hex_and_sort_by_time() {
    let early = RawId::from_parts(5, 999);
    let late = RawId::from_parts(6, 0);
    assert!(early < late);
    assert!(early.to_string() < late.to_string());
    assert_eq!(RawId::parse(&early.to_string()), Ok(early));
    assert_eq!(
        RawId::from_parts(0x0102_0304_05ab, 0xcdef).to_string(),
        "0102030405ab00000000cdef"
    );
    for bad in [
        "",
        "abc",
        "ABCDEFABCDEFABCDEFABCDEF",
        "zzzzzzzzzzzzzzzzzzzzzzzz",
        "0123456789abcdef012345678",
    ] {
        assert!(RawId::parse(bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn reserving_a_free_ticket_creates_the_order_and_holds_the_ticket() {
    let event = reserved(1);
    let ticket = fold_ticket(&[listed(), event.clone()]);
    assert_eq!(ticket.order_id, Some(order_id(1)));
    assert_eq!(ticket.version, Version::new(1));
    let order = order::evolve(None, &event).expect("OrderCreated creates the order");
    assert_eq!(order.status, OrderStatus::Created);
    assert_eq!(order.ticket.price, price("20"));
    assert_eq!(order.version, Version::INITIAL);
}

#[test]
fn a_held_ticket_cannot_be_reserved_edited_or_bought_by_its_seller() {
    let given = [listed(), reserved(1)];
    assert_eq!(
        check_reserve(&given, reserve(2, buyer())),
        Err(DomainError::AlreadyReserved)
    );
    let edit = TicketCommand::Update {
        by: seller(),
        title: title("New"),
        price: price("30"),
        expected: None,
    };
    assert_eq!(check_ticket(&given, edit), Err(DomainError::TicketReserved));
    assert_eq!(
        check_reserve(&[listed()], reserve(1, seller())),
        Err(DomainError::OwnTicket)
    );
}

#[test]
fn edits_need_the_owner_and_the_current_version() {
    let edit = |by, expected| TicketCommand::Update {
        by,
        title: title("New"),
        price: price("30"),
        expected,
    };
    assert_eq!(
        check_ticket(&[listed()], edit(buyer(), None)),
        Err(DomainError::NotOwner)
    );
    assert_eq!(
        check_ticket(&[listed()], edit(seller(), Some(Version::new(7)))),
        Err(DomainError::VersionMismatch)
    );
    let event = check_ticket(&[listed()], edit(seller(), Some(Version::INITIAL)))
        .expect("owner may edit")
        .expect("an edit is an event");
    let ticket = fold_ticket(&[listed(), event]);
    assert_eq!(
        (
            ticket.title.as_str(),
            ticket.price.cents(),
            ticket.version.get()
        ),
        ("New", 3000, 1)
    );
}

#[test]
fn only_the_holding_order_releases_the_ticket() {
    let first = reserved(1);
    let release_first = check_ticket(
        &[listed(), first.clone()],
        TicketCommand::Release {
            order_id: order_id(1),
        },
    )
    .expect("release is accepted")
    .expect("the holder's release changes the ticket");
    let rereserved = check_reserve(
        &[listed(), first.clone(), release_first.clone()],
        reserve(2, buyer()),
    )
    .expect("free again");
    let given = [listed(), first, release_first, rereserved];
    // An old cancellation must not free the newer buyer's hold (DESIGN §7.4).
    assert_eq!(
        check_ticket(
            &given,
            TicketCommand::Release {
                order_id: order_id(1)
            }
        ),
        Ok(None)
    );
    assert_eq!(fold_ticket(&given).version, Version::new(3));
}

#[test]
fn a_ticket_update_is_told_apart_as_an_edit_a_release_or_a_sale() {
    let change = |given: &[Event], when: TicketCommand| {
        let before = fold_ticket(given);
        match check_ticket(given, when) {
            Ok(Some(Event::TicketUpdated(e))) => TicketChange::of(&e, &before),
            other => panic!("expected a TicketUpdated, got {other:?}"),
        }
    };
    let held = [listed(), reserved(1)];
    let edit = TicketCommand::Update {
        by: seller(),
        title: title("New"),
        price: price("30"),
        expected: None,
    };
    assert_eq!(change(&[listed()], edit), TicketChange::Edited);
    let release = TicketCommand::Release {
        order_id: order_id(1),
    };
    assert_eq!(change(&held, release), TicketChange::Released);
    let sale = TicketCommand::MarkSold {
        order_id: order_id(1),
    };
    assert_eq!(change(&held, sale), TicketChange::Sold);
}

#[test]
fn only_the_owner_withdraws_a_free_ticket_and_then_it_is_gone() {
    let withdraw = |by| TicketCommand::Withdraw { by };
    assert_eq!(
        check_ticket(&[listed()], withdraw(buyer())),
        Err(DomainError::NotOwner)
    );
    assert_eq!(
        check_ticket(&[listed(), reserved(1)], withdraw(seller())),
        Err(DomainError::WithdrawReserved)
    );
    let withdrawn = check_ticket(&[listed()], withdraw(seller()))
        .expect("the owner may withdraw")
        .expect("a withdrawal is an event");
    let given = [listed(), withdrawn];
    let ticket = fold_ticket(&given);
    assert_eq!(
        (ticket.status(), ticket.version, ticket.is_for_sale()),
        (TicketStatus::Withdrawn, Version::new(1), false)
    );
    // Gone for every command, the owner's included.
    assert_eq!(
        check_ticket(&given, withdraw(seller())),
        Err(DomainError::TicketWithdrawn)
    );
    let edit = TicketCommand::Update {
        by: seller(),
        title: title("Back"),
        price: price("30"),
        expected: None,
    };
    assert_eq!(
        check_ticket(&given, edit),
        Err(DomainError::TicketWithdrawn)
    );
    assert_eq!(
        check_reserve(&given, reserve(1, buyer())),
        Err(DomainError::TicketWithdrawn)
    );
}

#[test]
fn a_ticket_shows_its_seller_whether_it_is_for_sale_held_or_sold() {
    assert_eq!(fold_ticket(&[listed()]).status(), TicketStatus::ForSale);
    assert_eq!(
        fold_ticket(&[listed(), reserved(1)]).status(),
        TicketStatus::Held
    );
    let sold = marked_sold(1);
    assert_eq!(
        fold_ticket(&[listed(), reserved(1), sold]).status(),
        TicketStatus::Sold
    );
}

#[test]
fn a_sold_ticket_is_never_released() {
    let sold = marked_sold(1);
    let given = [listed(), reserved(1), sold];
    assert_eq!(
        check_ticket(
            &given,
            TicketCommand::Release {
                order_id: order_id(1)
            }
        ),
        Ok(None)
    );
    assert_eq!(
        check_ticket(
            &given,
            TicketCommand::MarkSold {
                order_id: order_id(1)
            }
        ),
        Ok(None)
    );
    assert!(!fold_ticket(&given).is_for_sale());
}

#[test]
fn cancelling_is_idempotent_owner_only_and_refused_once_paid() {
    let created = reserved(1);
    let cancel = |by| OrderCommand::Cancel { by };
    assert_eq!(
        check_order(std::slice::from_ref(&created), cancel(seller())),
        Err(DomainError::NotOwner)
    );
    let cancelled = check_order(std::slice::from_ref(&created), cancel(buyer()))
        .expect("ok")
        .expect("event");
    assert_eq!(
        cancelled.follow_up(),
        Some(FollowUp::Release {
            ticket_id: ticket_id(),
            order_id: order_id(1)
        })
    );
    assert_eq!(
        check_order(&[created.clone(), cancelled], cancel(buyer())),
        Ok(None)
    );
    let paid = paid_events();
    assert_eq!(
        check_order(&paid, cancel(buyer())),
        Err(DomainError::OrderPaid)
    );
    assert_eq!(
        check_order(&paid[..2], cancel(buyer())),
        Err(DomainError::PaymentInFlight)
    );
}

#[test]
fn holds_expire_only_when_due_and_only_while_unpaid() {
    let expire = |at| OrderCommand::Expire {
        now: Timestamp::from_millis(at),
    };
    assert_eq!(check_order(&[reserved(1)], expire(DEADLINE - 1)), Ok(None));
    let expired = check_order(&[reserved(1)], expire(DEADLINE))
        .expect("ok")
        .expect("event");
    assert_eq!(expired.tag(), "OrderExpired");
    assert_eq!(
        check_order(&[reserved(1), expired], expire(DEADLINE)),
        Ok(None),
        "no duplicate expiry"
    );
    assert_eq!(check_order(&paid_events(), expire(DEADLINE * 2)), Ok(None));
    assert_eq!(
        check_order(&paid_events()[..2], expire(DEADLINE * 2)),
        Ok(None),
        "payment in flight"
    );
}

fn paid_events() -> Vec<Event> {
    let created = reserved(1);
    let begun = check_order(
        std::slice::from_ref(&created),
        OrderCommand::BeginPayment {
            by: buyer(),
            charge_id: charge_id(),
            token: "tok_visa".into(),
            now: Timestamp::from_millis(DEADLINE - 1),
        },
    )
    .expect("a created order may be paid")
    .expect("event");
    let completed = check_order(
        &[created.clone(), begun.clone()],
        OrderCommand::SettlePayment {
            charge_id: charge_id(),
            grace_secs: GRACE_SECS,
            outcome: ChargeOutcome::Succeeded {
                intent_id: "pi_1".into(),
            },
        },
    )
    .expect("ok")
    .expect("event");
    vec![created, begun, completed]
}

#[test]
fn paying_moves_the_order_and_the_charge_together() {
    let events = paid_events();
    let order = events.iter().fold(None, order::evolve).expect("order");
    assert_eq!(
        (order.status, order.version.get()),
        (OrderStatus::Complete, 2)
    );
    let charge = events.iter().fold(None, charge::evolve).expect("charge");
    assert_eq!(charge.status, ChargeStatus::Completed);
    assert_eq!(charge.stripe_id.as_deref(), Some("pi_1"));
    assert_eq!(charge.amount.cents(), 2000);
    let again = OrderCommand::BeginPayment {
        by: buyer(),
        charge_id: ChargeId::new(RawId::from_parts(4, 2)),
        token: "tok_visa".into(),
        now: Timestamp::from_millis(0),
    };
    assert_eq!(
        check_order(&events, again),
        Ok(None),
        "a paid order is not charged again"
    );
}

#[test]
fn payment_is_refused_after_the_deadline_and_for_cancelled_orders() {
    let begin = |now| OrderCommand::BeginPayment {
        by: buyer(),
        charge_id: charge_id(),
        token: "tok_visa".into(),
        now: Timestamp::from_millis(now),
    };
    assert_eq!(
        check_order(&[reserved(1)], begin(DEADLINE)),
        Err(DomainError::OrderCancelled)
    );
    let cancelled = check_order(&[reserved(1)], OrderCommand::Cancel { by: buyer() })
        .expect("ok")
        .expect("event");
    assert_eq!(
        check_order(&[reserved(1), cancelled], begin(0)),
        Err(DomainError::OrderCancelled)
    );
}

#[test]
fn a_decline_cancels_and_a_late_success_needs_a_refund() {
    let events = paid_events();
    let declined = check_order(
        &events[..2],
        OrderCommand::SettlePayment {
            charge_id: charge_id(),
            grace_secs: GRACE_SECS,
            outcome: ChargeOutcome::Declined {
                intent_id: None,
                message: "Your card was declined.".into(),
            },
        },
    )
    .expect("ok")
    .expect("event");
    assert!(matches!(
        declined.follow_up(),
        Some(FollowUp::Release { .. })
    ));
    let mut given = events[..2].to_vec();
    given.push(declined);
    let order = given.iter().fold(None, order::evolve).expect("order");
    assert_eq!(order.status, OrderStatus::Cancelled);
    let success = ChargeOutcome::Succeeded {
        intent_id: "pi_1".into(),
    };
    assert!(order::needs_refund(&order, charge_id(), &success));
    assert_eq!(
        order::decide(
            &order,
            OrderCommand::SettlePayment {
                charge_id: charge_id(),
                grace_secs: GRACE_SECS,
                outcome: success
            }
        ),
        Ok(None)
    );
}

#[test]
fn an_unknown_outcome_leaves_the_order_awaiting_payment() {
    let events = paid_events();
    assert_eq!(
        check_order(
            &events[..2],
            OrderCommand::SettlePayment {
                charge_id: charge_id(),
                grace_secs: GRACE_SECS,
                outcome: ChargeOutcome::Unknown {
                    reason: "timed out".into(),
                },
            },
        ),
        Ok(None)
    );
}

#[test]
fn applying_an_event_twice_changes_nothing() {
    let events = paid_events();
    let once = events.iter().fold(None, order::evolve);
    let twice = events.iter().chain(events.iter()).fold(None, order::evolve);
    assert_eq!(once, twice);
    let ticket_events = [listed(), reserved(1)];
    let once = ticket_events.iter().fold(None, ticket::evolve);
    let twice = ticket_events
        .iter()
        .chain(ticket_events.iter())
        .fold(None, ticket::evolve);
    assert_eq!(once, twice);
    let charges_once = events.iter().fold(None, charge::evolve);
    let charges_twice = events
        .iter()
        .chain(events.iter())
        .fold(None, charge::evolve);
    assert_eq!(charges_once, charges_twice);
}

#[test]
fn a_refund_is_recorded_once() {
    let charge = paid_events()
        .iter()
        .fold(None, charge::evolve)
        .expect("charge");
    let refunded =
        charge::record_refund(&charge, "pi_1".into(), "re_1".into()).expect("first refund");
    let charge = charge::evolve(Some(charge), &refunded).expect("charge");
    assert_eq!(charge.stripe_refund_id.as_deref(), Some("re_1"));
    assert_eq!(
        charge::record_refund(&charge, "pi_1".into(), "re_2".into()),
        None
    );
    assert_eq!(
        charge.idempotency_key(),
        format!("ticketing-{}-tok_visa", order_id(1))
    );
}

/// The order reserved, a payment begun for it, and the provider's request for the
/// buyer's authentication, as committed.
fn authentication_events() -> Vec<Event> {
    let mut events = paid_events()[..2].to_vec();
    let requested = check_order(
        &events,
        OrderCommand::SettlePayment {
            charge_id: charge_id(),
            grace_secs: GRACE_SECS,
            outcome: ChargeOutcome::ActionRequired {
                intent_id: "pi_3ds".into(),
                client_secret: "pi_3ds_secret".into(),
            },
        },
    )
    .expect("ok")
    .expect("event");
    events.push(requested);
    events
}

#[test]
fn a_request_for_authentication_keeps_the_order_awaiting_payment_until_the_hold_and_its_grace_end()
{
    // Given / when
    let events = authentication_events();
    let order = events.iter().fold(None, order::evolve).expect("order");
    let charge = events.iter().fold(None, charge::evolve).expect("charge");
    // Then: still in flight, with a deadline of its own; the charge knows its intent.
    let abandon_at = Timestamp::from_millis(DEADLINE).plus_secs(GRACE_SECS);
    assert_eq!(events[2].tag(), "AuthenticationRequested");
    assert_eq!(events[2].follow_up(), None, "the ticket stays held");
    assert_eq!(
        (order.status, order.version.get()),
        (OrderStatus::AwaitingPayment, 2)
    );
    assert_eq!(order.abandon_at, Some(abandon_at));
    assert_eq!(order.deadline(), Some(abandon_at));
    assert_eq!(
        (charge.status, charge.stripe_id.as_deref()),
        (ChargeStatus::Created, Some("pi_3ds"))
    );
    // The hold's own deadline does not end it, nor does the buyer.
    let expire = OrderCommand::Expire {
        now: abandon_at.plus_secs(1),
    };
    assert_eq!(check_order(&events, expire), Ok(None));
    assert_eq!(
        check_order(&events, OrderCommand::Cancel { by: buyer() }),
        Err(DomainError::PaymentInFlight)
    );
    // The buyer paying again resumes it; anyone else does not.
    assert!(order::resumes_authentication(&order, buyer()));
    assert!(!order::resumes_authentication(&order, seller()));
    let before = paid_events()[..2]
        .iter()
        .fold(None, order::evolve)
        .expect("order");
    assert!(
        !order::resumes_authentication(&before, buyer()),
        "a payment in flight that asked for nothing is not resumed"
    );
    // Abandoned at its deadline, not a millisecond before.
    let just_before = Timestamp::from_millis(abandon_at.millis() - 1);
    assert!(!order::authentication_abandoned(&order, just_before));
    assert!(order::authentication_abandoned(&order, abandon_at));
}

#[test]
fn a_repeated_request_for_authentication_does_not_move_its_deadline() {
    // Given
    let events = authentication_events();
    // When: the provider says it again (a settling pass), later and with a longer grace.
    let again = OrderCommand::SettlePayment {
        charge_id: charge_id(),
        grace_secs: GRACE_SECS * 10,
        outcome: ChargeOutcome::ActionRequired {
            intent_id: "pi_3ds".into(),
            client_secret: "pi_3ds_secret".into(),
        },
    };
    // Then
    assert_eq!(check_order(&events, again), Ok(None));
}

#[test]
fn an_authenticated_payment_completes_and_a_failed_one_cancels_like_a_decline() {
    // Given
    let events = authentication_events();
    let settle = |outcome| OrderCommand::SettlePayment {
        charge_id: charge_id(),
        grace_secs: GRACE_SECS,
        outcome,
    };
    // When / then: success completes and sells the ticket.
    let completed = check_order(
        &events,
        settle(ChargeOutcome::Succeeded {
            intent_id: "pi_3ds".into(),
        }),
    )
    .expect("ok")
    .expect("event");
    assert_eq!(completed.tag(), "OrderCompleted");
    let mut paid = events.clone();
    paid.push(completed);
    let order = paid.iter().fold(None, order::evolve).expect("order");
    assert_eq!(
        (order.status, order.deadline()),
        (OrderStatus::Complete, None)
    );
    // When / then: failure (or the cancelled intent of an abandonment) frees the ticket.
    let failed = check_order(
        &events,
        settle(ChargeOutcome::Declined {
            intent_id: Some("pi_3ds".into()),
            message: "Authentication failed".into(),
        }),
    )
    .expect("ok")
    .expect("event");
    assert!(matches!(failed.follow_up(), Some(FollowUp::Release { .. })));
    let mut cancelled = events;
    cancelled.push(failed);
    let order = cancelled.iter().fold(None, order::evolve).expect("order");
    assert_eq!(
        (order.status, order.deadline()),
        (OrderStatus::Cancelled, None)
    );
    assert!(!order::authentication_abandoned(
        &order,
        Timestamp::from_millis(u64::MAX)
    ));
    let charge = cancelled.iter().fold(None, charge::evolve).expect("charge");
    assert_eq!(charge.status, ChargeStatus::Failed);
}

#[test]
fn a_disabled_account_stays_disabled_through_a_password_change_and_disabling_again_writes_nothing()
{
    // Given
    let created = super::user::decide_signup(
        seller(),
        Email::parse("a@example.com").expect("valid"),
        "hash one".to_owned(),
    );
    let user = super::user::evolve(None, &created).expect("a user");
    assert!(!user.disabled, "a new account is enabled");

    // When
    let disabled = super::user::disable(&user).expect("an event");
    let user = super::user::evolve(Some(user), &disabled).expect("a user");
    let changed = super::user::change_password(&user, "hash two".to_owned());
    let user = super::user::evolve(Some(user), &changed).expect("a user");

    // Then
    assert!(user.disabled);
    assert_eq!(user.password_hash, "hash two");
    assert_eq!(user.version, Version::new(2));
    assert_eq!(super::user::disable(&user), None);
    let enabled = super::user::enable(&user).expect("an event");
    let again = super::user::evolve(Some(user.clone()), &enabled).expect("a user");
    assert!(!again.disabled);
    assert_eq!(
        super::user::enable(&again),
        None,
        "enabling twice writes nothing"
    );
    assert_eq!(
        super::user::evolve(Some(user.clone()), &disabled),
        Some(user),
        "an event the user has seen changes nothing"
    );
}
