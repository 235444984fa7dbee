//! A fake Stripe HTTP server for the black-box tests: the real async-stripe client talks to
//! it over 127.0.0.1, so nothing reaches the internet (DESIGN §5).
//!
//! May depend on actix-web, actix-rt, serde_json, async-stripe-webhook and std. It is test
//! support only: it knows nothing of the app, and the app knows nothing of it beyond the
//! base URL it is given.
//!
//! It serves `POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`,
//! `GET /v1/payment_intents/search` (by `metadata['order_id']`) and `POST /v1/refunds` with
//! bodies carrying every field async-stripe requires (CRATES.md),
//! honours `Idempotency-Key` the way Stripe does (a repeated key replays the stored answer
//! of the first completed request and charges nothing; the same key with other parameters
//! is an `idempotency_error`), records every request, and has knobs a test can flip at any
//! time: `fail_next`, `delay`, `decline_all`, `intent_status`, `set_intent_status`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// The exact body real Stripe sends for a generic card decline (HTTP 402).
pub fn card_declined_body() -> Value {
    json!({"error": {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined."
    }})
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The form body, percent-decoded, in the order sent (`metadata[order_id]`, ...).
    pub form: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
    pub stripe_version: Option<String>,
    /// When the fake received it.
    pub received: std::time::Instant,
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

/// A refund the fake made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeRefund {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
}

/// A running fake. Dropping it stops its server.
pub struct FakeStripe {
    base_url: String,
    state: Arc<Mutex<State>>,
    system: actix_rt::System,
}

impl FakeStripe {
    /// Starts the server on 127.0.0.1 with a free port, on its own thread with its own
    /// actix System, so it works under `#[tokio::test]` and `#[actix_web::test]` alike.
    pub fn start() -> FakeStripe {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("bind a local port for the fake Stripe");
        let port = listener
            .local_addr()
            .expect("a bound listener has an address")
            .port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = web::Data::from(Arc::clone(&state));
        let (started_tx, started_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("fake-stripe".to_owned())
            .spawn(move || {
                let system = actix_rt::System::new();
                // The server must be built inside the System it will run on.
                system.block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(shared.clone())
                            .route("/v1/payment_intents", web::post().to(create_intent))
                            .route("/v1/payment_intents/search", web::get().to(search_intents))
                            .route("/v1/payment_intents/{id}", web::get().to(get_intent))
                            .route("/v1/refunds", web::post().to(create_refund))
                            .default_service(web::to(unknown_route))
                    })
                    // One worker is plenty: handlers never block, they only sleep.
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener)
                    .expect("the fake Stripe takes over its listener")
                    .run();
                    actix_rt::spawn(server);
                });
                started_tx
                    .send(actix_rt::System::current())
                    .expect("the test waits for the fake Stripe to start");
                // Runs until `FakeStripe` is dropped and stops the System.
                let _ = system.run();
            })
            .expect("spawn the fake Stripe thread");
        let system = started_rx
            .recv()
            .expect("the fake Stripe thread reports its System");
        FakeStripe {
            base_url: format!("http://127.0.0.1:{port}/"),
            state,
            system,
        }
    }

    /// What to pass as the Stripe API base; requests then go to `{base}v1/...`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The next `n` requests answer HTTP 500 before doing anything, as an overloaded Stripe
    /// front end would; nothing is stored under their idempotency keys.
    pub fn fail_next(&self, n: u32) {
        self.lock().fail_next = n;
    }

    /// Every answer is held back this long after the work is done (a charge is created
    /// before the wait), to simulate timeouts and slow payments. Zero turns it off.
    pub fn delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Declines every new PaymentIntent, whatever its token.
    pub fn decline_all(&self, on: bool) {
        self.lock().decline_all = on;
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
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
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
        // A panicking test must not take the other assertions down with a poisoned lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.system.stop();
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

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default()
}

#[derive(Debug)]
struct State {
    fail_next: u32,
    delay: Duration,
    decline_all: bool,
    intent_status: String,
    requests: Vec<RecordedRequest>,
    /// Idempotency key -> the request it was first used with and the answer it got.
    replays: HashMap<String, Stored>,
    intents: Vec<Value>,
    refunds: Vec<FakeRefund>,
    next_id: u64,
}

impl Default for State {
    fn default() -> Self {
        Self {
            fail_next: 0,
            delay: Duration::ZERO,
            decline_all: false,
            intent_status: "succeeded".to_owned(),
            requests: Vec::new(),
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

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    CreateIntent,
    GetIntent,
    SearchIntents,
    CreateRefund,
}

type Answer = (u16, Value);

impl State {
    fn answer(&mut self, request: &RecordedRequest, endpoint: Endpoint) -> Answer {
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return (
                500,
                stripe_error(
                    "api_error",
                    None,
                    "Something went wrong on Stripe's end (fake).",
                ),
            );
        }
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
            return (
                400,
                stripe_error(
                    "idempotency_error",
                    None,
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                ),
            );
        }
        let (status, body) = match endpoint {
            Endpoint::CreateIntent => self.create_intent(&request.form),
            Endpoint::GetIntent => self.get_intent(&request.path),
            Endpoint::SearchIntents => self.search_intents(&request.form),
            Endpoint::CreateRefund => self.create_refund(&request.form),
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

    fn create_intent(&mut self, form: &[(String, String)]) -> Answer {
        let field = |name: &str| {
            form.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let Some(amount) = field("amount").and_then(|amount| amount.parse::<i64>().ok()) else {
            return missing_param("amount");
        };
        let Some(currency) = field("currency") else {
            return missing_param("currency");
        };
        let token = field("payment_method").or_else(|| field("payment_method_data[card][token]"));
        let Some(token) = token else {
            return (
                400,
                stripe_error(
                    "invalid_request_error",
                    Some("payment_intent_unexpected_state"),
                    "You cannot confirm this PaymentIntent because it's missing a payment method.",
                ),
            );
        };
        if self.decline_all || token.contains("chargeDeclined") {
            return (402, card_declined_body());
        }
        if !["tok_", "pm_", "card_", "src_"]
            .iter()
            .any(|prefix| token.starts_with(prefix))
        {
            return (
                400,
                stripe_error(
                    "invalid_request_error",
                    Some("resource_missing"),
                    &format!("No such PaymentMethod: '{token}'"),
                ),
            );
        }
        let metadata: Vec<(&str, &str)> = form
            .iter()
            .filter_map(|(key, value)| {
                let name = key.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((name, value.as_str()))
            })
            .collect();
        let status = if field("confirm") == Some("true") {
            self.intent_status.clone()
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
            None => (
                404,
                stripe_error(
                    "invalid_request_error",
                    Some("resource_missing"),
                    &format!("No such payment_intent: '{id}'"),
                ),
            ),
        }
    }

    /// Only the one query the shop sends: `metadata['order_id']:'<id>'`.
    fn search_intents(&self, query: &[(String, String)]) -> Answer {
        let order_id = query
            .iter()
            .find(|(key, _)| key == "query")
            .and_then(|(_, query)| query.strip_prefix("metadata['order_id']:'"))
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

    fn create_refund(&mut self, form: &[(String, String)]) -> Answer {
        let field = |name: &str| {
            form.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let Some(intent_id) = field("payment_intent") else {
            return missing_param("payment_intent");
        };
        let Some(intent) = self.intents.iter().find(|intent| intent["id"] == intent_id) else {
            return (
                400,
                stripe_error(
                    "invalid_request_error",
                    Some("resource_missing"),
                    &format!("No such payment_intent: '{intent_id}'"),
                ),
            );
        };
        if intent["status"] != "succeeded" {
            return (
                400,
                stripe_error(
                    "invalid_request_error",
                    None,
                    "This PaymentIntent does not have a successful charge to refund.",
                ),
            );
        }
        if self
            .refunds
            .iter()
            .any(|refund| refund.payment_intent == intent_id)
        {
            return (
                400,
                stripe_error(
                    "invalid_request_error",
                    Some("charge_already_refunded"),
                    &format!("Charge for {intent_id} has already been refunded."),
                ),
            );
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

fn stripe_error(kind: &str, code: Option<&str>, message: &str) -> Value {
    json!({"error": {"type": kind, "code": code, "message": message}})
}

fn missing_param(name: &str) -> Answer {
    (
        400,
        stripe_error(
            "invalid_request_error",
            Some("parameter_missing"),
            &format!("Missing required param: {name}."),
        ),
    )
}

async fn create_intent(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    serve(&request, &body, &state, Endpoint::CreateIntent).await
}

async fn get_intent(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    serve(&request, &body, &state, Endpoint::GetIntent).await
}

async fn search_intents(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    serve(&request, &body, &state, Endpoint::SearchIntents).await
}

async fn create_refund(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    serve(&request, &body, &state, Endpoint::CreateRefund).await
}

async fn unknown_route(request: HttpRequest) -> HttpResponse {
    let body = stripe_error(
        "invalid_request_error",
        None,
        &format!(
            "Unrecognized request URL ({} {}).",
            request.method(),
            request.path()
        ),
    );
    HttpResponse::NotFound().json(body)
}

/// Records the request, does the work at once (so a charge exists even when the client
/// gives up during the delay), then waits out the delay and answers.
async fn serve(
    request: &HttpRequest,
    body: &[u8],
    state: &Mutex<State>,
    endpoint: Endpoint,
) -> HttpResponse {
    let recorded = record(request, body);
    let (status, answer, delay) = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        state.requests.push(recorded.clone());
        let (status, answer) = state.answer(&recorded, endpoint);
        (status, answer, state.delay)
    };
    if !delay.is_zero() {
        actix_rt::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(answer)
}

fn record(request: &HttpRequest, body: &[u8]) -> RecordedRequest {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    // A GET's parameters are its query; a POST's, its form body.
    let parameters = if request.method() == actix_web::http::Method::GET {
        request.query_string().as_bytes()
    } else {
        body
    };
    let form = std::str::from_utf8(parameters)
        .ok()
        .and_then(|text| web::Query::<Vec<(String, String)>>::from_query(text).ok())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    RecordedRequest {
        method: request.method().to_string(),
        path: request.path().to_owned(),
        form,
        idempotency_key: header("idempotency-key"),
        authorization: header("authorization"),
        stripe_version: header("stripe-version"),
        received: std::time::Instant::now(),
    }
}
