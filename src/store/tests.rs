//! Store tests: group commit under load, codec round trips, replay, email claims, and the
//! write-behind: reads through the overlay, crashes before the persister, a full overlay.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use domain::ids::{OrderId, RawId};
use domain::money::Price;
use domain::order::Order;
use domain::ticket::Ticket;
use domain::ticket::{self, TicketCommand, Title};
use domain::version::Version;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path(), 16 * 1024 * 1024).expect("a fresh directory opens")
}

/// A store whose persister never writes on its own (only when it stops or must make room):
/// every committed projection change stays in the overlay.
fn open_without_persisting(dir: &std::path::Path) -> Store {
    let tuning = Tuning {
        gather: Duration::from_secs(3600),
        ..Tuning::default()
    };
    Store::open_tuned(dir, 16 * 1024 * 1024, tuning).expect("opens")
}

/// Copies a store's directory as it is on disk now: what a crash at this moment leaves.
fn crash_image(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("the store") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            crash_image(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
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
        .commit(&ticket_created(1), PriorState::Unknown)
        .expect("commit")
        .finish();
    let ticket = store
        .projections()
        .ticket(ticket_id)
        .expect("read")
        .expect("exists");
    let reserve = ticket::Reservation {
        order_id,
        buyer,
        expires_at: Timestamp::from_millis(5_000),
    };
    let reserved = Event::OrderCreated(ticket::reserve(&ticket, reserve).expect("free"));
    store
        .commit(&reserved, PriorState::Ticket(&ticket))
        .expect("commit")
        .finish();
    (ticket_id, order_id, buyer)
}

/// Forgets the checkpoint, so that the next replay re-applies the whole journal.
fn forget_checkpoint(store: &Store) {
    store
        .inner
        .journal
        .forget_checkpoint()
        .expect("forget the checkpoint");
}

/// Everything the projections answer about `list_and_reserve`'s ticket, order and buyer.
type Views = (
    Option<Ticket>,
    Option<Order>,
    Vec<Order>,
    Vec<Ticket>,
    Vec<OrderId>,
    Vec<OrderId>,
    u64,
);

fn views(store: &Store, (ticket_id, order_id, buyer): (TicketId, OrderId, UserId)) -> Views {
    (
        store.projections().ticket(ticket_id).expect("read"),
        store.projections().order(order_id).expect("read"),
        store
            .projections()
            .orders_of(buyer, None, 100)
            .expect("read"),
        store
            .projections()
            .tickets_for_sale(None, 10)
            .expect("read"),
        store
            .projections()
            .due_holds(Timestamp::from_millis(10_000), 10),
        store.projections().awaiting_payment(),
        store.projections().pending_holds(),
    )
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
                    .commit(&ticket_created(n * 10 + round), PriorState::Unknown)
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
fn events_round_trip_through_the_codec_with_their_kind_and_version() {
    let event = ticket_created(1);
    let bytes = codec::encode_event(&event).expect("encode");
    assert_eq!(
        &bytes[..3],
        &[codec::ENVELOPE, 2, 1],
        "format, kind, version first"
    );
    assert_eq!(codec::decode_event(&bytes).expect("decode"), event);
    assert!(
        codec::decode_event(&[9, 1]).is_err(),
        "unknown format byte is refused"
    );
    assert!(
        codec::decode_event(&[codec::ENVELOPE, 65, 1]).is_err(),
        "a snapshot's kind is not an event"
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
            store.projections().ticket(id).expect("read"),
            store
                .projections()
                .orders_of(UserId::new(RawId::from_parts(1, 2)), None, 100)
                .expect("read"),
        )
    };
    let store = open(&dir);
    store.drop_projections().expect("drop");
    assert_eq!(store.projections().ticket(id).expect("read"), None);
    let replayed = store.replay().expect("replay");
    assert_eq!(replayed.events, 2);
    let after = (
        store.projections().ticket(id).expect("read"),
        store
            .projections()
            .orders_of(UserId::new(RawId::from_parts(1, 2)), None, 100)
            .expect("read"),
    );
    assert_eq!(before, after);
    assert_eq!(after.0.expect("ticket").version, Version::new(1));
    assert_eq!(
        store
            .projections()
            .due_holds(Timestamp::from_millis(5_000), 10)
            .len(),
        1
    );
    // Replaying the same events again changes nothing.
    store.drop_projections().expect("drop");
    store.replay().expect("replay");
    store.replay().expect("replay twice");
    assert_eq!(store.projections().ticket(id).expect("read"), before.0);
}

#[test]
fn an_email_claim_is_exclusive_until_given_back_and_does_not_outlive_the_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let email = Email::parse("a@example.com").expect("valid");
    let first = UserId::new(RawId::from_parts(1, 1));
    let second = UserId::new(RawId::from_parts(1, 2));
    {
        let store = open(&dir);
        assert_eq!(store.claim_email(&email, first), EmailClaim::Claimed);
        assert_eq!(store.claim_email(&email, second), EmailClaim::InUse);
        // The process ends here: the claim never got its UserCreated.
    }
    let store = open(&dir);
    store.replay().expect("replay");
    assert_eq!(store.claim_email(&email, second), EmailClaim::Claimed);
    store.release_email_claim(&email, second);
    assert_eq!(store.claim_email(&email, first), EmailClaim::Claimed);
    // A committed account holds its email for good, across a restart too.
    let created = domain::user::decide_signup(first, email.clone(), "hash".into());
    store
        .commit(&created, PriorState::Unknown)
        .expect("commit")
        .finish();
    assert_eq!(store.claim_email(&email, second), EmailClaim::InUse);
    drop(store);
    let store = open(&dir);
    store.replay().expect("replay");
    assert_eq!(store.claim_email(&email, second), EmailClaim::InUse);
    assert_eq!(
        store
            .projections()
            .user_by_email(&email)
            .expect("read")
            .map(|u| u.id),
        Some(first)
    );
}

#[test]
fn records_past_a_fence_are_gone_at_the_next_open_and_so_are_their_projections() {
    let dir = tempfile::tempdir().expect("a dir");
    let ticket = |store: &Store, n| {
        store
            .projections()
            .ticket(TicketId::new(RawId::from_parts(10, n)))
            .expect("read")
    };
    let fence_at = {
        let store = open(&dir);
        for n in 1..=3 {
            store
                .commit(&ticket_created(n), PriorState::Unknown)
                .expect("commit")
                .finish();
        }
        store.settle();
        // Ticket 1 is the first record: the failed run refused the two after it.
        store
            .inner
            .journal
            .read_from(0)
            .nth(1)
            .expect("two")
            .expect("read")
            .0
    };
    let (fence, _) = fence::Fence::open(dir.path()).expect("the fence");
    fence.set(fence_at).expect("set");
    drop(fence);

    let store = open(&dir);
    store.replay().expect("replay");
    assert!(ticket(&store, 1).is_some(), "acknowledged before the fence");
    assert!(
        ticket(&store, 2).is_none() && ticket(&store, 3).is_none(),
        "refused past the fence, though their snapshots were on disk"
    );
    assert_eq!(store.journal_len(), 1);
    store
        .commit(&ticket_created(4), PriorState::Unknown)
        .expect("commit")
        .finish();
    store.settle();
    drop(store);

    let store = open(&dir);
    store.replay().expect("replay");
    assert!(
        ticket(&store, 4).is_some(),
        "the fence was cleared: a later record stays"
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
            .commit(&ticket_created(1), PriorState::Unknown)
            .expect("commit")
            .finish();
        let pending = store
            .commit(&ticket_created(2), PriorState::Unknown)
            .expect("commit");
        store
            .commit(&ticket_created(3), PriorState::Unknown)
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
    use domain::order::{self, OrderCommand};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir);
    // Reserve, expire, release, each committed as its actor does: with the state it holds,
    // so the live path reads no snapshot back.
    let (ticket_id, order_id, buyer) = list_and_reserve(&store);
    let held = store
        .projections()
        .order(order_id)
        .expect("read")
        .expect("exists");
    let expire = OrderCommand::Expire {
        now: Timestamp::from_millis(6_000),
    };
    let expired = order::decide(&held, expire).expect("due").expect("event");
    store
        .commit(&expired, PriorState::Order(&held))
        .expect("commit")
        .finish();
    let ticket = store
        .projections()
        .ticket(ticket_id)
        .expect("read")
        .expect("exists");
    let release = TicketCommand::Release { order_id };
    let released = ticket::decide(&ticket, release)
        .expect("held")
        .expect("event");
    store
        .commit(&released, PriorState::Ticket(&ticket))
        .expect("commit")
        .finish();
    let view = |store: &Store| views(store, (ticket_id, order_id, buyer));
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
    list_and_reserve(&store);
    assert_eq!(store.projections().pending_holds(), 1);

    // Replayed over projections that already have it: counted once, not twice.
    forget_checkpoint(&store);
    store.replay().expect("replay");
    assert_eq!(store.projections().pending_holds(), 1);
    // Rebuilt from nothing.
    store.drop_projections().expect("drop");
    assert_eq!(store.projections().pending_holds(), 0);
    store.replay().expect("replay");
    assert_eq!(store.projections().pending_holds(), 1);
    // Counted afresh when the store opens again.
    drop(store);
    let store = open(&dir);
    store.replay().expect("replay");
    assert_eq!(store.projections().pending_holds(), 1);
}

#[test]
fn every_read_sees_a_commit_before_the_persister_writes_it_and_after() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_without_persisting(dir.path());
    // Act
    let ids = list_and_reserve(&store);
    // Assert: every projection answers from the overlay.
    assert!(
        store.unpersisted_changes() > 0,
        "nothing written behind yet"
    );
    let before = views(&store, ids);
    assert_eq!(before.0.as_ref().map(|t| t.order_id), Some(Some(ids.1)));
    assert_eq!(before.1.as_ref().map(|o| o.buyer), Some(ids.2));
    assert_eq!(before.2.len(), 1, "the buyer's orders");
    assert!(before.3.is_empty(), "the held ticket left the listing");
    assert_eq!(before.4, vec![ids.1], "the deadline index");
    assert_eq!(before.6, 1, "one pending hold");
    // ... and the same once the changes are in sled.
    store.settle();
    assert_eq!(store.unpersisted_changes(), 0);
    assert_eq!(views(&store, ids), before);
}

#[test]
fn a_crash_with_every_change_still_in_the_overlay_replays_to_the_same_views() {
    // Arrange: acknowledged (durable) commits whose projections were never written out.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_without_persisting(&dir.path().join("live"));
    let ids = list_and_reserve(&store);
    futures::executor::block_on(store.durable()).expect("durable");
    let before = views(&store, ids);
    assert_eq!(store.inner.journal.checkpoint().expect("read"), 0);
    // Act: the directory as a crash now would leave it, opened again.
    crash_image(&dir.path().join("live"), &dir.path().join("crashed"));
    drop(store);
    let store = Store::open(&dir.path().join("crashed"), 16 * 1024 * 1024).expect("opens");
    let replayed = store.replay().expect("replay");
    // Assert
    assert_eq!(
        replayed.events, 2,
        "the whole journal was after the checkpoint"
    );
    assert_eq!(views(&store, ids), before);
}

#[test]
fn the_checkpoint_moves_only_once_the_persister_has_made_the_projections_durable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_without_persisting(dir.path());
    list_and_reserve(&store);
    futures::executor::block_on(store.durable()).expect("durable");
    assert_eq!(
        store.inner.journal.checkpoint().expect("read"),
        0,
        "not yet"
    );
    store.settle();
    let checkpoint = store.inner.journal.checkpoint().expect("read");
    assert!(checkpoint >= 2, "past both events: {checkpoint}");
    // A clean close writes out what is left and leaves nothing to replay.
    store
        .commit(&ticket_created(2), PriorState::Unknown)
        .expect("commit")
        .finish();
    drop(store);
    let store = open(&dir);
    assert_eq!(store.replay().expect("replay").events, 0);
    assert!(
        store
            .projections()
            .ticket(TicketId::new(RawId::from_parts(10, 2)))
            .expect("read")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_wait_for_room_when_the_overlay_is_full_and_all_finish() {
    // Arrange: a tiny overlay and a slow persister.
    let dir = tempfile::tempdir().expect("temp dir");
    let tuning = Tuning {
        gather: Duration::from_millis(50),
        room: 64,
        ..Tuning::default()
    };
    let store = Arc::new(Store::open_tuned(dir.path(), 16 * 1024 * 1024, tuning).expect("opens"));
    // Act: 400 listings, two entries each, far more than the room.
    let mut most = 0;
    for n in 0..400 {
        store
            .commit(&ticket_created(n), PriorState::Unknown)
            .expect("commit")
            .finish();
        tokio::time::timeout(Duration::from_secs(30), store.durable())
            .await
            .expect("room is made")
            .expect("durable");
        most = most.max(store.unpersisted_changes());
    }
    // Assert: the overlay never held much more than its room (one writer's changes past it).
    assert!(most <= 64 + 2, "held {most}");
    assert!(store.persisted_generations() > 1);
    assert_eq!(
        store
            .projections()
            .tickets_for_sale(None, 1000)
            .expect("read")
            .len(),
        400
    );
}

#[test]
fn a_directory_written_by_a_newer_release_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = open(&dir);
        let meta = store.inner.db.open_tree("meta").expect("meta");
        meta.insert(b"format", codec::encode_counter(99).expect("encodes"))
            .expect("write");
    }
    let error = Store::open(dir.path(), 1024 * 1024).err().expect("refused");
    let message = error.to_string();
    assert!(message.contains("newer release"), "{message}");
    assert!(message.contains("99"), "{message}");
}

#[test]
fn an_unreadable_snapshot_is_an_error_naming_its_tree_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir);
    let (ticket_id, ..) = list_and_reserve(&store);
    store.settle();
    store.inner.projections.sled_trees()[overlay::Tree::Tickets.index()]
        .insert(ticket_id.as_bytes(), &[codec::ENVELOPE, 65, 1, 0xff][..])
        .expect("write garbage");
    let error = store
        .projections()
        .ticket(ticket_id)
        .expect_err("unreadable");
    let message = error.to_string();
    assert!(message.contains("tickets"), "{message}");
    assert!(message.contains(&ticket_id.to_string()), "{message}");
}

#[test]
fn a_feed_catch_up_pages_through_the_journal_each_ticket_once_a_page_as_it_is_now() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(&dir);
    // Ticket 2 listed (the reader saw this), then ticket 3, then ticket 1 listed and reserved.
    let seen = store
        .commit(&ticket_created(2), PriorState::Unknown)
        .expect("commit");
    let after = seen.seq;
    seen.finish();
    store
        .commit(&ticket_created(3), PriorState::Unknown)
        .expect("commit")
        .finish();
    let (first, _, _) = list_and_reserve(&store);
    let third = TicketId::new(RawId::from_parts(10, 3));
    let changes = |after, events| {
        let (page, _, read_to) = store.ticket_changes_after(after, events).expect("reads");
        (page, read_to)
    };
    let ids = |page: &ChangedTickets| page.iter().map(|(_, t)| t.id).collect::<Vec<_>>();

    // Two events a page: ticket 3 and ticket 1's listing; then ticket 1's reservation; then
    // the end of the journal. Each ticket as it is now, whichever change the page read.
    let (page, read_to) = changes(after, 2);
    assert_eq!(ids(&page), vec![third, first]);
    assert!(page[1].1.order_id.is_some(), "ticket 1 as it is now: held");
    let read_to = read_to.expect("read something");
    assert_eq!(
        read_to, page[1].0,
        "the page ends at the last change it read"
    );
    let (page, next) = changes(read_to, 2);
    assert_eq!(
        ids(&page),
        vec![first],
        "ticket 1 again, at its later change"
    );
    let next = next.expect("read something");
    assert_eq!(page[0].0, next);
    assert_eq!(changes(next, 2), (Vec::new(), None), "the end");
}

#[test]
fn a_restored_journal_appends_after_its_end_and_verifies() {
    // Arrange: a store with a few events, backed up and restored into a new directory (whose
    // sled id counter starts again at 0).
    let original = tempfile::tempdir().expect("a dir");
    let store = open(&original);
    for n in 1..=5 {
        store
            .commit(&ticket_created(n), PriorState::Unknown)
            .expect("commit")
            .finish();
    }
    let mut file = Vec::new();
    let written = store
        .write_backup(&mut file, &[("jwt-secret", b"s".to_vec())], &|| false)
        .expect("a backup");
    drop(store);
    let copy = tempfile::tempdir().expect("a dir");
    let (restored, files) = backup::restore(&file[..], copy.path()).expect("restored");
    assert_eq!(restored, written);
    assert_eq!(files, vec![("jwt-secret".to_owned(), b"s".to_vec())]);

    // Act
    let store = open(&copy);
    let last_before = store.inner.journal.handed_out_below();
    store
        .commit(&ticket_created(6), PriorState::Unknown)
        .expect("commit")
        .finish();
    store.replay().expect("replay");
    store.settle();

    // Assert
    assert_eq!(store.journal_len(), 6, "the new event overwrote none");
    assert!(store.inner.journal.handed_out_below() > last_before);
    let report = store.verify().expect("verify");
    assert_eq!(report.events, 6);
    assert_eq!(report.difference_count, 0, "{:?}", report.differences);
}
