//! The one way an entity actor changes its entity: decide, commit, apply, reply.
//!
//! `TicketActor` and `OrderActor` implement `EntityActor`. A handler asks the domain for a
//! decision (an event, no change, or a refusal) and hands it to `commit`, which appends the
//! event to the journal (one record: the commit), evolves the actor's state with the same
//! `evolve` the projections use, and says what changed. The reply is made in one of two
//! ways, both here: `reply` answers a refusal or a no-change at once and a change once it
//! is durable, leaving the actor free meanwhile (a losing buyer is answered from memory
//! while the winner waits for its flush); `reply_after_follow_up` also performs the work the
//! event causes in another entity (an order that ended releases its ticket) and keeps the
//! actor exclusive until then, so a second cancel cannot be answered before the ticket is
//! for sale again (DESIGN §4 "effects are visible when the reply arrives").
//!
//! Everything up to the commit is synchronous inside the handler: an actix handler that
//! awaits is not exclusive (actix issues 308 and 628), so only durability and follow-ups
//! are awaited.

use actix::prelude::*;

use super::Services;
use super::error::EntityError;
use super::registry::Passivation;
use crate::store::{Commit, PriorState, Store, StoreError};
use domain::error::DomainError;
use domain::events::Event;

/// An actor that owns one entity (a ticket, an order) and is its only writer.
pub trait EntityActor: Actor<Context = Context<Self>> + Sized {
    type Id: Copy + Eq + std::hash::Hash + Send + Sync + std::fmt::Display + 'static;
    type State: Clone + Send + 'static;
    /// A short name for logs and the live-actor gauge.
    const KIND: &'static str;

    /// Loads the snapshot an activation starts from; `None` for an unknown id.
    fn load(store: &Store, id: Self::Id) -> Result<Option<Self::State>, StoreError>;

    /// Applies an event to the state: the domain's `evolve` for the entity.
    fn evolve(state: Option<Self::State>, event: &Event) -> Option<Self::State>;

    /// The state as the projections should take it (they need not read it back).
    fn prior(state: &Self::State) -> PriorState<'_>;

    fn state(&self) -> &Self::State;
    fn state_mut(&mut self) -> &mut Self::State;
    fn services(&self) -> &Services;
    fn passivation(&mut self) -> &mut Passivation<Self>;
    fn passivation_ref(&self) -> &Passivation<Self>;

    /// Commits what the domain decided and applies it to the actor's state.
    ///
    /// A commit that fails may still have reached the journal, so the actor then leaves
    /// the registry and stops: the next message starts afresh from the store instead of
    /// answering from doubtful state.
    fn commit(
        &mut self,
        decision: Result<Option<Event>, DomainError>,
        ctx: &mut Context<Self>,
    ) -> Result<Change, EntityError> {
        self.passivation().touch();
        let Some(event) = decision? else {
            return Ok(Change::Unchanged);
        };
        let committed = self
            .services()
            .store
            .commit(&event, Self::prior(self.state()));
        let commit = committed.inspect_err(|_| {
            self.passivation_ref().leave_registry();
            ctx.stop();
        })?;
        if let Some(next) = Self::evolve(Some(self.state().clone()), &event) {
            *self.state_mut() = next;
        }
        Ok(Change::Committed { event, commit })
    }

    /// Answers a refusal or a no-change at once, and a change once it is durable; the actor
    /// takes other messages meanwhile. `answer` makes the reply from the state as the change
    /// left it.
    fn reply<T: 'static>(
        &self,
        change: Result<Change, EntityError>,
        answer: impl FnOnce(&Self::State) -> T,
    ) -> ResponseFuture<Result<T, EntityError>> {
        let change = match change {
            Ok(change) => change,
            Err(error) => return refuse(error),
        };
        let value = answer(self.state());
        match change {
            Change::Unchanged => Box::pin(std::future::ready(Ok(value))),
            Change::Committed { commit, .. } => {
                commit.finish();
                let busy = self.passivation_ref().busy();
                let store = self.services().store.clone();
                Box::pin(async move {
                    store.durable().await?;
                    drop(busy);
                    Ok(value)
                })
            }
        }
    }

    /// Like `reply`, but a change is answered only once it is durable and the work it
    /// causes in another entity is done (`Services::follow_up`), with the actor held
    /// exclusive until then.
    fn reply_after_follow_up<T: 'static>(
        &self,
        change: Result<Change, EntityError>,
        answer: impl FnOnce(&Self::State) -> T,
    ) -> AtomicResponse<Self, Result<T, EntityError>> {
        let (event, commit) = match change {
            Err(error) => return AtomicResponse::new(Box::pin(actix::fut::ready(Err(error)))),
            Ok(Change::Unchanged) => {
                let value = answer(self.state());
                return AtomicResponse::new(Box::pin(actix::fut::ready(Ok(value))));
            }
            Ok(Change::Committed { event, commit }) => (event, commit),
        };
        let value = answer(self.state());
        let services = self.services().clone();
        let busy = self.passivation_ref().busy();
        AtomicResponse::new(Box::pin(
            async move {
                services.store.durable().await?;
                if let Some(follow_up) = event.follow_up() {
                    services.follow_up(follow_up).await?;
                }
                // Only now may the checkpoint pass the event: a crash before this point
                // re-drives the follow-up at the next start.
                commit.finish();
                drop(busy);
                Ok(value)
            }
            .into_actor(self),
        ))
    }
}

/// A refusal, answered at once.
pub fn refuse<T: 'static>(error: EntityError) -> ResponseFuture<Result<T, EntityError>> {
    Box::pin(std::future::ready(Err(error)))
}

/// What a decision came to once committed.
pub enum Change {
    /// Accepted, and nothing changed (cancelling a cancelled order, releasing a ticket
    /// another order holds): nothing was written.
    Unchanged,
    /// One event was appended to the journal; not yet durable.
    Committed { event: Event, commit: Commit },
}
