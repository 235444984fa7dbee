//! The test harness: starts the real app on a random port with its own data directory and
//! gives one method per endpoint.
//!
//! `spawn_app()` runs `Application::build` exactly as the binary does, with a short hold and
//! a known JWT secret; `restart()` stops it and starts it again on the same directory.
//! Logs print only when TEST_LOG is set. `spawn_process()` runs the real binary as a child,
//! for tests that must SIGKILL it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use ticketing::Application;
use ticketing::config::Config;

pub const JWT_SECRET: &str = "test-secret-of-a-reasonable-length";
pub const PASSWORD: &str = "correct horse";

pub struct TestApp {
    pub address: String,
    pub data_dir: Arc<tempfile::TempDir>,
    config: Config,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<actix_rt::task::JoinHandle<anyhow::Result<()>>>,
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        ticketing::telemetry::init(false, false, std::io::stdout);
    } else {
        ticketing::telemetry::init(false, false, std::io::sink);
    }
}

/// A config for tests: random port, temporary data dir, 60 s hold, known JWT secret, and
/// the limits of DESIGN §8 off (tests sign up many users from one address); the tests of
/// the limits turn them on.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config::defaults();
    config.limits = ticketing::config::Switch::Off;
    config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.data_dir = data_dir.to_path_buf();
    config.hold_secs = 60;
    config.jwt_secret = Some(JWT_SECRET.to_owned().into());
    config.cache_mb = 16;
    config.workers = Some(2);
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    let data_dir = Arc::new(tempfile::tempdir().expect("a temporary data directory"));
    let mut config = test_config(data_dir.path());
    configure(&mut config);
    let mut app = TestApp {
        address: String::new(),
        data_dir,
        config,
        stop: None,
        task: None,
    };
    app.start().await;
    app
}

impl TestApp {
    async fn start(&mut self) {
        let application = Application::build(self.config.clone())
            .await
            .expect("the app starts");
        self.address = format!("http://{}", application.address());
        let readiness = application.readiness();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(actix_rt::spawn(application.run_until_stopped(async move {
            let _ = stopped.await;
        })));
        readiness.wait().await.expect("the app finishes starting");
    }

    /// Stops the app gracefully and waits until it has released the data directory.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("the app task")
                .expect("the app stops cleanly");
        }
    }

    /// Stops and starts again on the same data directory (a new port).
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    pub async fn restart_with(&mut self, configure: impl FnOnce(&mut Config)) {
        self.stop().await;
        configure(&mut self.config);
        self.start().await;
    }

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

    pub async fn post(&self, client: &Client, path: &str, body: &Value) -> Response {
        client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn signup(&self, client: &Client, email: &str, password: &str) -> Response {
        self.post(
            client,
            "/api/users/signup",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn signin(&self, client: &Client, email: &str, password: &str) -> Response {
        self.post(
            client,
            "/api/users/signin",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn signout(&self, client: &Client) -> Response {
        client
            .post(self.url("/api/users/signout"))
            .send()
            .await
            .expect("request")
    }

    pub async fn current_user(&self, client: &Client) -> Value {
        self.get(client, "/api/users/currentuser")
            .await
            .json()
            .await
            .expect("json")
    }

    /// A fresh signed-in user: (client, user id).
    pub async fn user(&self) -> (Client, String) {
        let client = self.client();
        let email = format!("user-{:016x}@example.com", rand::random::<u64>());
        let response = self.signup(&client, &email, PASSWORD).await;
        assert_eq!(response.status(), 201, "signup of {email}");
        let body: Value = response.json().await.expect("json");
        (client, body["id"].as_str().expect("id").to_owned())
    }

    pub async fn create_ticket(&self, client: &Client, title: &str, price: Value) -> Response {
        self.post(
            client,
            "/api/tickets",
            &json!({"title": title, "price": price}),
        )
        .await
    }

    /// Lists a ticket as `client` and returns its id.
    pub async fn listed_ticket(&self, client: &Client) -> String {
        let response = self.create_ticket(client, "A concert", json!(20)).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().expect("id").to_owned()
    }

    pub async fn ticket(&self, id: &str) -> Response {
        self.get(&self.client(), &format!("/api/tickets/{id}"))
            .await
    }

    pub async fn ticket_json(&self, id: &str) -> Value {
        let response = self.ticket(id).await;
        assert_eq!(response.status(), 200, "GET ticket {id}");
        response.json().await.expect("json")
    }

    pub async fn tickets(&self, query: &str) -> Response {
        self.get(&self.client(), &format!("/api/tickets{query}"))
            .await
    }

    pub async fn update_ticket(&self, client: &Client, id: &str, body: &Value) -> Response {
        client
            .put(self.url(&format!("/api/tickets/{id}")))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn reserve(&self, client: &Client, ticket_id: &str) -> Response {
        self.post(client, "/api/orders", &json!({"ticketId": ticket_id}))
            .await
    }

    /// Reserves and returns the order id.
    pub async fn reserved_order(&self, client: &Client, ticket_id: &str) -> String {
        let response = self.reserve(client, ticket_id).await;
        assert_eq!(response.status(), 201, "reserve {ticket_id}");
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().expect("id").to_owned()
    }

    pub async fn order(&self, client: &Client, id: &str) -> Response {
        self.get(client, &format!("/api/orders/{id}")).await
    }

    pub async fn order_json(&self, client: &Client, id: &str) -> Value {
        let response = self.order(client, id).await;
        assert_eq!(response.status(), 200, "GET order {id}");
        response.json().await.expect("json")
    }

    pub async fn orders(&self, client: &Client) -> Response {
        self.get(client, "/api/orders").await
    }

    pub async fn cancel(&self, client: &Client, order_id: &str) -> Response {
        client
            .delete(self.url(&format!("/api/orders/{order_id}")))
            .send()
            .await
            .expect("request")
    }

    /// A number from /metrics, e.g. `ticketing_events_committed_total{event="OrderExpired"}`.
    pub async fn metric(&self, series: &str) -> u64 {
        metric_in(&self.metrics_text().await, series)
    }

    /// GET /metrics, the Prometheus text.
    pub async fn metrics_text(&self) -> String {
        self.get(&self.client(), "/metrics")
            .await
            .text()
            .await
            .expect("text")
    }

    // ----- Payments (DESIGN §4, §5): one method per endpoint. Added by the payments-tests
    // branch; kept together at the end of the impl so parallel additions merge cleanly. -----

    /// POST /api/payments `{orderId, token}`.
    pub async fn pay(&self, client: &Client, order_id: &str, token: &str) -> Response {
        self.pay_with(client, &json!({"orderId": order_id, "token": token}))
            .await
    }

    /// POST /api/payments with any body, for the bad-input cases.
    pub async fn pay_with(&self, client: &Client, body: &Value) -> Response {
        self.post(client, "/api/payments", body).await
    }

    /// GET /api/payments/:id, the charge record.
    pub async fn payment(&self, client: &Client, id: &str) -> Response {
        self.get(client, &format!("/api/payments/{id}")).await
    }

    pub async fn payment_json(&self, client: &Client, id: &str) -> Value {
        let response = self.payment(client, id).await;
        assert_eq!(response.status(), 200, "GET payment {id}");
        response.json().await.expect("json")
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

    /// The endpoint methods, aimed at an app this harness did not start (a `ChildApp` on
    /// `data_dir`). `stop` and `restart` do nothing to it: kill the child instead.
    pub fn attached(address: &str, data_dir: Arc<tempfile::TempDir>) -> TestApp {
        TestApp {
            address: address.to_owned(),
            config: test_config(data_dir.path()),
            data_dir,
            stop: None,
            task: None,
        }
    }

    // ----- End of the payments block. -----
}

impl TestApp {
    /// Every event this process committed, all kinds together (from /metrics).
    pub async fn events_committed(&self) -> u64 {
        self.metrics_text()
            .await
            .lines()
            .filter(|line| line.starts_with("ticketing_events_committed_total{"))
            .map(|line| {
                line.rsplit(' ')
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .expect("a count")
            })
            .sum()
    }
}

pub fn metric_in(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .map(|rest| rest.trim().parse().expect("a number"))
        })
        .unwrap_or_else(|| panic!("no metric {series} in\n{text}"))
}

/// Polls `check` until it holds or `timeout` passes; answers whether it held.
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

/// The error envelope's messages and fields, checked for shape on the way.
pub async fn errors_of(response: Response) -> Vec<(String, Option<String>)> {
    let body: Value = response.json().await.expect("an error body is JSON");
    let errors = body["errors"]
        .as_array()
        .expect("the envelope has an errors array");
    assert!(!errors.is_empty(), "at least one error entry");
    errors
        .iter()
        .map(|e| {
            (
                e["message"]
                    .as_str()
                    .expect("every entry has a message")
                    .to_owned(),
                e.get("field").and_then(Value::as_str).map(str::to_owned),
            )
        })
        .collect()
}

/// The real binary as a child process on its own port and data directory.
pub struct ChildApp {
    pub child: std::process::Child,
    pub address: String,
}

pub fn spawn_process(data_dir: &Path, extra: &[(&str, &str)]) -> ChildApp {
    let port = free_port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ticketing"));
    command
        .env("TICKETING_ADDR", format!("127.0.0.1:{port}"))
        .env("TICKETING_DATA_DIR", data_dir)
        .env("JWT_KEY", JWT_SECRET)
        .env("TICKETING_CACHE_MB", "16")
        .env("TICKETING_LIMITS", "off")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
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
    /// A test that fails while its child runs must not leave the server running.
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Endpoint methods and small compositions used by the ticket, order, hold and recovery
/// suites.
impl TestApp {
    /// `n` fresh signed-in users, signed up a few at a time (each signup hashes a password).
    pub async fn users(&self, n: usize) -> Vec<(Client, String)> {
        futures::stream::iter(0..n)
            .map(|_| self.user())
            .buffer_unordered(8)
            .collect()
            .await
    }

    /// Lists a ticket with the given title and price and returns its body.
    pub async fn listed_ticket_json(&self, client: &Client, title: &str, price: Value) -> Value {
        let response = self.create_ticket(client, title, price).await;
        assert_eq!(response.status(), 201, "list {title}");
        response.json().await.expect("json")
    }

    /// PUT /api/tickets/:id with an `If-Match` header.
    pub async fn update_ticket_if_match(
        &self,
        client: &Client,
        id: &str,
        if_match: &str,
        body: &Value,
    ) -> Response {
        client
            .put(self.url(&format!("/api/tickets/{id}")))
            .header(reqwest::header::IF_MATCH, if_match)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Every one of the caller's orders, following GET /api/orders from page to page.
    pub async fn orders_json(&self, client: &Client) -> Vec<Value> {
        let mut path = "/api/orders?limit=1000".to_owned();
        let mut orders = Vec::new();
        loop {
            let response = self.get(client, &path).await;
            assert_eq!(response.status(), 200, "GET {path}");
            let next = next_link(&response);
            let page: Vec<Value> = response.json().await.expect("json");
            orders.extend(page);
            match next {
                Some(next) => path = next,
                None => return orders,
            }
        }
    }

    /// POST /api/orders that reports a failed connection instead of panicking (for servers
    /// that are killed mid-request).
    pub async fn try_reserve(&self, client: &Client, ticket_id: &str) -> reqwest::Result<Response> {
        client
            .post(self.url("/api/orders"))
            .json(&json!({"ticketId": ticket_id}))
            .send()
            .await
    }

    /// DELETE /api/orders/:id that reports a failed connection instead of panicking.
    pub async fn try_cancel(&self, client: &Client, order_id: &str) -> reqwest::Result<Response> {
        client
            .delete(self.url(&format!("/api/orders/{order_id}")))
            .send()
            .await
    }

    /// The ids of every ticket for sale, oldest first.
    pub async fn listed_ids(&self) -> Vec<Value> {
        self.listing(100)
            .await
            .iter()
            .map(|t| t["id"].clone())
            .collect()
    }

    /// Every ticket for sale, following the `Link: rel="next"` header from page to page.
    pub async fn listing(&self, limit: usize) -> Vec<Value> {
        let mut path = format!("/api/tickets?limit={limit}");
        let mut tickets = Vec::new();
        loop {
            let response = self.get(&self.client(), &path).await;
            assert_eq!(response.status(), 200, "GET {path}");
            let next = next_link(&response);
            let page: Vec<Value> = response.json().await.expect("json");
            tickets.extend(page);
            match next {
                Some(next) => path = next,
                None => return tickets,
            }
        }
    }
}

/// The path named by a `Link: <path>; rel="next"` header, if the response has one.
pub fn next_link(response: &Response) -> Option<String> {
    let link = response.headers().get(reqwest::header::LINK)?;
    let link = link.to_str().expect("an ASCII Link header");
    let path = link
        .strip_suffix("; rel=\"next\"")
        .and_then(|rest| rest.strip_prefix('<'))
        .and_then(|rest| rest.strip_suffix('>'));
    Some(
        path.unwrap_or_else(|| panic!("a Link header of the documented shape: {link}"))
            .to_owned(),
    )
}

impl ChildApp {
    /// A `TestApp` that talks to this child over HTTP, so the endpoint methods work against
    /// it. Stopping it does nothing: end the child with `kill`.
    pub fn api(&self, data_dir: &Arc<tempfile::TempDir>) -> TestApp {
        TestApp {
            address: self.address.clone(),
            data_dir: data_dir.clone(),
            config: test_config(data_dir.path()),
            stop: None,
            task: None,
        }
    }
}

/// A well-formed id that names nothing: `id` with its last hex digit changed.
pub fn unknown_id(id: &str) -> String {
    let last = if id.ends_with('0') { '1' } else { '0' };
    format!("{}{last}", &id[..id.len() - 1])
}

/// The `field` of each entry of an error envelope, in order.
pub async fn error_fields(response: Response) -> Vec<Option<String>> {
    errors_of(response)
        .await
        .into_iter()
        .map(|(_, field)| field)
        .collect()
}

/// The fields a validation error should name, in the form `error_fields` answers.
pub fn named(fields: &[&str]) -> Vec<Option<String>> {
    fields.iter().map(|f| Some((*f).to_owned())).collect()
}
