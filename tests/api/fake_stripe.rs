//! A fake Stripe for the black-box tests, on wiremock: the real async-stripe client talks to
//! it over 127.0.0.1, so nothing reaches the internet (DESIGN §5).
//!
//! May depend on wiremock, url, serde_json, async-stripe-webhook and std. It is test support
//! only: it knows nothing of the app, and the app knows nothing of it beyond the base URL.
//!
//! wiremock serves on its own thread and runtime (so the fake works under `#[tokio::test]`,
//! under `#[actix_web::test]`, and across an app's restarts), routes, records every request,
//! and delays answers; the `fail_next` and `decline_all` knobs are mocks mounted in front.
//! What is custom is Stripe's memory, in one `Respond` implementation: the PaymentIntents
//! (a `pm_card_authenticationRequired` one stops in `requires_action`, as a card needing
//! 3-D Secure does, and can be cancelled) and refunds made, with bodies carrying every field async-stripe requires (CRATES.md),
//! and `Idempotency-Key` replay as Stripe does it (a repeated key replays the stored answer
//! of the first request that ran and charges nothing; the same key with other parameters is
//! an `idempotency_error`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::matchers::{any, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The exact body real Stripe sends for a generic card decline (HTTP 402).
fn card_declined_body() -> Value {
    json!({"error": {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined."
    }})
}

/// A request the fake received, as the tests read it (from wiremock's recording).
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The parameters, percent-decoded, in the order sent (`metadata[order_id]`, ...): a
    /// POST's form body, a GET's query.
    pub form: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
    pub stripe_version: Option<String>,
}

impl RecordedRequest {
    /// The value of a form field, if it was sent (the first one, if sent twice).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl From<&Request> for RecordedRequest {
    fn from(request: &Request) -> RecordedRequest {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let form = if request.method == "GET" {
            request.url.query_pairs().into_owned().collect()
        } else {
            url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect()
        };
        RecordedRequest {
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            form,
            idempotency_key: header("idempotency-key"),
            authorization: header("authorization"),
            stripe_version: header("stripe-version"),
        }
    }
}

/// A refund the fake made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeRefund {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
}

/// A running fake. Dropping it stops its server.
pub struct FakeStripe {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeStripe {
    /// Starts the server on 127.0.0.1 with a free port of its own. (Not one of wiremock's
    /// pooled servers: an app a finished test left running must not reach the next test's
    /// fake.)
    pub async fn start() -> FakeStripe {
        let server = MockServer::builder().start().await;
        let state = Arc::new(Mutex::new(State::default()));
        // Mounted in this order: the search route must win over the read of an intent by id.
        let routes = [
            ("POST", "^/v1/payment_intents$", Endpoint::CreateIntent),
            (
                "GET",
                "^/v1/payment_intents/search$",
                Endpoint::SearchIntents,
            ),
            ("GET", "^/v1/payment_intents/[^/]+$", Endpoint::GetIntent),
            (
                "POST",
                "^/v1/payment_intents/[^/]+/cancel$",
                Endpoint::CancelIntent,
            ),
            ("POST", "^/v1/refunds$", Endpoint::CreateRefund),
        ];
        for (verb, route, endpoint) in routes {
            let stripe = Stripe {
                state: Arc::clone(&state),
                endpoint,
            };
            Mock::given(method(verb))
                .and(path_regex(route))
                .respond_with(stripe)
                .mount(&server)
                .await;
        }
        FakeStripe { server, state }
    }

    /// What to pass as the Stripe API base; requests then go to `{base}v1/...`.
    pub fn base_url(&self) -> String {
        format!("{}/", self.server.uri())
    }

    /// The wiremock server, for a test that mounts a mock of its own in front of the fake.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The next `n` requests answer HTTP 500 before doing anything, as an overloaded Stripe
    /// front end would; nothing is stored under their idempotency keys.
    pub async fn fail_next(&self, n: u64) {
        let (status, overloaded) = error(500, "api_error", None, "Something went wrong (fake).");
        Mock::given(any())
            .respond_with(ResponseTemplate::new(status).set_body_json(overloaded))
            .up_to_n_times(n)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// From now on every new PaymentIntent is declined, whatever its token.
    pub async fn decline_all(&self) {
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents"))
            .respond_with(ResponseTemplate::new(402).set_body_json(card_declined_body()))
            .with_priority(2)
            .mount(&self.server)
            .await;
    }

    /// Every answer is held back this long after the work is done (a charge is created
    /// before the wait), to simulate timeouts and slow payments. Zero turns it off; answers
    /// already waiting keep their delay.
    pub fn delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// The status new PaymentIntents get ("succeeded" unless changed), e.g. "processing".
    pub fn intent_status(&self, status: &str) {
        self.lock().intent_status = status.to_owned();
    }

    /// Moves an existing PaymentIntent to `status`, as Stripe finishing a payment would.
    /// Replays of its create request keep answering with the stored, older body.
    pub fn set_intent_status(&self, intent_id: &str, status: &str) {
        let mut state = self.lock();
        let intent = state
            .intents
            .iter_mut()
            .find(|intent| intent["id"] == intent_id)
            .unwrap_or_else(|| panic!("the fake Stripe has no intent {intent_id}"));
        intent["status"] = json!(status);
        let amount = intent["amount"].clone();
        intent["amount_received"] = if status == "succeeded" {
            amount
        } else {
            json!(0)
        };
    }

    /// Every request received so far, oldest first.
    pub async fn requests(&self) -> Vec<RecordedRequest> {
        self.server
            .received_requests()
            .await
            .expect("request recording is on by default")
            .iter()
            .map(RecordedRequest::from)
            .collect()
    }

    /// How many distinct PaymentIntents were created (declines create none here).
    pub fn charges_created(&self) -> usize {
        self.lock().intents.len()
    }

    /// The ids of the PaymentIntents created, oldest first.
    pub fn intent_ids(&self) -> Vec<String> {
        self.lock()
            .intents
            .iter()
            .filter_map(|intent| intent["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// The refunds made, oldest first.
    pub fn refunds(&self) -> Vec<FakeRefund> {
        self.lock().refunds.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// A PaymentIntent as Stripe would return it, with every field async-stripe requires.
pub fn payment_intent_json(
    id: &str,
    amount: i64,
    currency: &str,
    status: &str,
    metadata: &[(&str, &str)],
) -> Value {
    let metadata: serde_json::Map<String, Value> = metadata
        .iter()
        .map(|(key, value)| ((*key).to_owned(), json!(value)))
        .collect();
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": if status == "succeeded" { amount } else { 0 },
        "capture_method": "automatic",
        "client_secret": format!("{id}_secret_fake"),
        "confirmation_method": "automatic",
        "created": now(),
        "currency": currency,
        "livemode": false,
        "metadata": metadata,
        "payment_method_types": ["card"],
        "status": status,
    })
}

/// A Stripe event envelope around `object`, as a webhook delivers it.
pub fn webhook_event(event_id: &str, event_type: &str, object: Value) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "created": now(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
        "data": {"object": object},
    })
}

/// A webhook delivery: the raw body and its `Stripe-Signature` header, signed with `secret`
/// at `timestamp` (now when None).
pub fn signed_webhook(event: &Value, secret: &str, timestamp: Option<i64>) -> (String, String) {
    let body = event.to_string();
    let header = stripe_webhook::Webhook::generate_test_header(&body, secret, timestamp);
    (body, header)
}

/// Seconds since the epoch by the system clock, as Stripe stamps objects and signatures.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default()
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test must not take the other assertions down with a poisoned lock.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One Stripe endpoint, answering from the state every endpoint shares.
struct Stripe {
    state: Arc<Mutex<State>>,
    endpoint: Endpoint,
}

impl Respond for Stripe {
    /// Does the work at once (so a charge exists even when the client gives up during the
    /// delay), then lets wiremock hold the answer back by the configured delay.
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let (status, body) = state.answer(&RecordedRequest::from(request), self.endpoint);
        ResponseTemplate::new(status)
            .set_body_json(body)
            .set_delay(state.delay)
    }
}

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    CreateIntent,
    GetIntent,
    CancelIntent,
    SearchIntents,
    CreateRefund,
}

#[derive(Debug)]
struct State {
    delay: Duration,
    intent_status: String,
    /// Idempotency key -> the request it was first used with and the answer it got.
    replays: HashMap<String, Stored>,
    intents: Vec<Value>,
    refunds: Vec<FakeRefund>,
    next_id: u64,
}

impl Default for State {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            intent_status: "succeeded".to_owned(),
            replays: HashMap::new(),
            intents: Vec::new(),
            refunds: Vec::new(),
            next_id: 1,
        }
    }
}

#[derive(Debug)]
struct Stored {
    method: String,
    path: String,
    /// Sorted, because Stripe compares parameters, not the order they were sent in.
    form: Vec<(String, String)>,
    status: u16,
    body: Value,
}

type Answer = (u16, Value);

impl State {
    /// The idempotency replay, then the endpoint's own work.
    fn answer(&mut self, request: &RecordedRequest, endpoint: Endpoint) -> Answer {
        // Stripe ignores the key on GET requests, which are idempotent anyway.
        let key = request
            .idempotency_key
            .clone()
            .filter(|_| request.method == "POST");
        let mut sorted_form = request.form.clone();
        sorted_form.sort();
        if let Some(stored) = key.as_ref().and_then(|key| self.replays.get(key)) {
            if stored.method == request.method
                && stored.path == request.path
                && stored.form == sorted_form
            {
                return (stored.status, stored.body.clone());
            }
            return error(
                400,
                "idempotency_error",
                None,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            );
        }
        let (status, body) = match endpoint {
            Endpoint::CreateIntent => self.create_intent(request),
            Endpoint::GetIntent => self.get_intent(&request.path),
            Endpoint::CancelIntent => self.cancel_intent(request),
            Endpoint::SearchIntents => self.search_intents(request),
            Endpoint::CreateRefund => self.create_refund(request),
        };
        // Stripe stores what an endpoint that ran answered (successes and card errors), but
        // not a request refused by validation before it ran.
        if let Some(key) = key
            && (status < 300 || status == 402)
        {
            self.replays.insert(
                key,
                Stored {
                    method: request.method.clone(),
                    path: request.path.clone(),
                    form: sorted_form,
                    status,
                    body: body.clone(),
                },
            );
        }
        (status, body)
    }

    fn create_intent(&mut self, request: &RecordedRequest) -> Answer {
        let Some(amount) = request
            .field("amount")
            .and_then(|amount| amount.parse::<i64>().ok())
        else {
            return missing_param("amount");
        };
        let Some(currency) = request.field("currency") else {
            return missing_param("currency");
        };
        let token = request
            .field("payment_method")
            .or_else(|| request.field("payment_method_data[card][token]"));
        let Some(token) = token else {
            return invalid(
                400,
                Some("payment_intent_unexpected_state"),
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
            );
        };
        if token.contains("chargeDeclined") {
            return (402, card_declined_body());
        }
        if !["tok_", "pm_", "card_", "src_"]
            .iter()
            .any(|prefix| token.starts_with(prefix))
        {
            let message = format!("No such PaymentMethod: '{token}'");
            return invalid(400, Some("resource_missing"), &message);
        }
        let metadata: Vec<(&str, &str)> = request
            .form
            .iter()
            .filter_map(|(key, value)| {
                let name = key.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((name, value.as_str()))
            })
            .collect();
        let status = if request.field("confirm") == Some("true") {
            // Stripe's test card that always asks for 3-D Secure, whatever the account's
            // settings.
            if token == "pm_card_authenticationRequired" {
                "requires_action".to_owned()
            } else {
                self.intent_status.clone()
            }
        } else {
            "requires_confirmation".to_owned()
        };
        let id = format!("pi_fake_{:016}", self.fresh_id());
        let intent = payment_intent_json(&id, amount, currency, &status, &metadata);
        self.intents.push(intent.clone());
        (200, intent)
    }

    fn get_intent(&self, path: &str) -> Answer {
        let id = path.rsplit('/').next().unwrap_or_default();
        match self.intents.iter().find(|intent| intent["id"] == id) {
            Some(intent) => (200, intent.clone()),
            None => no_such_intent(404, id),
        }
    }

    /// Cancels an intent that has not finished, as Stripe does; one that has (succeeded or
    /// already canceled) is refused with `payment_intent_unexpected_state`.
    fn cancel_intent(&mut self, request: &RecordedRequest) -> Answer {
        let id = request
            .path
            .trim_end_matches("/cancel")
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let Some(intent) = self.intents.iter_mut().find(|intent| intent["id"] == id) else {
            return no_such_intent(404, &id);
        };
        let status = intent["status"].as_str().unwrap_or_default().to_owned();
        if status == "succeeded" || status == "canceled" {
            let message = format!(
                "You cannot cancel this PaymentIntent because it has a status of {status}."
            );
            return invalid(400, Some("payment_intent_unexpected_state"), &message);
        }
        intent["status"] = json!("canceled");
        intent["cancellation_reason"] = json!(request.field("cancellation_reason"));
        (200, intent.clone())
    }

    /// Only the one query the shop sends: `metadata['order_id']:'<id>'`.
    fn search_intents(&self, request: &RecordedRequest) -> Answer {
        let order_id = request
            .field("query")
            .and_then(|query| query.strip_prefix("metadata['order_id']:'"))
            .and_then(|rest| rest.strip_suffix('\''));
        let Some(order_id) = order_id else {
            return missing_param("query");
        };
        let data: Vec<Value> = self
            .intents
            .iter()
            .filter(|intent| intent["metadata"]["order_id"] == order_id)
            .cloned()
            .collect();
        (
            200,
            json!({
                "object": "search_result",
                "url": "/v1/payment_intents/search",
                "has_more": false,
                "next_page": null,
                "data": data,
            }),
        )
    }

    fn create_refund(&mut self, request: &RecordedRequest) -> Answer {
        let Some(intent_id) = request.field("payment_intent") else {
            return missing_param("payment_intent");
        };
        let Some(intent) = self.intents.iter().find(|intent| intent["id"] == intent_id) else {
            return no_such_intent(400, intent_id);
        };
        if intent["status"] != "succeeded" {
            let message = "This PaymentIntent does not have a successful charge to refund.";
            return invalid(400, None, message);
        }
        if self
            .refunds
            .iter()
            .any(|refund| refund.payment_intent == intent_id)
        {
            let message = format!("Charge for {intent_id} has already been refunded.");
            return invalid(400, Some("charge_already_refunded"), &message);
        }
        let amount = intent["amount"].as_i64().unwrap_or_default();
        let currency = intent["currency"].clone();
        let refund = FakeRefund {
            id: format!("re_fake_{:016}", self.fresh_id()),
            payment_intent: intent_id.to_owned(),
            amount,
        };
        let body = json!({
            "id": refund.id,
            "object": "refund",
            "amount": amount,
            "created": now(),
            "currency": currency,
            "metadata": {},
            "payment_intent": intent_id,
            "status": "succeeded",
        });
        self.refunds.push(refund);
        (200, body)
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

/// Stripe's error envelope, with its HTTP status.
fn error(status: u16, kind: &str, code: Option<&str>, message: &str) -> Answer {
    let body = json!({"error": {"type": kind, "code": code, "message": message}});
    (status, body)
}

fn invalid(status: u16, code: Option<&str>, message: &str) -> Answer {
    error(status, "invalid_request_error", code, message)
}

fn no_such_intent(status: u16, id: &str) -> Answer {
    let message = format!("No such payment_intent: '{id}'");
    invalid(status, Some("resource_missing"), &message)
}

fn missing_param(name: &str) -> Answer {
    let message = format!("Missing required param: {name}.");
    invalid(400, Some("parameter_missing"), &message)
}
