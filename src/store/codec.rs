//! The one place values are turned into bytes and back: bincode 2 behind a format byte.
//!
//! Every stored value starts with `FORMAT`, so a later version can read old records and
//! upcast them. Journal records also carry the event's persisted tag, so the catalogue can
//! grow and variants can be reordered without old journals changing meaning.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use crate::domain::events::Event;

/// The layout of every value written by this version.
const FORMAT: u8 = 1;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a snapshot or index value.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![FORMAT];
    bytes.extend(
        bincode::serde::encode_to_vec(value, config())
            .map_err(|e| StoreError::Codec(e.to_string()))?,
    );
    Ok(bytes)
}

/// Decodes what `encode` wrote.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT, body)) => bincode::serde::decode_from_slice(body, config())
            .map(|(value, _)| value)
            .map_err(|e| StoreError::Codec(e.to_string())),
        Some((other, _)) => Err(StoreError::Codec(format!("unknown format byte {other}"))),
        None => Err(StoreError::Codec("empty value".into())),
    }
}

/// Encodes a journal record: the tag, then the variant's body.
pub(crate) fn encode_event(event: &Event) -> Result<Vec<u8>, StoreError> {
    let body = match event {
        Event::UserCreated(e) => encode(e),
        Event::TicketCreated(e) => encode(e),
        Event::TicketUpdated(e) => encode(e),
        Event::OrderCreated(e) => encode(e),
        Event::OrderCancelled(e) => encode(e),
        Event::OrderExpired(e) => encode(e),
        Event::OrderCompleted(e) => encode(e),
        Event::ChargeCreated(e) => encode(e),
        Event::ChargeFailed(e) => encode(e),
        Event::ChargeRefunded(e) => encode(e),
    }?;
    encode(&(event.tag(), body))
}

/// Decodes a journal record by its tag.
pub(crate) fn decode_event(bytes: &[u8]) -> Result<Event, StoreError> {
    let (tag, body): (String, Vec<u8>) = decode(bytes)?;
    let event = match tag.as_str() {
        "UserCreated" => Event::UserCreated(decode(&body)?),
        "TicketCreated" => Event::TicketCreated(decode(&body)?),
        "TicketUpdated" => Event::TicketUpdated(decode(&body)?),
        "OrderCreated" => Event::OrderCreated(decode(&body)?),
        "OrderCancelled" => Event::OrderCancelled(decode(&body)?),
        "OrderExpired" => Event::OrderExpired(decode(&body)?),
        "OrderCompleted" => Event::OrderCompleted(decode(&body)?),
        "ChargeCreated" => Event::ChargeCreated(decode(&body)?),
        "ChargeFailed" => Event::ChargeFailed(decode(&body)?),
        "ChargeRefunded" => Event::ChargeRefunded(decode(&body)?),
        other => return Err(StoreError::Codec(format!("unknown event tag {other}"))),
    };
    Ok(event)
}
