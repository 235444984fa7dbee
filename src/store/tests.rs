//! Store tests: group commit under load, codec round trips, replay, email claims.

use std::sync::Arc;

use super::*;
use crate::domain::ids::RawId;
use crate::domain::money::Price;
use crate::domain::ticket::{self, TicketCommand, Title};
use crate::domain::version::Version;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path(), 16 * 1024 * 1024).expect("a fresh directory opens")
}

fn ticket_created(n: u64) -> Event {
    ticket::create(
        TicketId::new(RawId::from_parts(10, n)),
        UserId::new(RawId::from_parts(1, 1)),
        Title::parse("Gig").expect("valid"),
        Price::from_cents(2000).expect("valid"),
    )
}

/// Lists ticket 1 and commits its reservation (order 20-1 by buyer 1-2, due at 5,000 ms)
/// as the ticket actor does, with the ticket it holds. Returns the three ids.
fn list_and_reserve(store: &Store) -> (TicketId, OrderId, UserId) {
    let ticket_id = TicketId::new(RawId::from_parts(10, 1));
    let order_id = OrderId::new(RawId::from_parts(20, 1));
    let buyer = UserId::new(RawId::from_parts(1, 2));
    store
        .commit(&ticket_created(1), Known::Nothing)
        .expect("commit")
        .finish();
    let ticket = store.ticket(ticket_id).expect("read").expect("exists");
    let reserve = TicketCommand::Reserve {
        order_id,
        buyer,
        expires_at: Timestamp::from_millis(5_000),
    };
    let reserved = ticket::decide(&ticket, reserve)
        .expect("free")
        .expect("event");
    store
        .commit(&reserved, Known::Ticket(&ticket))
        .expect("commit")
        .finish();
    (ticket_id, order_id, buyer)
}

/// Forgets the checkpoint, so that the next replay re-applies the whole journal.
fn forget_checkpoint(store: &Store) {
    store
        .inner
        .db
        .open_tree("meta")
        .expect("meta")
        .remove(b"checkpoint")
        .expect("forget the checkpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_fifty_six_concurrent_durable_writers_all_finish() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(open(&dir));
    let writers = (0..256u64).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            for round in 0..4 {
                let commit = store
                    .commit(&ticket_created(n * 10 + round), Known::Nothing)
                    .expect("commit");
                commit.finish();
                store.durable().await.expect("durable");
            }
        })
    });
    let all = futures::future::join_all(writers);
    tokio::time::timeout(std::time::Duration::from_secs(60), all)
        .await
        .expect("no writer may hang (sled flush_async deadlocks; group commit must not)")
        .into_iter()
        .for_each(|r| r.expect("writer task"));
    assert_eq!(store.journal_len(), 1024);
}

#[test]
fn events_round_trip_through_the_codec_with_their_tag() {
    let event = ticket_created(1);
    let bytes = codec::encode_event(&event).expect("encode");
    assert_eq!(bytes[0], 1, "format byte first");
    assert_eq!(codec::decode_event(&bytes).expect("decode"), event);
    assert!(
        codec::decode::<u64>(&[9, 1]).is_err(),
        "unknown format byte is refused"
    );
}

#[test]
fn replay_from_an_empty_projection_set_rebuilds_identical_snapshots() {
    let dir = tempfile::tempdir().expect("temp dir");
    let id = TicketId::new(RawId::from_parts(10, 1));
    let before = {
        let store = open(&dir);
        list_and_reserve(&store);
        (
            store.ticket(id).expect("read"),
            store
                .orders_of(UserId::new(RawId::from_parts(1, 2)))
                .expect("read"),
        )
    };
    let store = open(&dir);
    store.drop_projections().expect("drop");
    assert_eq!(store.ticket(id).expect("read"), None);
    let replayed = store.replay().expect("replay");
    assert_eq!(replayed.events, 2);
    let after = (
        store.ticket(id).expect("read"),
        store
            .orders_of(UserId::new(RawId::from_parts(1, 2)))
            .expect("read"),
    );
    assert_eq!(before, after);
    assert_eq!(after.0.expect("ticket").version, Version::new(1));
    assert_eq!(
        store
            .due_holds(Timestamp::from_millis(5_000), 10)
            .expect("read")
            .len(),
        1
    );
    // Replaying the same events again changes nothing.
    store.drop_projections().expect("drop");
    store.replay().expect("replay");
    store.replay().expect("replay twice");
    assert_eq!(store.ticket(id).expect("read"), before.0);
}

#[test]
fn an_email_claim_is_exclusive_and_a_stale_one_is_taken_over() {
    let dir = tempfile::tempdir().expect("temp dir");
    let email = Email::parse("a@example.com").expect("valid");
    let first = UserId::new(RawId::from_parts(1, 1));
    let second = UserId::new(RawId::from_parts(1, 2));
    {
        let store = open(&dir);
        assert_eq!(
            store.claim_email(&email, first).expect("claim"),
            EmailClaim::Claimed
        );
        assert_eq!(
            store.claim_email(&email, second).expect("claim"),
            EmailClaim::InUse
        );
        // The process "crashes" here: the claim never got its UserCreated.
    }
    let store = open(&dir);
    assert_eq!(
        store.claim_email(&email, second).expect("claim"),
        EmailClaim::Claimed
    );
    store.release_email_claim(&email, second).expect("release");
    assert_eq!(
        store.claim_email(&email, first).expect("claim"),
        EmailClaim::Claimed
    );
}

#[test]
fn a_second_open_of_the_same_directory_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _first = open(&dir);
    let error = Store::open(dir.path(), 1024 * 1024)
        .err()
        .expect("second open must fail");
    assert!(error.to_string().contains("in use"), "{error}");
}

#[test]
fn the_checkpoint_stays_below_an_unfinished_follow_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = open(&dir);
        store
            .commit(&ticket_created(1), Known::Nothing)
            .expect("commit")
            .finish();
        let pending = store
            .commit(&ticket_created(2), Known::Nothing)
            .expect("commit");
        store
            .commit(&ticket_created(3), Known::Nothing)
            .expect("commit")
            .finish();
        futures::executor::block_on(store.durable()).expect("flush");
        drop(pending); // never finished: as if the process died mid-follow-up
        futures::executor::block_on(store.durable()).expect("flush");
    }
    let store = open(&dir);
    assert_eq!(
        store.replay().expect("replay").events,
        2,
        "replay restarts at the unfinished event"
    );
}

#[test]
fn a_hold_committed_live_replays_and_rebuilds_to_the_same_projections() {
    use crate::domain::order::{self, OrderCommand};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir);
    // Reserve, expire, release, each committed as its actor does: with the state it holds,
    // so the live path reads no snapshot back.
    let (ticket_id, order_id, buyer) = list_and_reserve(&store);
    let held = store.order(order_id).expect("read").expect("exists");
    let expire = OrderCommand::Expire {
        now: Timestamp::from_millis(6_000),
    };
    let expired = order::decide(&held, expire).expect("due").expect("event");
    store
        .commit(&expired, Known::Order(&held))
        .expect("commit")
        .finish();
    let ticket = store.ticket(ticket_id).expect("read").expect("exists");
    let release = TicketCommand::Release { order_id };
    let released = ticket::decide(&ticket, release)
        .expect("held")
        .expect("event");
    store
        .commit(&released, Known::Ticket(&ticket))
        .expect("commit")
        .finish();
    let view = |store: &Store| {
        (
            store.ticket(ticket_id).expect("read"),
            store.order(order_id).expect("read"),
            store.orders_of(buyer).expect("read"),
            store.tickets_for_sale(None, 10).expect("read"),
            store
                .due_holds(Timestamp::from_millis(10_000), 10)
                .expect("read"),
            store.awaiting_payment().expect("read"),
        )
    };
    let before = view(&store);
    assert_eq!(before.3.len(), 1, "the released ticket is listed");
    assert!(
        before.4.is_empty(),
        "the expired hold left the deadline index"
    );

    // A conservative checkpoint: replay every event over projections that are ahead of them.
    forget_checkpoint(&store);
    assert_eq!(store.replay().expect("replay").events, 4);
    assert_eq!(view(&store), before);

    // And a rebuild from nothing, which reads every prior state, agrees with the live path.
    store.drop_projections().expect("drop");
    assert_eq!(store.replay().expect("replay").events, 4);
    assert_eq!(view(&store), before);
}

#[test]
fn the_pending_hold_count_survives_replays_rebuilds_and_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir);
    let (_, order_id, _) = list_and_reserve(&store);
    assert_eq!(store.pending_holds(), 1);

    // Replayed over projections that already have it: counted once, not twice.
    forget_checkpoint(&store);
    store.replay().expect("replay");
    assert_eq!(store.pending_holds(), 1);
    // As after a crash between the index write and the snapshot's: the replay inserts a
    // deadline entry that is already there, which must not count again.
    store
        .inner
        .projections
        .orders
        .remove(order_id.as_bytes())
        .expect("remove the snapshot");
    forget_checkpoint(&store);
    store.replay().expect("replay");
    assert_eq!(store.pending_holds(), 1);
    // Rebuilt from nothing.
    store.drop_projections().expect("drop");
    assert_eq!(store.pending_holds(), 0);
    store.replay().expect("replay");
    assert_eq!(store.pending_holds(), 1);
    // Counted afresh when the store opens again.
    drop(store);
    assert_eq!(open(&dir).pending_holds(), 1);
}
