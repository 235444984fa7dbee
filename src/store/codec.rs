//! The one place records become bytes and back (docs/STORAGE.md, "Record layout").
//!
//! Every value this release writes is `[ENVELOPE, kind, version] ++ bincode(record)`: the
//! envelope format, the record's kind (`RecordKind`) and its layout version. A reader
//! checks the kind against what the tree holds and upgrades an older layout to the newest
//! before converting it to the domain's type. Values written by the first release have the
//! envelope `[1] ++ bincode(record)` (their kind is the tree's, their layout version 1), and
//! its journal records `[1] ++ bincode((tag, [1] ++ bincode(event)))`; both are still read.
//!
//! Decoding answers `Invalid` (why, as text): the caller knows the tree and the key and
//! names them in the error.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::records::{
    AuthenticationRequestedV1, ChargeCreatedV1, ChargeFailedV1, ChargeRefundedV1, ChargeV1,
    EventRecord, Invalid, OrderCompletedV1, OrderCreatedV1, OrderEndedV1, OrderV1, OrderV2,
    RecordKind, SessionV1, TicketCreatedV1, TicketUpdatedV1, TicketV1, TicketV2, TicketWithdrawnV1,
    UserCreatedV1, UserDisabledV1, UserV1, UserV2,
};
use domain::charge::Charge;
use domain::events::{Event, EventKind};
use domain::order::Order;
use domain::ticket::Ticket;
use domain::user::User;

/// The envelope this release writes.
pub(crate) const ENVELOPE: u8 = 2;
/// The first release's envelope: one format byte, no kind, layout version 1.
const FIRST_RELEASE: u8 = 1;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

fn body<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| StoreError::Codec(e.to_string()))
}

fn read_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Invalid> {
    match bincode::serde::decode_from_slice(bytes, config()) {
        Ok((value, used)) if used == bytes.len() => Ok(value),
        Ok((_, used)) => Err(format!(
            "{} bytes left over after the record",
            bytes.len() - used
        )),
        Err(error) => Err(format!("unreadable record: {error}")),
    }
}

/// A record of `kind` in this release's layout, with its header.
pub(crate) fn encode<T: Serialize>(kind: RecordKind, record: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![ENVELOPE, kind.code(), kind.current_version()];
    bytes.extend(body(record)?);
    Ok(bytes)
}

/// The layout version and body of a record that must be of `kind`.
fn open(kind: RecordKind, bytes: &[u8]) -> Result<(u8, &[u8]), Invalid> {
    match bytes {
        [FIRST_RELEASE, body @ ..] => Ok((1, body)),
        [ENVELOPE, code, version, body @ ..] => {
            if *code != kind.code() {
                let found = RecordKind::from_code(*code)
                    .map_or_else(|| format!("unknown kind {code}"), |k| format!("{k:?}"));
                return Err(format!("expected a {kind:?} record, found {found}"));
            }
            Ok((*version, body))
        }
        [] => Err("empty value".into()),
        [other, ..] => Err(format!(
            "unknown envelope {other} (written by a newer release?)"
        )),
    }
}

fn unknown_version(kind: RecordKind, version: u8) -> Invalid {
    format!("{kind:?} layout version {version} is unknown (written by a newer release?)")
}

/// Reads a record whose only layout so far is version 1. When a kind gains a version 2,
/// its reader matches on the version and upgrades version 1 on the way.
fn decode_v1<T: DeserializeOwned>(kind: RecordKind, bytes: &[u8]) -> Result<T, Invalid> {
    match open(kind, bytes)? {
        (1, body) => read_body(body),
        (version, _) => Err(unknown_version(kind, version)),
    }
}

// ----- journal -----

/// A journal record for `event`.
pub(crate) fn encode_event(event: &Event) -> Result<Vec<u8>, StoreError> {
    let kind = RecordKind::of_event(event.kind());
    match EventRecord::from_event(event) {
        EventRecord::UserCreated(r) | EventRecord::UserUpdated(r) => encode(kind, &r),
        EventRecord::TicketCreated(r) => encode(kind, &r),
        EventRecord::TicketUpdated(r) => encode(kind, &r),
        EventRecord::OrderCreated(r) => encode(kind, &r),
        EventRecord::OrderCancelled(r) | EventRecord::OrderExpired(r) => encode(kind, &r),
        EventRecord::OrderCompleted(r) => encode(kind, &r),
        EventRecord::ChargeCreated(r) => encode(kind, &r),
        EventRecord::ChargeFailed(r) => encode(kind, &r),
        EventRecord::ChargeRefunded(r) => encode(kind, &r),
        EventRecord::TicketWithdrawn(r) => encode(kind, &r),
        EventRecord::AuthenticationRequested(r) => encode(kind, &r),
        EventRecord::UserDisabled(r) | EventRecord::UserEnabled(r) => encode(kind, &r),
    }
}

/// Reads a journal record of either envelope.
pub(crate) fn decode_event(bytes: &[u8]) -> Result<Event, Invalid> {
    let (kind, body, version) = match bytes {
        [FIRST_RELEASE, rest @ ..] => {
            let (tag, body): (String, Vec<u8>) = read_body(rest)?;
            let kind =
                EventKind::from_tag(&tag).ok_or_else(|| format!("unknown event tag {tag}"))?;
            let kind = RecordKind::of_event(kind);
            // The body carries its own first-release format byte.
            let (version, body) = open(kind, &body)?;
            return event_body(kind, version, body);
        }
        [ENVELOPE, code, version, body @ ..] => {
            let kind = RecordKind::from_code(*code)
                .filter(|k| k.event_kind().is_some())
                .ok_or_else(|| format!("record kind {code} is not an event"))?;
            (kind, body, *version)
        }
        [] => return Err("empty value".into()),
        [other, ..] => {
            return Err(format!(
                "unknown envelope {other} (written by a newer release?)"
            ));
        }
    };
    event_body(kind, version, body)
}

fn event_body(kind: RecordKind, version: u8, body: &[u8]) -> Result<Event, Invalid> {
    if version != 1 {
        return Err(unknown_version(kind, version));
    }
    let record = match kind {
        RecordKind::UserCreated => EventRecord::UserCreated(read_body::<UserCreatedV1>(body)?),
        RecordKind::UserUpdated => EventRecord::UserUpdated(read_body::<UserCreatedV1>(body)?),
        RecordKind::TicketCreated => {
            EventRecord::TicketCreated(read_body::<TicketCreatedV1>(body)?)
        }
        RecordKind::TicketUpdated => {
            EventRecord::TicketUpdated(read_body::<TicketUpdatedV1>(body)?)
        }
        RecordKind::OrderCreated => EventRecord::OrderCreated(read_body::<OrderCreatedV1>(body)?),
        RecordKind::OrderCancelled => EventRecord::OrderCancelled(read_body::<OrderEndedV1>(body)?),
        RecordKind::OrderExpired => EventRecord::OrderExpired(read_body::<OrderEndedV1>(body)?),
        RecordKind::OrderCompleted => {
            EventRecord::OrderCompleted(read_body::<OrderCompletedV1>(body)?)
        }
        RecordKind::ChargeCreated => {
            EventRecord::ChargeCreated(read_body::<ChargeCreatedV1>(body)?)
        }
        RecordKind::ChargeFailed => EventRecord::ChargeFailed(read_body::<ChargeFailedV1>(body)?),
        RecordKind::ChargeRefunded => {
            EventRecord::ChargeRefunded(read_body::<ChargeRefundedV1>(body)?)
        }
        RecordKind::TicketWithdrawn => {
            EventRecord::TicketWithdrawn(read_body::<TicketWithdrawnV1>(body)?)
        }
        RecordKind::AuthenticationRequested => {
            EventRecord::AuthenticationRequested(read_body::<AuthenticationRequestedV1>(body)?)
        }
        RecordKind::UserDisabled => EventRecord::UserDisabled(read_body::<UserDisabledV1>(body)?),
        RecordKind::UserEnabled => EventRecord::UserEnabled(read_body::<UserDisabledV1>(body)?),
        other => return Err(format!("record kind {other:?} is not an event")),
    };
    record.into_event()
}

// ----- snapshots and index values -----

pub(crate) fn encode_ticket(ticket: &Ticket) -> Result<Vec<u8>, StoreError> {
    encode(RecordKind::Ticket, &TicketV2::from_ticket(ticket))
}

/// Layout 1 (formats 1 and 2) is upgraded to layout 2 on the way.
pub(crate) fn decode_ticket(bytes: &[u8]) -> Result<Ticket, Invalid> {
    let kind = RecordKind::Ticket;
    let newest = match open(kind, bytes)? {
        (1, body) => TicketV2::from(read_body::<TicketV1>(body)?),
        (2, body) => read_body::<TicketV2>(body)?,
        (version, _) => return Err(unknown_version(kind, version)),
    };
    newest.into_ticket()
}

pub(crate) fn encode_order(order: &Order) -> Result<Vec<u8>, StoreError> {
    encode(RecordKind::Order, &OrderV2::from_order(order))
}

/// Layout 1 (formats 1 to 3) is upgraded to layout 2 on the way.
pub(crate) fn decode_order(bytes: &[u8]) -> Result<Order, Invalid> {
    let kind = RecordKind::Order;
    let newest = match open(kind, bytes)? {
        (1, body) => OrderV2::from(read_body::<OrderV1>(body)?),
        (2, body) => read_body::<OrderV2>(body)?,
        (version, _) => return Err(unknown_version(kind, version)),
    };
    newest.into_order()
}

pub(crate) fn encode_charge(charge: &Charge) -> Result<Vec<u8>, StoreError> {
    encode(RecordKind::Charge, &ChargeV1::from_charge(charge))
}

pub(crate) fn decode_charge(bytes: &[u8]) -> Result<Charge, Invalid> {
    decode_v1::<ChargeV1>(RecordKind::Charge, bytes)?.into_charge()
}

pub(crate) fn encode_user(user: &User) -> Result<Vec<u8>, StoreError> {
    encode(RecordKind::User, &UserV2::from_user(user))
}

/// Layout 1 (formats 1 to 4) is upgraded to layout 2 on the way.
pub(crate) fn decode_user(bytes: &[u8]) -> Result<User, Invalid> {
    let kind = RecordKind::User;
    let newest = match open(kind, bytes)? {
        (1, body) => UserV2::from(read_body::<UserV1>(body)?),
        (2, body) => read_body::<UserV2>(body)?,
        (version, _) => return Err(unknown_version(kind, version)),
    };
    newest.into_user()
}

pub(crate) fn encode_session(session: &SessionV1) -> Result<Vec<u8>, StoreError> {
    encode(RecordKind::Session, session)
}

pub(crate) fn decode_session(bytes: &[u8]) -> Result<SessionV1, Invalid> {
    decode_v1(RecordKind::Session, bytes)
}

pub(crate) fn encode_counter(value: u64) -> Result<Vec<u8>, StoreError> {
    encode(RecordKind::Counter, &value)
}

pub(crate) fn decode_counter(bytes: &[u8]) -> Result<u64, Invalid> {
    decode_v1(RecordKind::Counter, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first release wrote values with serde derives on the domain types; these bytes
    /// are what it wrote for a ticket (taken from tests/fixtures/v1), so the version-1
    /// structs must keep reading them exactly.
    #[test]
    fn a_ticket_written_by_the_first_release_reads_the_same() {
        let stored = ticket_record_of_the_first_release();
        let ticket = decode_ticket(&stored).expect("a v1 ticket");
        assert_eq!(ticket.title.as_str(), "Cup final, row 12 (aisle)");
        assert_eq!(ticket.price.cents(), 2275);
        assert_eq!(ticket.version.get(), 2);
        assert_eq!(ticket.order_id, None);
        assert!(!ticket.withdrawn, "layout 1 knew no withdrawal");
        // Written back as layout 2: layout 1's fields in the same order, then `withdrawn`.
        let rewritten = encode_ticket(&ticket).expect("encodes");
        assert_eq!(&rewritten[..3], &[ENVELOPE, RecordKind::Ticket.code(), 2]);
        assert_eq!(&rewritten[3..rewritten.len() - 1], &stored[1..]);
        assert_eq!(rewritten.last(), Some(&0), "withdrawn: false");
        assert_eq!(decode_ticket(&rewritten).expect("reads"), ticket);
    }

    #[test]
    fn a_record_of_another_kind_or_an_unknown_version_is_refused_with_its_reason() {
        let ticket = decode_ticket(&ticket_record_of_the_first_release()).expect("a ticket");
        let bytes = encode_ticket(&ticket).expect("encodes");
        let as_order = decode_order(&bytes).expect_err("not an order");
        assert!(
            as_order.contains("expected a Order record, found Ticket"),
            "{as_order}"
        );
        let mut newer = bytes.clone();
        newer[2] = 9;
        let error = decode_ticket(&newer).expect_err("unknown version");
        assert!(error.contains("version 9"), "{error}");
        let error = decode_ticket(&[7, 1, 2]).expect_err("unknown envelope");
        assert!(error.contains("unknown envelope 7"), "{error}");
        let mut truncated = bytes;
        truncated.truncate(10);
        assert!(decode_ticket(&truncated).is_err());
    }

    /// Format 4's order layout reads what layout 1 wrote (no authentication pending), and
    /// keeps the abandonment deadline it adds; its new event reads back as written.
    #[test]
    fn an_order_of_layout_1_reads_with_no_authentication_pending_and_layout_2_keeps_its_deadline() {
        use domain::events::AuthenticationRequested;
        use domain::ids::{ChargeId, OrderId, RawId, TicketId, UserId};
        use domain::money::Price;
        use domain::order::{OrderStatus, TicketSummary};
        use domain::ticket::Title;
        use domain::time::Timestamp;
        use domain::version::Version;

        let charge_id = ChargeId::new(RawId::from_parts(40, 1));
        let order = Order {
            id: OrderId::new(RawId::from_parts(20, 1)),
            buyer: UserId::new(RawId::from_parts(1, 2)),
            ticket: TicketSummary {
                id: TicketId::new(RawId::from_parts(10, 1)),
                title: Title::restore("Gig".to_owned()),
                price: Price::from_cents(2000).expect("valid"),
                version: Version::new(1),
            },
            status: OrderStatus::AwaitingPayment,
            expires_at: Timestamp::from_millis(1_000_000),
            version: Version::new(2),
            charge_id: Some(charge_id),
            abandon_at: None,
        };
        // As format 3 wrote it: the header names layout 1.
        let mut layout_1 = vec![ENVELOPE, RecordKind::Order.code(), 1];
        layout_1.extend(body(&OrderV1::from(&order)).expect("encodes"));
        assert_eq!(decode_order(&layout_1).expect("reads"), order);
        let waiting = Order {
            abandon_at: Some(Timestamp::from_millis(1_300_000)),
            ..order
        };
        let layout_2 = encode_order(&waiting).expect("encodes");
        assert_eq!(&layout_2[..3], &[ENVELOPE, RecordKind::Order.code(), 2]);
        assert_eq!(decode_order(&layout_2).expect("reads"), waiting);

        let event = Event::AuthenticationRequested(AuthenticationRequested {
            charge_id,
            order_id: waiting.id,
            stripe_id: "pi_3ds".to_owned(),
            abandon_at: Timestamp::from_millis(1_300_000),
            version: Version::new(3),
        });
        let record = encode_event(&event).expect("encodes");
        assert_eq!(&record[..3], &[ENVELOPE, 13, 1]);
        assert_eq!(decode_event(&record).expect("reads"), event);
    }

    /// Format 5's user layout reads what layout 1 wrote (an account never disabled), and
    /// keeps the flag it adds; its new event reads back as written.
    #[test]
    fn a_user_of_layout_1_reads_as_enabled_and_layout_2_keeps_disabled() {
        use domain::events::UserDisabled;
        use domain::ids::{RawId, UserId};
        use domain::user::Email;
        use domain::version::Version;

        let user = User {
            id: UserId::new(RawId::from_parts(1, 2)),
            email: Email::restore("a@example.com".to_owned()),
            password_hash: "$argon2id$v=19$...".to_owned(),
            version: Version::new(1),
            disabled: false,
        };
        // As format 4 wrote it: the header names layout 1.
        let mut layout_1 = vec![ENVELOPE, RecordKind::User.code(), 1];
        layout_1.extend(body(&UserV1::from(&user)).expect("encodes"));
        assert_eq!(decode_user(&layout_1).expect("reads"), user);
        let disabled = User {
            disabled: true,
            version: Version::new(2),
            ..user
        };
        let layout_2 = encode_user(&disabled).expect("encodes");
        assert_eq!(&layout_2[..3], &[ENVELOPE, RecordKind::User.code(), 2]);
        assert_eq!(decode_user(&layout_2).expect("reads"), disabled);

        let event = Event::UserDisabled(UserDisabled {
            user_id: disabled.id,
            version: Version::new(2),
        });
        let record = encode_event(&event).expect("encodes");
        assert_eq!(&record[..3], &[ENVELOPE, 14, 1]);
        assert_eq!(decode_event(&record).expect("reads"), event);
        let event = Event::UserEnabled(domain::events::UserEnabled {
            user_id: disabled.id,
            version: Version::new(3),
        });
        let record = encode_event(&event).expect("encodes");
        assert_eq!(&record[..3], &[ENVELOPE, 15, 1]);
        assert_eq!(decode_event(&record).expect("reads"), event);
    }

    /// [1] ++ bincode of the first release's `Ticket` for the fixture's edited ticket.
    fn ticket_record_of_the_first_release() -> Vec<u8> {
        let title = "Cup final, row 12 (aisle)";
        let mut bytes = vec![1];
        bytes.extend([
            0x01, 0xa2, 0x28, 0xbe, 0xf7, 0xae, 0, 0x72, 0x09, 0x53, 0xb2, 0xd0,
        ]);
        bytes.extend([
            0x01, 0xa2, 0x28, 0xbe, 0xf6, 0xba, 0, 0x72, 0x09, 0x53, 0xb2, 0xc8,
        ]);
        bytes.push(u8::try_from(title.len()).expect("short"));
        bytes.extend(title.as_bytes());
        // 2275 as a bincode varint: 251 then u16 little-endian.
        bytes.extend([251, 0xe3, 0x08]);
        bytes.push(2); // version
        bytes.push(0); // order_id: None
        bytes.push(0); // sold: false
        bytes
    }
}
