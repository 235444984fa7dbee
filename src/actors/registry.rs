//! The registry of virtual actors: activate on the first message, passivate when idle.
//!
//! `Registry::send` finds the live actor for an id or starts one, loading its snapshot from
//! the store (an unknown id is `NotFound` and starts nothing). It starts the actor on the
//! arbiter of the thread that asks (an HTTP worker), so the actor's messages stay on one
//! thread; a caller on no arbiter spreads actors over the app's arbiters by id. An actor
//! idle for `idle_after` with no work in flight removes itself and stops; a message that
//! meets it while it stops gets `MailboxError::Closed` and is sent again to a fresh
//! activation, so passivation never fails a request. Sends are bounded (`send`, never
//! `do_send`): a full mailbox makes the caller wait.
//!
//! Lifecycle: built by `Services::new`; `shutdown` drops the factory and every live
//! address, which breaks the registry -> factory -> services reference cycle so the store
//! can close; the actors themselves stop with their arbiters.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use actix::dev::ToEnvelope;
use actix::prelude::*;
use actix_rt::ArbiterHandle;

use super::entity::EntityActor;
use super::error::EntityError;
use crate::store::Store;
use crate::sync::lock;

type Factory<A> =
    dyn Fn(<A as EntityActor>::Id, <A as EntityActor>::State, Passivation<A>) -> A + Send + Sync;

const SHARDS: usize = 64;
const SEND_ATTEMPTS: usize = 5;

struct LiveActor<A: Actor> {
    addr: Addr<A>,
    generation: u64,
}

struct Inner<A: EntityActor> {
    shards: Vec<Mutex<HashMap<A::Id, LiveActor<A>>>>,
    arbiters: Vec<ArbiterHandle>,
    factory: Mutex<Option<Arc<Factory<A>>>>,
    store: Store,
    idle_after: Duration,
    generation: AtomicU64,
    live: Arc<AtomicUsize>,
}

pub struct Registry<A: EntityActor> {
    inner: Arc<Inner<A>>,
}

impl<A: EntityActor> Clone for Registry<A> {
    fn clone(&self) -> Self {
        Registry {
            inner: self.inner.clone(),
        }
    }
}

impl<A: EntityActor> Registry<A> {
    pub fn new(store: Store, arbiters: Vec<ArbiterHandle>, idle_after: Duration) -> Registry<A> {
        Registry {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                arbiters,
                factory: Mutex::new(None),
                store,
                idle_after,
                generation: AtomicU64::new(0),
                live: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }

    /// Sets how an activation builds its actor. Called once, right after construction.
    pub fn set_factory(
        &self,
        factory: impl Fn(A::Id, A::State, Passivation<A>) -> A + Send + Sync + 'static,
    ) {
        *lock(&self.inner.factory) = Some(Arc::new(factory));
    }

    /// Actors of this kind currently alive.
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// Drops the factory and every address (see the module comment).
    pub fn shutdown(&self) {
        lock(&self.inner.factory).take();
        for shard in &self.inner.shards {
            lock(shard).clear();
        }
    }

    /// Sends one message to the entity `id`, activating it if needed.
    pub async fn send<M>(&self, id: A::Id, message: M) -> Result<M::Result, EntityError>
    where
        M: Message + Clone + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        for _ in 0..SEND_ATTEMPTS {
            let addr = self.activate(id)?;
            match addr.send(message.clone()).await {
                Ok(result) => return Ok(result),
                // The actor stopped (passivated) before handling the message: the message
                // was not processed, so sending it to a fresh activation is safe.
                Err(MailboxError::Closed) | Err(MailboxError::Timeout) => self.forget(id, &addr),
            }
        }
        Err(EntityError::Unavailable)
    }

    /// `send` for the usual message whose answer is itself a `Result<_, EntityError>`.
    pub async fn ask<M, T>(&self, id: A::Id, message: M) -> Result<T, EntityError>
    where
        M: Message<Result = Result<T, EntityError>> + Clone + Send + 'static,
        T: Send + 'static,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        self.send(id, message).await?
    }

    fn activate(&self, id: A::Id) -> Result<Addr<A>, EntityError> {
        let shard_index = shard_of(&id, SHARDS);
        // Loading under the shard lock keeps two activations of one id from racing; a
        // snapshot read is a sled cache hit in the common case.
        let mut shard = lock(&self.inner.shards[shard_index]);
        if let Some(live) = shard.get(&id).filter(|live| live.addr.connected()) {
            return Ok(live.addr.clone());
        }
        let factory = lock(&self.inner.factory)
            .clone()
            .ok_or(EntityError::Unavailable)?;
        let state = A::load(&self.inner.store, id)?.ok_or(EntityError::NotFound)?;
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed);
        self.inner.live.fetch_add(1, Ordering::Relaxed);
        let passivation = Passivation {
            registry: Arc::downgrade(&self.inner),
            id,
            generation,
            live: self.inner.live.clone(),
            idle_after: self.inner.idle_after,
            last_active: Instant::now(),
            busy: Arc::new(AtomicUsize::new(0)),
        };
        // Start next to the caller when it runs on an arbiter (an HTTP worker, the hold
        // supervisor, the start-up replay on the first app arbiter): its messages then stay on one
        // thread instead of waking another, which measured as the main cost of a request
        // (docs/BENCHMARKS.md). A caller on no arbiter (a blocking-pool thread) spreads
        // actors over the app's arbiters by id.
        // On an arbiter the actor is spawned directly; `start_in_arbiter` would first send
        // the start through that arbiter's queue, one more task wake-up per activation.
        let addr = match actix_rt::Arbiter::try_current() {
            Some(_) => A::create(move |_| factory(id, state, passivation)),
            None => {
                let arbiter = &self.inner.arbiters[shard_of(&id, self.inner.arbiters.len())];
                A::start_in_arbiter(arbiter, move |_| factory(id, state, passivation))
            }
        };
        shard.insert(
            id,
            LiveActor {
                addr: addr.clone(),
                generation,
            },
        );
        Ok(addr)
    }

    fn forget(&self, id: A::Id, addr: &Addr<A>) {
        let mut shard = lock(&self.inner.shards[shard_of(&id, SHARDS)]);
        if shard.get(&id).is_some_and(|live| live.addr == *addr) {
            shard.remove(&id);
        }
    }
}

/// Passivation bookkeeping embedded in every entity actor: when it was last used, how much
/// work it has in flight, and its place in the registry.
pub struct Passivation<A: EntityActor> {
    registry: Weak<Inner<A>>,
    id: A::Id,
    generation: u64,
    live: Arc<AtomicUsize>,
    idle_after: Duration,
    last_active: Instant,
    busy: Arc<AtomicUsize>,
}

/// Held by a reply future while an actor's change is not yet durable; the actor does not
/// passivate while any is alive.
pub struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<A: EntityActor> Passivation<A> {
    /// Starts the idle check; call from `Actor::started`.
    pub fn start(&self, ctx: &mut Context<A>) {
        let every = (self.idle_after / 2).max(Duration::from_millis(10));
        ctx.run_interval(every, |actor, ctx| {
            if actor.passivation().should_passivate() {
                actor.passivation().leave_registry();
                ctx.stop();
            }
        });
    }

    /// Records use; call at the top of every handler.
    pub fn touch(&mut self) {
        self.last_active = Instant::now();
    }

    /// Marks work in flight until the returned guard is dropped.
    pub fn busy(&self) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.busy.clone())
    }

    fn should_passivate(&self) -> bool {
        self.busy.load(Ordering::Relaxed) == 0 && self.last_active.elapsed() >= self.idle_after
    }

    /// Removes this activation from the registry (if it is still the registered one), so the
    /// next message starts a fresh one. Also used when a store failure makes the in-memory
    /// state untrustworthy.
    pub fn leave_registry(&self) {
        if let Some(registry) = self.registry.upgrade() {
            let mut shard = lock(&registry.shards[shard_of(&self.id, SHARDS)]);
            if shard
                .get(&self.id)
                .is_some_and(|live| live.generation == self.generation)
            {
                shard.remove(&self.id);
            }
        }
    }
}

impl<A: EntityActor> Drop for Passivation<A> {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

fn shard_of<T: Hash>(id: &T, count: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    (hasher.finish() % count.max(1) as u64) as usize
}
