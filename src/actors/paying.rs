//! Payments, as the order actor runs them (DESIGN §5).
//!
//! Paying is three steps, and only the first holds the order actor:
//! 1. `PayOrder` decides and commits `ChargeCreated` (the order is `awaiting:payment`, the
//!    charge `created`) and waits for it to be durable — BEFORE the gateway is called, so a
//!    crash can never leave money taken with no record of the attempt.
//! 2. The gateway is called outside the actor, so the actor stays free (a DELETE gets its
//!    409 at once; the hold supervisor's expiry is a no-op under a payment in flight).
//! 3. The outcome comes back as `SettlePayment`, committing `OrderCompleted` (then the ticket
//!    is sold) or `ChargeFailed` (then the ticket is released).
//!
//! An unknown outcome (timeouts, 5xx) is never guessed: the order stays awaiting payment and
//! the `PaymentSettler` asks the gateway again with the same idempotency key, after a
//! restart too.
//!
//! A payment that asks for the buyer's authentication (3-D Secure) commits
//! `AuthenticationRequested`: the order stays awaiting payment with a deadline of its own,
//! and the buyer gets the client secret (again, on paying again: it is not stored, so the
//! gateway is asked once more with the same key). It ends when the provider confirms (a webhook, the
//! settler asking again, or the offline gateway's simulated step,
//! `Services::simulate_authentication`), or, at that deadline, when the hold supervisor
//! has it cancelled (`AbandonPayment`) and settles the order with what the cancellation
//! says. A success for an order that can no longer complete is refunded (`settle`),
//! outside the actor as well.
//!
//! Two types say what a payment came to: the domain's `ChargeOutcome`, what the provider
//! said of one charge (which may be "unknown"), and `PaymentStatus`, where the order's
//! payment stands as the buyer is told (paid, declined, or pending).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::StreamExt;

use super::Services;
use super::entity::{Change, EntityActor, refuse};
use super::error::EntityError;
use super::order::OrderActor;
use crate::gateway::webhook::{WebhookEvent, WebhookKind};
use crate::gateway::{CancelRequest, ChargeRequest, RefundRequest};
use crate::readiness::Readiness;
use crate::store::PriorState;
use domain::charge::{self, Charge, ChargeOutcome};
use domain::error::DomainError;
use domain::events::Event;
use domain::ids::{ChargeId, OrderId, UserId};
use domain::order::{self, Order, OrderCommand, OrderStatus};

/// Where an order's payment stands, as the buyer is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// The order is complete (now, or it already was: no second charge was made).
    Paid { charge_id: ChargeId },
    /// The card was declined; the order is cancelled and the ticket for sale again.
    Declined {
        charge_id: ChargeId,
        message: String,
    },
    /// The gateway gave no definite answer; the order stays awaiting payment until settled.
    Pending { charge_id: ChargeId },
    /// The buyer must authenticate the payment (3-D Secure) with `client_secret`; the order
    /// stays awaiting payment until the provider confirms, or the payment is abandoned.
    ActionRequired {
        charge_id: ChargeId,
        client_secret: String,
    },
}

/// The buyer pays for an order with a card token.
#[derive(Message, Clone)]
#[rtype(result = "Result<PaymentStatus, EntityError>")]
pub struct PayOrder {
    pub by: UserId,
    pub token: String,
}

impl Handler<PayOrder> for OrderActor {
    type Result = ResponseFuture<Result<PaymentStatus, EntityError>>;

    #[tracing::instrument(name = "Paying for an order", skip_all, fields(order_id = %self.order.id, user_id = %msg.by))]
    fn handle(&mut self, msg: PayOrder, ctx: &mut Context<Self>) -> Self::Result {
        if order::resumes_authentication(&self.order, msg.by)
            && let Some(charge_id) = self.order.charge_id
        {
            // Asked again with the same key: Stripe replays the payment and a fresh read
            // gives its secret (or its end, if the buyer finished meanwhile).
            let Some(call) = self.begin_gateway_call() else {
                return refuse(DomainError::PaymentInFlight.into());
            };
            self.passivation.touch();
            let services = self.services.clone();
            let order_id = self.order.id;
            let busy = self.passivation.busy();
            return Box::pin(async move {
                let answer = charge_and_settle(&services, order_id, charge_id).await;
                drop((call, busy));
                answer
            });
        }
        let charge_id = ChargeId::new(self.services.ids.next());
        let command = OrderCommand::BeginPayment {
            by: msg.by,
            charge_id,
            token: msg.token,
            now: self.services.settings.clock.now(),
        };
        let decision = order::decide(&self.order, command);
        match self.commit(decision, ctx) {
            Err(error) => refuse(error),
            // Accepted without change: the order is already paid; answer with its charge.
            Ok(Change::Unchanged) => {
                let answer = match self.order.charge_id {
                    Some(charge_id) => Ok(PaymentStatus::Paid { charge_id }),
                    None => Err(DomainError::OrderCancelled.into()),
                };
                Box::pin(std::future::ready(answer))
            }
            Ok(Change::Committed { commit, .. }) => {
                let services = self.services.clone();
                let order_id = self.order.id;
                let busy = self.passivation.busy();
                // The order was `created` until this commit, so no call can be out for it.
                let call = self.begin_gateway_call();
                Box::pin(async move {
                    services.store.durable().await?;
                    commit.finish();
                    let answer = charge_and_settle(&services, order_id, charge_id).await;
                    drop((call, busy));
                    answer
                })
            }
        }
    }
}

/// Asks the gateway (again, with the same key, when settling) and feeds the outcome back.
/// A charge too old for the provider to still know its key is looked up by its order
/// instead of asked for again (`charge::may_ask_again`).
async fn charge_and_settle(
    services: &Services,
    order_id: OrderId,
    charge_id: ChargeId,
) -> Result<PaymentStatus, EntityError> {
    let charge = services
        .store
        .projections()
        .charge(charge_id)?
        .ok_or(EntityError::NotFound)?;
    let max_age = services.settings.payment_max_age_secs;
    let now = services.settings.clock.now();
    let outcome = if charge::may_ask_again(&charge, now, max_age) {
        services.gateway.charge(charge_request(&charge)).await
    } else {
        services.gateway.find(order_id.to_string()).await
    };
    if let ChargeOutcome::Unknown { reason } = &outcome {
        tracing::warn!(%order_id, %charge_id, %reason, "Payment outcome unknown; the order stays awaiting payment");
        return Ok(PaymentStatus::Pending { charge_id });
    }
    settle_and_tell(services, order_id, charge_id, outcome).await
}

/// Settles a definite outcome and says where the order's payment then stands, as the buyer
/// is told: the order decides, so an outcome that came too late (an order already ended)
/// is answered by what the order is.
async fn settle_and_tell(
    services: &Services,
    order_id: OrderId,
    charge_id: ChargeId,
    outcome: ChargeOutcome,
) -> Result<PaymentStatus, EntityError> {
    let (message, client_secret) = match &outcome {
        ChargeOutcome::Declined { message, .. } => (Some(message.clone()), None),
        ChargeOutcome::ActionRequired { client_secret, .. } => (None, Some(client_secret.clone())),
        ChargeOutcome::Succeeded { .. } | ChargeOutcome::Unknown { .. } => (None, None),
    };
    let order = settle(services, order_id, charge_id, outcome).await?;
    match (order.status, message, client_secret) {
        (OrderStatus::Complete, _, _) => Ok(PaymentStatus::Paid { charge_id }),
        (OrderStatus::Cancelled, Some(message), _) => {
            Ok(PaymentStatus::Declined { charge_id, message })
        }
        (OrderStatus::Cancelled, None, _) => Err(DomainError::OrderCancelled.into()),
        (OrderStatus::AwaitingPayment, _, Some(client_secret)) if order.abandon_at.is_some() => {
            Ok(PaymentStatus::ActionRequired {
                charge_id,
                client_secret,
            })
        }
        _ => Ok(PaymentStatus::Pending { charge_id }),
    }
}

fn charge_request(charge: &Charge) -> ChargeRequest {
    ChargeRequest {
        amount_cents: charge.amount.cents(),
        token: charge.token.clone(),
        idempotency_key: charge.idempotency_key(),
        order_id: charge.order_id.to_string(),
        charge_id: charge.id.to_string(),
    }
}

/// The gateway's answer for a payment, from the payment call, the settler or a webhook.
#[derive(Message, Clone)]
#[rtype(result = "Result<Settled, EntityError>")]
pub struct SettlePayment {
    pub charge_id: ChargeId,
    pub outcome: ChargeOutcome,
}

/// What settling a payment came to.
pub enum Settled {
    /// The order as the outcome left it (or as it was, if the outcome changed nothing).
    Order(Order),
    /// Money was taken for an order that can no longer complete: the caller gives it back
    /// (`settle`), outside the actor, and records the refund.
    Refund { charge: Charge, stripe_id: String },
}

impl Handler<SettlePayment> for OrderActor {
    type Result = AtomicResponse<Self, Result<Settled, EntityError>>;

    #[tracing::instrument(name = "Settling a payment", skip_all, fields(order_id = %self.order.id, charge_id = %msg.charge_id))]
    fn handle(&mut self, msg: SettlePayment, ctx: &mut Context<Self>) -> Self::Result {
        if order::needs_refund(&self.order, msg.charge_id, &msg.outcome)
            && let ChargeOutcome::Succeeded { intent_id } = msg.outcome
        {
            let refund = match self.services.store.projections().charge(msg.charge_id) {
                Ok(Some(charge)) => Ok(Settled::Refund {
                    charge,
                    stripe_id: intent_id,
                }),
                Ok(None) => Err(EntityError::NotFound),
                Err(error) => Err(error.into()),
            };
            return AtomicResponse::new(Box::pin(actix::fut::ready(refund)));
        }
        let command = OrderCommand::SettlePayment {
            charge_id: msg.charge_id,
            outcome: msg.outcome,
            grace_secs: self.services.settings.authentication_grace_secs,
        };
        let change = self.commit(order::decide(&self.order, command), ctx);
        if let Ok(Change::Committed {
            event: Event::AuthenticationRequested(requested),
            ..
        }) = &change
        {
            // The payment now has a deadline in the index: the supervisor may be sleeping
            // past it, or on no deadline at all.
            self.services.holds.hold_placed(requested.abandon_at);
        }
        self.reply_after_follow_up(change, |order| Settled::Order(order.clone()))
    }
}

/// Applies a gateway's outcome to an order, and gives the money back when it came for an
/// order that can no longer complete: the refund is asked for here, outside the order actor
/// (which stays free meanwhile), with a key fixed per charge so that it is made once, and
/// recorded as `ChargeRefunded`, which changes only the charge.
pub async fn settle(
    services: &Services,
    order_id: OrderId,
    charge_id: ChargeId,
    outcome: ChargeOutcome,
) -> Result<Order, EntityError> {
    let settled = services
        .orders
        .ask(order_id, SettlePayment { charge_id, outcome })
        .await?;
    let (charge, stripe_id) = match settled {
        Settled::Order(order) => return Ok(order),
        Settled::Refund { charge, stripe_id } => (charge, stripe_id),
    };
    if charge.stripe_refund_id.is_none() {
        tracing::warn!(%charge_id, %stripe_id, "Refunding a payment for an order that can no longer complete");
        give_back(services, &charge, stripe_id).await.inspect_err(|_| {
            tracing::error!(%charge_id, "The refund is retried when the success is reported again");
        })?;
    }
    services.order(order_id)
}

/// Refunds `charge` in full at the provider, with a key fixed per charge so that it is made
/// once however often it is asked for, and records the refund (`ChargeRefunded`, which
/// changes only the charge) durably; answers the refund's id.
async fn give_back(
    services: &Services,
    charge: &Charge,
    stripe_id: String,
) -> Result<String, EntityError> {
    let request = RefundRequest {
        intent_id: stripe_id.clone(),
        idempotency_key: charge.refund_key(),
    };
    let refund_id = services.gateway.refund(request).await.map_err(|error| {
        tracing::error!(charge_id = %charge.id, ?error, "Refund failed");
        EntityError::Unavailable
    })?;
    if let Some(event) = charge::record_refund(charge, stripe_id, refund_id.clone()) {
        services.store.commit(&event, PriorState::Unknown)?.finish();
        services.store.durable().await?;
    }
    Ok(refund_id)
}

/// What an operator's refund came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Refunded {
    /// Given back now: the provider's refund id.
    Now { refund_id: String, charge: Charge },
    /// Given back before: nothing was asked of the provider.
    Before { refund_id: String, charge: Charge },
}

/// An operator gives a paid order's money back (`ticketing admin refund`, through the
/// control socket of the running shop, whose gateway holds the provider's keys). The order
/// stays complete and its ticket sold (`order::refundable`); the charge records the
/// refund, once.
#[tracing::instrument(name = "Refunding an order for the operator", skip(services))]
pub async fn refund_order(services: &Services, order_id: OrderId) -> Result<Refunded, EntityError> {
    let order = services.order(order_id)?;
    let charge = services.charge(order::refundable(&order)?)?;
    if let Some(refund_id) = charge.stripe_refund_id.clone() {
        return Ok(Refunded::Before { refund_id, charge });
    }
    // A completed order's charge names the provider's payment.
    let stripe_id = charge.stripe_id.clone().ok_or(EntityError::NotFound)?;
    tracing::info!(%stripe_id, "Refunding a paid order");
    let refund_id = give_back(services, &charge, stripe_id).await?;
    Ok(Refunded::Now {
        refund_id,
        charge: services.charge(charge.id)?,
    })
}

/// Asks the gateway again for an order still awaiting payment (the settler sends this).
#[derive(Message, Clone)]
#[rtype(result = "Result<PaymentStatus, EntityError>")]
pub struct RetryPayment;

impl Handler<RetryPayment> for OrderActor {
    type Result = ResponseFuture<Result<PaymentStatus, EntityError>>;

    fn handle(&mut self, _: RetryPayment, _: &mut Context<Self>) -> Self::Result {
        self.passivation.touch();
        let Some(charge_id) = self.order.charge_id else {
            return Box::pin(std::future::ready(Err(EntityError::NotFound)));
        };
        let answer = match self.order.status {
            OrderStatus::AwaitingPayment => None,
            OrderStatus::Complete => Some(PaymentStatus::Paid { charge_id }),
            OrderStatus::Created | OrderStatus::Cancelled => Some(PaymentStatus::Declined {
                charge_id,
                message: "Payment failed".into(),
            }),
        };
        if let Some(answer) = answer {
            return Box::pin(std::future::ready(Ok(answer)));
        }
        // One call to the gateway at a time per order: while one is out (the buyer's own,
        // or an earlier settling), this one waits for the next round.
        let Some(call) = self.begin_gateway_call() else {
            return Box::pin(std::future::ready(Ok(PaymentStatus::Pending { charge_id })));
        };
        let services = self.services.clone();
        let order_id = self.order.id;
        let busy = self.passivation.busy();
        Box::pin(async move {
            let answer = charge_and_settle(&services, order_id, charge_id).await;
            drop((call, busy));
            answer
        })
    }
}

/// The hold supervisor found the order's payment waiting on the buyer's authentication past
/// its deadline (`order::authentication_abandoned`): the payment is cancelled at the
/// provider, and the order settled with what that says, a decline as a rule (the order
/// ends and frees its ticket), a success if the buyer's authentication won the race. A
/// no-op for an order not (or no longer) due, or while another gateway call for it is out;
/// an unknown answer leaves it due, and the supervisor's next pass asks again.
#[derive(Message, Clone)]
#[rtype(result = "Result<Order, EntityError>")]
pub struct AbandonPayment;

impl Handler<AbandonPayment> for OrderActor {
    type Result = ResponseFuture<Result<Order, EntityError>>;

    fn handle(&mut self, _: AbandonPayment, _: &mut Context<Self>) -> Self::Result {
        self.passivation.touch();
        let now = self.services.settings.clock.now();
        let due = self
            .order
            .charge_id
            .filter(|_| order::authentication_abandoned(&self.order, now));
        let (Some(charge_id), Some(call)) = (due, due.and_then(|_| self.begin_gateway_call()))
        else {
            return Box::pin(std::future::ready(Ok(self.order.clone())));
        };
        let services = self.services.clone();
        let order_id = self.order.id;
        let busy = self.passivation.busy();
        Box::pin(async move {
            let answer = abandon(&services, order_id, charge_id).await;
            drop((call, busy));
            answer
        })
    }
}

#[tracing::instrument(name = "Abandoning a payment never authenticated", skip(services))]
async fn abandon(
    services: &Services,
    order_id: OrderId,
    charge_id: ChargeId,
) -> Result<Order, EntityError> {
    let charge = services.charge(charge_id)?;
    // `AuthenticationRequested` named the intent; without one there is nothing to cancel,
    // which only a damaged store could cause.
    let intent_id = charge.stripe_id.clone().ok_or(EntityError::NotFound)?;
    tracing::info!(%intent_id, "The buyer never completed the payment's authentication; cancelling it");
    let request = CancelRequest {
        intent_id,
        idempotency_key: charge.cancel_key(),
    };
    match services.gateway.cancel(request).await {
        ChargeOutcome::Unknown { reason } => {
            tracing::warn!(%reason, "Cancelling an abandoned payment got no definite answer; trying again at the next pass");
            services.order(order_id)
        }
        outcome => settle(services, order_id, charge_id, outcome).await,
    }
}

impl OrderActor {
    /// Marks a gateway call for this order as out, unless one already is.
    fn begin_gateway_call(&self) -> Option<GatewayCall> {
        if self.paying.replace(true) {
            return None;
        }
        Some(GatewayCall(self.paying.clone()))
    }
}

/// A gateway call in flight for one order; clears the order's mark when it ends (or when
/// the request that made it is dropped).
struct GatewayCall(std::rc::Rc<std::cell::Cell<bool>>);

impl Drop for GatewayCall {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Settles orders left awaiting payment: once at start-up, then again and again, each order
/// backing off on its own (`every`, doubling per attempt up to `MAX_RETRY_PAUSE`). A pass
/// starts only when the previous one has ended, and an order whose gateway call is still out
/// is skipped, so there is never more than one call per order at a time. An order whose
/// charge is too old to ask for again is looked up instead; one the lookup cannot settle is
/// left for a person (`ticketing_payments_for_the_operator`, and an error in the log).
///
/// Lifecycle: started by `lib.rs` on the first actor arbiter; waits until start-up has
/// replayed the journal, then runs until its arbiter stops.
pub struct PaymentSettler {
    services: Services,
    every: Duration,
    readiness: Readiness,
    /// A pass is under way.
    running: bool,
    /// When each order still awaiting payment may be asked about next, and how many times
    /// it has been. Forgotten at restart, when every order is asked about once at start-up.
    next: HashMap<OrderId, (Instant, u32)>,
    /// Orders left for a person.
    for_the_operator: HashSet<OrderId>,
}

/// The longest pause between two attempts to settle one order.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30 * 60);

impl PaymentSettler {
    pub fn new(services: Services, every: Duration, readiness: Readiness) -> PaymentSettler {
        PaymentSettler {
            services,
            every,
            readiness,
            running: false,
            next: HashMap::new(),
            for_the_operator: HashSet::new(),
        }
    }

    /// Starts a pass over the orders that are due, unless one is under way.
    fn pass(&mut self, ctx: &mut Context<Self>) {
        if self.running || !self.readiness.is_ready() {
            return;
        }
        let now = Instant::now();
        let awaiting: HashSet<OrderId> = self
            .services
            .store
            .projections()
            .awaiting_payment()
            .into_iter()
            .collect();
        // Orders settled since (or by someone else) are no longer followed.
        self.next.retain(|order_id, _| awaiting.contains(order_id));
        self.for_the_operator
            .retain(|order_id| awaiting.contains(order_id));
        let due: Vec<OrderId> = awaiting
            .into_iter()
            .filter(|order_id| self.next.get(order_id).is_none_or(|(at, _)| *at <= now))
            .collect();
        if due.is_empty() {
            return self.publish();
        }
        self.running = true;
        let services = self.services.clone();
        let settling = async move {
            futures::stream::iter(due)
                .map(|order_id| {
                    let services = services.clone();
                    async move { (order_id, settle_one(&services, order_id).await) }
                })
                .buffer_unordered(8)
                .collect::<Vec<_>>()
                .await
        };
        ctx.spawn(settling.into_actor(self).map(|outcomes, settler, _| {
            settler.running = false;
            for (order_id, outcome) in outcomes {
                settler.after(order_id, outcome);
            }
            settler.publish();
        }));
    }

    /// Schedules the next attempt for an order still unsettled, or forgets a settled one.
    fn after(&mut self, order_id: OrderId, outcome: Settling) {
        match outcome {
            Settling::Settled => {
                self.next.remove(&order_id);
                self.for_the_operator.remove(&order_id);
            }
            Settling::Again | Settling::ForTheOperator => {
                let tries = self.next.get(&order_id).map_or(0, |(_, tries)| *tries) + 1;
                let pause = self
                    .every
                    .saturating_mul(1 << tries.min(16))
                    .min(MAX_RETRY_PAUSE);
                self.next.insert(order_id, (Instant::now() + pause, tries));
                if outcome == Settling::ForTheOperator && self.for_the_operator.insert(order_id) {
                    tracing::error!(%order_id, "A payment of unknown outcome is too old to ask for again, and looking it up at the provider did not settle it: a person must look");
                }
            }
        }
    }

    fn publish(&self) {
        self.services.payments_for_the_operator.store(
            self.for_the_operator.len(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

impl Actor for PaymentSettler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let readiness = self.readiness.clone();
        ctx.spawn(
            async move { readiness.wait().await.is_ok() }
                .into_actor(self)
                .map(|ready, settler, ctx| {
                    if ready {
                        settler.pass(ctx);
                    }
                }),
        );
        ctx.run_interval(self.every, |settler, ctx| settler.pass(ctx));
    }
}

/// What one attempt to settle an order left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settling {
    Settled,
    Again,
    /// Still unknown although the charge is too old to ask for again.
    ForTheOperator,
}

async fn settle_one(services: &Services, order_id: OrderId) -> Settling {
    match services.orders.ask(order_id, RetryPayment).await {
        // Waiting on the buyer, who may take minutes: asked again on the backoff, and
        // abandoned by the hold supervisor at its deadline.
        Ok(PaymentStatus::ActionRequired { .. }) => Settling::Again,
        Ok(PaymentStatus::Pending { charge_id }) => {
            let too_old = services
                .store
                .projections()
                .charge(charge_id)
                .ok()
                .flatten()
                .is_some_and(|charge| {
                    !charge::may_ask_again(
                        &charge,
                        services.settings.clock.now(),
                        services.settings.payment_max_age_secs,
                    )
                });
            if too_old {
                Settling::ForTheOperator
            } else {
                Settling::Again
            }
        }
        Ok(answer) => {
            tracing::info!(%order_id, ?answer, "Settled a payment");
            Settling::Settled
        }
        Err(error) => {
            tracing::error!(%order_id, ?error, "Failed to settle a payment");
            Settling::Again
        }
    }
}

impl Services {
    /// A charge record, for its order's buyer.
    pub fn charge(&self, id: ChargeId) -> Result<Charge, EntityError> {
        self.store
            .projections()
            .charge(id)?
            .ok_or(EntityError::NotFound)
    }

    /// Applies a verified Stripe webhook once per event id: a late confirmation completes or
    /// cancels the order like the payment call's own answer would (or refunds it).
    pub async fn handle_webhook(&self, event: WebhookEvent) -> Result<(), EntityError> {
        if self.store.webhook_seen(&event.id)? {
            return Ok(());
        }
        let settlement = match event.kind {
            WebhookKind::PaymentSucceeded {
                intent_id,
                order_id,
                charge_id,
            } => ids(order_id, charge_id).map(|ids| (ids, ChargeOutcome::Succeeded { intent_id })),
            WebhookKind::PaymentFailed {
                intent_id,
                order_id,
                charge_id,
            } => ids(order_id, charge_id).map(|ids| {
                (
                    ids,
                    ChargeOutcome::Declined {
                        intent_id: Some(intent_id),
                        message: "Payment failed".into(),
                    },
                )
            }),
            WebhookKind::Other(_) => None,
        };
        if let Some(((order_id, charge_id), outcome)) = settlement {
            match settle(self, order_id, charge_id, outcome).await {
                Ok(_) | Err(EntityError::NotFound) => {}
                Err(error) => return Err(error),
            }
        }
        self.store.record_webhook(&event.id)?;
        self.store.durable().await?;
        Ok(())
    }
}

impl Services {
    /// The offline gateway's stand-in for the buyer's authentication of the payment
    /// `charge_id` (DESIGN §5): the buyer passed it (`passed`) or failed it, and the payment
    /// is settled accordingly. Not found with a gateway that does not simulate it (Stripe's
    /// happens between the buyer and Stripe); refused for anyone but the order's buyer, and
    /// for a payment not waiting on an authentication.
    pub async fn simulate_authentication(
        &self,
        charge_id: ChargeId,
        by: UserId,
        passed: bool,
    ) -> Result<PaymentStatus, EntityError> {
        if !self.gateway.simulates_authentication() {
            return Err(EntityError::NotFound);
        }
        let charge = self.charge(charge_id)?;
        let order = self.order(charge.order_id)?;
        if !order::authentication_pending(&order, by, charge_id)? {
            return Ok(PaymentStatus::Paid { charge_id });
        }
        let outcome = charge
            .stripe_id
            .as_deref()
            .and_then(|intent_id| self.gateway.simulate_authentication(intent_id, passed))
            .ok_or(EntityError::NotFound)?;
        settle_and_tell(self, order.id, charge_id, outcome).await
    }
}

fn ids(order_id: Option<String>, charge_id: Option<String>) -> Option<(OrderId, ChargeId)> {
    let order_id = OrderId::parse(order_id.as_deref()?).ok()?;
    let charge_id = ChargeId::parse(charge_id.as_deref()?).ok()?;
    Some((order_id, charge_id))
}
