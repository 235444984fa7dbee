//! The test harness: the real app in this process on a random port, with its own data
//! directory and a clock the test moves, and one method per endpoint.
//!
//! `spawn_app_with(configure)` (`spawn_app()` with nothing to change) builds the app exactly as
//! the binary does, through `Application::build_with_clock`, from `test_config` and a manual
//! clock that starts at the real now and moves only when the test calls `advance`: a
//! deadline (a hold's, a session's, a charge's age limit) passes when the test says so, and
//! `expire_due` steps the hold supervisor. Everything else (timeouts, backoff, passivation,
//! rate limits) runs on real time. `restart()` stops the app and starts it again on the
//! same directory and clock. Logs print only when TEST_LOG is set.
//!
//! `spawn_process()` runs the real binary as a child (`ChildApp`) for tests that must signal
//! or SIGKILL it. A child runs on the system clock, so tests of it wait deadlines out in real
//! time; `ChildApp::api()` gives the same endpoint methods against it.
//!
//! May depend on the app's public API (`Application`, `Config`, `Clock`, the hold
//! supervisor's `ExpireDue`) and HTTP. Tests build their preconditions through these
//! methods, never by writing to the store.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use actix::Addr;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use ticketing::Application;
use ticketing::actors::holds::{ExpireDue, HoldSupervisor};
use ticketing::clock::Clock;
use ticketing::config::{Config, Switch};

/// The JWT secret every app and child of the harness signs sessions with.
pub const JWT_SECRET: &str = "test-secret-of-a-reasonable-length";
/// The password of every user the harness signs up.
pub const PASSWORD: &str = "correct horse";

/// A config for tests: random port, the given data dir, 60 s holds, a known JWT secret, and
/// the limits of DESIGN §8 off (tests sign up many users from one address); the tests of
/// the limits turn them on.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config::defaults();
    config.limits = Switch::Off;
    config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.data_dir = data_dir.to_path_buf();
    config.hold_secs = 60;
    config.jwt_secret = Some(JWT_SECRET.to_owned().into());
    config.cache_mb = 16;
    config.workers = Some(2);
    config
}

/// A client without a cookie jar, for signed-out reads.
fn anonymous_client() -> Client {
    Client::builder()
        .pool_idle_timeout(Duration::from_secs(3))
        .build()
        .expect("a client")
}

/// Starts the app on a fresh data directory with `test_config` unchanged.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app on a fresh data directory with `test_config` as `configure` changed it.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(Clock::manual(Clock::system().now()), configure).await
}

/// As `spawn_app_with`, on `clock`: the browser tests give the system clock, since a real
/// browser counts a hold down on real time.
pub async fn spawn_app_on(clock: Clock, configure: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        ticketing::telemetry::init(false, false, std::io::stdout);
    } else {
        ticketing::telemetry::init(false, false, std::io::sink);
    }
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    let mut config = test_config(data_dir.path());
    configure(&mut config);
    let mut app = TestApp {
        address: String::new(),
        anonymous: anonymous_client(),
        in_process: Some(InProcess {
            config,
            clock,
            data_dir,
            running: None,
        }),
    };
    app.start().await;
    app
}

/// The app as its HTTP clients see it, and, when this process runs it, its lifecycle and
/// clock.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`; a new port after each restart.
    pub address: String,
    /// The signed-out reads' client, built once: building a client loads the TLS roots,
    /// about 20 ms in a debug build, which made the audits' thousands of reads cost
    /// seconds. Not shared between tests: its connections belong to this test's runtime.
    anonymous: Client,
    /// `None` for a child process's API (`ChildApp::api`).
    in_process: Option<InProcess>,
}

/// An app this process runs: what it is started from, again at each restart.
struct InProcess {
    config: Config,
    /// Shared with the app, which reads it for every deadline; moved only by the test.
    clock: Clock,
    /// Deleted when the `TestApp` is dropped.
    data_dir: tempfile::TempDir,
    /// Set from `start` until `stop`.
    running: Option<Running>,
}

/// A started app: what the test needs to step its supervisor and to stop it.
struct Running {
    /// For `expire_due`; the app keeps the supervisor alive.
    supervisor: Addr<HoldSupervisor>,
    /// Resolves the app's shutdown future: it stops serving and flushes.
    stop: tokio::sync::oneshot::Sender<()>,
    /// The app serving; its result says whether it stopped cleanly.
    task: actix_rt::task::JoinHandle<anyhow::Result<()>>,
}

/// Lifecycle and clock of an app this process runs (each panics on a child's API).
impl TestApp {
    fn in_process(&self) -> &InProcess {
        self.in_process
            .as_ref()
            .expect("a child process is not run by this harness: kill it or wait instead")
    }

    fn in_process_mut(&mut self) -> &mut InProcess {
        self.in_process
            .as_mut()
            .expect("a child process is not run by this harness: kill it or wait instead")
    }

    /// Builds and serves the app, and waits until it has finished starting (replayed its
    /// journal).
    async fn start(&mut self) {
        let in_process = self.in_process_mut();
        let application =
            Application::build_with_clock(in_process.config.clone(), in_process.clock.clone())
                .await
                .expect("the app starts");
        let address = format!("http://{}", application.address());
        let readiness = application.readiness();
        let supervisor = application.hold_supervisor();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = actix_rt::spawn(application.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        in_process.running = Some(Running {
            supervisor,
            stop,
            task,
        });
        self.address = address;
        readiness.wait().await.expect("the app finishes starting");
    }

    /// Stops the app gracefully and waits until it has released the data directory.
    pub async fn stop(&mut self) {
        if let Some(running) = self.in_process_mut().running.take() {
            let _ = running.stop.send(());
            running
                .task
                .await
                .expect("the app task")
                .expect("the app stops cleanly");
        }
    }

    /// Stops and starts again on the same data directory and clock (a new port).
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    /// Stops, lets `configure` change the config, and starts again on the same data
    /// directory and clock.
    pub async fn restart_with(&mut self, configure: impl FnOnce(&mut Config)) {
        self.stop().await;
        let in_process = self.in_process_mut();
        configure(&mut in_process.config);
        // Ids start with the clock's millisecond; a process started within the same one as
        // its predecessor could make ids that sort before the ones it made. A real restart
        // takes longer than this.
        in_process.clock.advance(Duration::from_millis(1));
        self.start().await;
    }

    /// The data directory, which outlives restarts and is deleted with the `TestApp`.
    pub fn data_dir(&self) -> &Path {
        self.in_process().data_dir.path()
    }

    /// The app's time now.
    pub fn now(&self) -> DateTime<Utc> {
        let millis = self.in_process().clock.now().millis();
        DateTime::from_timestamp_millis(millis as i64).expect("the clock reads a real date")
    }

    /// Moves the app's clock forward. The hold supervisor wakes if a deadline came due, and
    /// ends those holds by itself soon after; `expire_due` does it at once.
    pub fn advance(&self, by: Duration) {
        self.in_process().clock.advance(by);
    }

    /// Moves the app's clock forward to `at` (`expires_at` of an order, say).
    pub fn advance_to(&self, at: DateTime<Utc>) {
        let by = (at - self.now()).to_std();
        self.advance(by.unwrap_or_else(|_| panic!("the clock only moves forward, to {at}")));
    }

    /// Runs the hold supervisor's "expire what is due" pass now (one batch: up to 4096
    /// holds) and answers how many holds the pass ended. A hold the supervisor's own pass,
    /// woken by `advance`, has already ended is not counted; nor is one still finishing under
    /// it, whose ticket may be released a moment after this answers.
    pub async fn expire_due(&self) -> usize {
        let running = self.in_process().running.as_ref().expect("the app runs");
        running
            .supervisor
            .send(ExpireDue)
            .await
            .expect("the hold supervisor runs")
            .expect("the expiry pass")
    }
}

/// One method per endpoint, each answering the response as it came, plus the plain
/// requests they are made of.
impl TestApp {
    /// The app's URL for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A browser-like client with its own cookie jar.
    ///
    /// It drops idle connections before the server's 5 s keep-alive does, so a request never
    /// races the server closing the connection it was sent on (hyper's IncompleteMessage).
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .pool_idle_timeout(Duration::from_secs(3))
            .build()
            .expect("a client")
    }

    /// GET `path` as `client`.
    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("request")
    }

    /// POST `body` as JSON to `path` as `client`; also for the bad-input cases of any route.
    pub async fn post(&self, client: &Client, path: &str, body: &Value) -> Response {
        let request = client.post(self.url(path)).json(body);
        request.send().await.expect("request")
    }

    /// POST /api/users/signup; a 201 signs `client` in.
    pub async fn signup(&self, client: &Client, email: &str, password: &str) -> Response {
        let body = json!({"email": email, "password": password});
        self.post(client, "/api/users/signup", &body).await
    }

    /// POST /api/users/signin; a 200 signs `client` in.
    pub async fn signin(&self, client: &Client, email: &str, password: &str) -> Response {
        let body = json!({"email": email, "password": password});
        self.post(client, "/api/users/signin", &body).await
    }

    /// POST /api/users/signout.
    pub async fn signout(&self, client: &Client) -> Response {
        let request = client.post(self.url("/api/users/signout"));
        request.send().await.expect("request")
    }

    /// GET /api/users/currentuser, which always answers 200: `{"currentUser": ...}`.
    pub async fn current_user(&self, client: &Client) -> Value {
        let response = self.get(client, "/api/users/currentuser").await;
        response.json().await.expect("json")
    }

    /// POST /api/tickets `{title, price}`; `price` is JSON so tests can send bad ones.
    pub async fn create_ticket(&self, client: &Client, title: &str, price: Value) -> Response {
        let body = json!({"title": title, "price": price});
        self.post(client, "/api/tickets", &body).await
    }

    /// GET /api/tickets with `query` (`""` or `?limit=...`), signed out.
    pub async fn tickets(&self, query: &str) -> Response {
        let path = format!("/api/tickets{query}");
        self.get(&self.anonymous, &path).await
    }

    /// GET /api/tickets/:id, signed out.
    pub async fn ticket(&self, id: &str) -> Response {
        let path = format!("/api/tickets/{id}");
        self.get(&self.anonymous, &path).await
    }

    /// PUT /api/tickets/:id with `body`.
    pub async fn update_ticket(&self, client: &Client, id: &str, body: &Value) -> Response {
        let request = client.put(self.url(&format!("/api/tickets/{id}")));
        request.json(body).send().await.expect("request")
    }

    /// PUT /api/tickets/:id with an `If-Match` header.
    pub async fn update_ticket_if_match(
        &self,
        client: &Client,
        id: &str,
        if_match: &str,
        body: &Value,
    ) -> Response {
        let request = client.put(self.url(&format!("/api/tickets/{id}")));
        let request = request.header(reqwest::header::IF_MATCH, if_match);
        request.json(body).send().await.expect("request")
    }

    /// POST /api/orders `{ticketId}`: reserve the ticket.
    pub async fn reserve(&self, client: &Client, ticket_id: &str) -> Response {
        let body = json!({"ticketId": ticket_id});
        self.post(client, "/api/orders", &body).await
    }

    /// GET /api/orders, the first page of the caller's orders.
    pub async fn orders(&self, client: &Client) -> Response {
        self.get(client, "/api/orders").await
    }

    /// GET /api/orders/:id.
    pub async fn order(&self, client: &Client, id: &str) -> Response {
        self.get(client, &format!("/api/orders/{id}")).await
    }

    /// DELETE /api/orders/:id: cancel the order.
    pub async fn cancel(&self, client: &Client, order_id: &str) -> Response {
        let request = client.delete(self.url(&format!("/api/orders/{order_id}")));
        request.send().await.expect("request")
    }

    /// POST /api/payments `{orderId, token}`.
    pub async fn pay(&self, client: &Client, order_id: &str, token: &str) -> Response {
        let body = json!({"orderId": order_id, "token": token});
        self.post(client, "/api/payments", &body).await
    }

    /// GET /api/payments/:id, the charge record.
    pub async fn payment(&self, client: &Client, id: &str) -> Response {
        self.get(client, &format!("/api/payments/{id}")).await
    }

    /// POST /api/payments/:id/authenticate: the offline gateway's simulated 3-D Secure step,
    /// `outcome` "succeed" or "fail".
    pub async fn authenticate(&self, client: &Client, id: &str, outcome: &str) -> Response {
        let path = format!("/api/payments/{id}/authenticate");
        self.post(client, &path, &json!({ "outcome": outcome }))
            .await
    }

    /// POST /api/payments/webhook as Stripe delivers it: the raw body, and the
    /// `Stripe-Signature` header when given. No session: Stripe has none.
    pub async fn webhook(&self, body: &str, signature: Option<&str>) -> Response {
        let mut request = Client::new()
            .post(self.url("/api/payments/webhook"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        request.send().await.expect("request")
    }

    /// GET /metrics, the Prometheus text.
    pub async fn metrics_text(&self) -> String {
        let response = self.get(&self.anonymous, "/metrics").await;
        response.text().await.expect("text")
    }
}

/// Preconditions and reads in one step: each asserts that its requests succeeded and
/// answers what the test needs next.
impl TestApp {
    /// A fresh signed-in user: (client, user id).
    pub async fn user(&self) -> (Client, String) {
        let client = self.client();
        let email = format!("user-{:016x}@example.com", rand::random::<u64>());
        let response = self.signup(&client, &email, PASSWORD).await;
        assert_eq!(response.status(), 201, "signup of {email}");
        let body: Value = response.json().await.expect("json");
        (client, body["id"].as_str().expect("id").to_owned())
    }

    /// `n` fresh signed-in users, signed up a few at a time (each signup hashes a password).
    pub async fn users(&self, n: usize) -> Vec<(Client, String)> {
        let signups = futures::stream::iter(0..n).map(|_| self.user());
        signups.buffer_unordered(8).collect().await
    }

    /// Lists a ticket with the given title and price and returns its body.
    pub async fn listed_ticket_json(&self, client: &Client, title: &str, price: Value) -> Value {
        let response = self.create_ticket(client, title, price).await;
        assert_eq!(response.status(), 201, "list {title}");
        response.json().await.expect("json")
    }

    /// Lists a ticket as `client` and returns its id.
    pub async fn listed_ticket(&self, client: &Client) -> String {
        let ticket = self
            .listed_ticket_json(client, "A concert", json!(20))
            .await;
        ticket["id"].as_str().expect("id").to_owned()
    }

    /// Reserves and returns the order id.
    pub async fn reserved_order(&self, client: &Client, ticket_id: &str) -> String {
        let response = self.reserve(client, ticket_id).await;
        assert_eq!(response.status(), 201, "reserve {ticket_id}");
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().expect("id").to_owned()
    }

    /// The ticket's body, asserting a 200.
    pub async fn ticket_json(&self, id: &str) -> Value {
        ok_json(self.ticket(id).await, &format!("GET ticket {id}")).await
    }

    /// The order's body as `client` sees it, asserting a 200.
    pub async fn order_json(&self, client: &Client, id: &str) -> Value {
        ok_json(self.order(client, id).await, &format!("GET order {id}")).await
    }

    /// The charge record as `client` sees it, asserting a 200.
    pub async fn payment_json(&self, client: &Client, id: &str) -> Value {
        ok_json(self.payment(client, id).await, &format!("GET payment {id}")).await
    }

    /// Every one of the caller's orders, following GET /api/orders from page to page.
    pub async fn orders_json(&self, client: &Client) -> Vec<Value> {
        self.pages(client, "/api/orders?limit=1000".to_owned())
            .await
    }

    /// Every ticket for sale, `limit` a page, following the `Link: rel="next"` header.
    pub async fn listing(&self, limit: usize) -> Vec<Value> {
        let first = format!("/api/tickets?limit={limit}");
        self.pages(&self.anonymous, first).await
    }

    /// The ids of every ticket for sale, oldest first.
    pub async fn listed_ids(&self) -> Vec<Value> {
        let listing = self.listing(100).await;
        listing.iter().map(|t| t["id"].clone()).collect()
    }

    /// A number from /metrics, e.g. `ticketing_events_committed_total{event="OrderExpired"}`.
    pub async fn metric(&self, series: &str) -> u64 {
        metric_in(&self.metrics_text().await, series)
    }

    /// Every item of a paged list, from `path` on.
    async fn pages(&self, client: &Client, mut path: String) -> Vec<Value> {
        let mut items = Vec::new();
        loop {
            let response = self.get(client, &path).await;
            assert_eq!(response.status(), 200, "GET {path}");
            let next = next_link(&response);
            let page: Vec<Value> = response.json().await.expect("json");
            items.extend(page);
            match next {
                Some(next) => path = next,
                None => return items,
            }
        }
    }
}

/// The value of `series` in a Prometheus text.
pub fn metric_in(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .map(|rest| rest.trim().parse().expect("a number"))
        })
        .unwrap_or_else(|| panic!("no metric {series} in\n{text}"))
}

/// The path named by a `Link: <path>; rel="next"` header, if the response has one.
pub fn next_link(response: &Response) -> Option<String> {
    let link = response.headers().get(reqwest::header::LINK)?;
    let link = link.to_str().expect("an ASCII Link header");
    let path = link
        .strip_suffix("; rel=\"next\"")
        .and_then(|rest| rest.strip_prefix('<'))
        .and_then(|rest| rest.strip_suffix('>'));
    let path = path.unwrap_or_else(|| panic!("a Link header of the documented shape: {link}"));
    Some(path.to_owned())
}

/// The error envelope's messages and fields, checked for shape on the way.
pub async fn errors_of(response: Response) -> Vec<(String, Option<String>)> {
    let body: Value = response.json().await.expect("an error body is JSON");
    let errors = body["errors"]
        .as_array()
        .expect("the envelope has an errors array");
    assert!(!errors.is_empty(), "at least one error entry");
    let entry = |e: &Value| {
        let message = e["message"].as_str().expect("every entry has a message");
        let field = e.get("field").and_then(Value::as_str).map(str::to_owned);
        (message.to_owned(), field)
    };
    errors.iter().map(entry).collect()
}

/// The `field` of each entry of an error envelope, in order.
pub async fn error_fields(response: Response) -> Vec<Option<String>> {
    let errors = errors_of(response).await;
    errors.into_iter().map(|(_, field)| field).collect()
}

/// An order's hold deadline, its `expiresAt`.
pub fn expires_at(order: &Value) -> DateTime<Utc> {
    let text = order["expiresAt"].as_str().expect("an order has expiresAt");
    let deadline = DateTime::parse_from_rfc3339(text).expect("ISO 8601");
    deadline.into()
}

/// A well-formed id that names nothing: `id` with its last hex digit changed.
pub fn unknown_id(id: &str) -> String {
    let last = if id.ends_with('0') { '1' } else { '0' };
    format!("{}{last}", &id[..id.len() - 1])
}

/// The body of a 200, as JSON; any other answer fails the test showing what it was, which
/// server sent it (the `server` and `x-request-id` headers) and its body.
pub async fn ok_json(response: Response, what: &str) -> Value {
    if response.status() != 200 {
        let (status, headers) = (response.status(), response.headers().clone());
        let body = response.text().await.unwrap_or_default();
        panic!("{what}: expected 200, got {status}; headers {headers:?}; body {body:?}");
    }
    response.json().await.expect("json")
}

/// Polls `check` every 20 ms until it holds or `timeout` passes; answers whether it held.
/// For background work whose end the API shows only by its effect.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real binary as a child process on its own port and data directory; killed when
/// dropped, so a failing test leaves no server behind.
pub struct ChildApp {
    /// The process, for tests that signal or wait on it themselves.
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
}

/// Starts the binary on `data_dir` with the test JWT secret and the limits off; `extra`
/// adds or overrides environment variables.
pub fn spawn_process(data_dir: &Path, extra: &[(&str, &str)]) -> ChildApp {
    spawn_process_logging(data_dir, extra, std::process::Stdio::null())
}

/// `spawn_process` with the child's log (its standard output, where it logs) sent to `log`:
/// a file, for tests that read the log (a pipe nobody reads could fill and stall the child).
pub fn spawn_process_logging(
    data_dir: &Path,
    extra: &[(&str, &str)],
    log: impl Into<std::process::Stdio>,
) -> ChildApp {
    let port = free_port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ticketing"));
    command
        .env("TICKETING_ADDR", format!("127.0.0.1:{port}"))
        .env("TICKETING_DATA_DIR", data_dir)
        .env("JWT_KEY", JWT_SECRET)
        .env("TICKETING_CACHE_MB", "16")
        .env("TICKETING_LIMITS", "off")
        .env("RUST_LOG", "warn")
        .stdout(log)
        .stderr(std::process::Stdio::null());
    for (key, value) in extra {
        command.env(key, value);
    }
    let child = command.spawn().expect("the binary starts");
    ChildApp {
        child,
        address: format!("http://127.0.0.1:{port}"),
    }
}

impl ChildApp {
    /// Waits (up to 30 s) until /readyz answers 200: start-up has replayed the journal.
    pub async fn wait_ready(&self) {
        let client = Client::new();
        let url = format!("{}/readyz", self.address);
        let ready = eventually(Duration::from_secs(30), || {
            let request = client.get(&url).send();
            async move { request.await.is_ok_and(|r| r.status() == 200) }
        })
        .await;
        assert!(ready, "the child server became ready");
    }

    /// The endpoint methods, aimed at this child. Its lifecycle and clock are not the
    /// harness's: end the child with `kill` or `terminate`.
    pub fn api(&self) -> TestApp {
        TestApp {
            address: self.address.clone(),
            anonymous: anonymous_client(),
            in_process: None,
        }
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (up to 30 s) for the process to exit; answers its status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("the kill command runs");
        assert!(sent.success(), "SIGTERM was delivered");
        wait_exit(&mut self.child, Duration::from_secs(30))
            .await
            .expect("the process exits after SIGTERM")
    }
}

impl Drop for ChildApp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for a child process to exit, polling; `None` if it is still running at `timeout`.
pub async fn wait_exit(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let mut status = None;
    eventually(timeout, || {
        status = child.try_wait().expect("the child can be waited on");
        std::future::ready(status.is_some())
    })
    .await;
    status
}

/// A port that was free a moment ago, for a child to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs the binary as an operator would: `command` with `args`, `TICKETING_ADDR` set to
/// `addr` when given and `TICKETING_DATA_DIR` unset. Answers its exit code and its stdout
/// and stderr together.
pub async fn run_binary(args: &[&std::ffi::OsStr], addr: Option<&str>) -> (Option<i32>, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketing"));
    command.args(args).env_remove("TICKETING_DATA_DIR");
    if let Some(addr) = addr {
        command.env("TICKETING_ADDR", addr);
    }
    let output = command.output().await.expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}
