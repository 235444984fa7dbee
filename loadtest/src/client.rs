//! The shop's HTTP API as the load tester calls it: one shared connection pool, one method
//! per endpoint, every call timed from its intended send time and recorded.
//!
//! The load tester is a client like any other: it talks to the server only over HTTP and
//! reads the answers into plain views of its own. It must not use `actors`, `store`, `http`
//! or `domain`. Sessions travel as `Authorization: Bearer`, never in a cookie jar, because
//! one pool serves every user.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Certificate, Client, RequestBuilder};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::stats::{Answer, Kind, Recorder};

/// The HTTP client every phase shares: a pool of up to `connections` idle keep-alive
/// connections (the concurrency), a time limit per request, and for HTTPS (rustls) the
/// system's roots plus the PEM certificates in `extra_roots`.
pub fn http_client(
    connections: usize,
    timeout: Duration,
    extra_roots: Option<&Path>,
) -> anyhow::Result<Client> {
    let mut builder = Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(timeout)
        .connect_timeout(timeout)
        .tcp_nodelay(true);
    if let Some(path) = extra_roots {
        let pem = std::fs::read(path)
            .with_context(|| format!("Failed to read the certificates in {}", path.display()))?;
        let roots = Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
        if roots.is_empty() {
            anyhow::bail!("{} holds no PEM certificate", path.display());
        }
        builder = builder.tls_certs_merge(roots);
    }
    builder.build().context("Failed to build the HTTP client")
}

/// A signed-up user.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub email: String,
    /// The session JWT from the `session` cookie, sent back as a Bearer token.
    pub token: String,
}

/// A ticket as the API shows it (only the fields the load tester reads).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketView {
    pub id: String,
    pub user_id: String,
    #[serde(default)]
    pub order_id: Option<String>,
}

/// An order as the API shows it (only the fields the load tester reads).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub id: String,
    pub status: String,
    pub ticket: OrderTicketView,
}

/// The ticket an order is for.
#[derive(Clone, Debug, Deserialize)]
pub struct OrderTicketView {
    pub id: String,
}

impl OrderView {
    /// Live orders hold or own their ticket: created, awaiting payment, or complete.
    pub fn is_live(&self) -> bool {
        is_live(&self.status)
    }
}

/// Whether an order status holds or owns its ticket.
pub fn is_live(status: &str) -> bool {
    matches!(status, "created" | "awaiting:payment" | "complete")
}

#[derive(Deserialize)]
struct IdView {
    id: String,
}

/// The outcome of one call: what came back, and the body when it was the success status
/// with the promised shape.
pub struct Reply<T> {
    pub answer: Answer,
    pub body: Option<T>,
    /// Why there is no body, kept for error messages.
    failure: Failure,
}

enum Failure {
    None,
    Transport(reqwest::Error),
    Body(Vec<u8>),
}

/// How much of an unexpected body an error message quotes.
const QUOTED_BODY: usize = 300;

impl<T> Reply<T> {
    /// What went wrong, for an error message: the status and the start of the body, or the
    /// transport error with its causes.
    pub fn describe(&self) -> String {
        match &self.failure {
            Failure::None => self.answer.key(),
            Failure::Transport(error) => format!("no answer: {}", transport_error(error)),
            Failure::Body(body) => {
                let body = String::from_utf8_lossy(body);
                let quoted: String = body.chars().take(QUOTED_BODY).collect();
                format!("{} {}", self.answer.key(), quoted.trim())
            }
        }
    }
}

/// A transport error with its causes (for a TLS failure the cause is the useful part).
fn transport_error(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The API of one shop. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Api {
    http: Client,
    /// The base URL without a trailing slash; paths are appended to it.
    base: String,
    recorder: Arc<Recorder>,
}

impl Api {
    /// The shop at `base`, reached through `http`, recording every call into `recorder`.
    pub fn new(http: Client, base: &reqwest::Url, recorder: Arc<Recorder>) -> Api {
        Api {
            http,
            base: base.as_str().trim_end_matches('/').to_owned(),
            recorder,
        }
    }

    /// The same API, recording into another phase's recorder.
    pub fn recording_into(&self, recorder: Arc<Recorder>) -> Api {
        Api {
            recorder,
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET /healthz, before anything else: whether the shop answers at all (a refused
    /// connection or a TLS failure is an error here, before any setup), and its version when
    /// it tells it (`None` from a shop whose /healthz is missing or says nothing). Not
    /// recorded in any phase.
    pub async fn shop_version(&self) -> anyhow::Result<Option<String>> {
        #[derive(Deserialize)]
        struct Health {
            version: Option<String>,
        }
        let response = self
            .http
            .get(self.url("/healthz"))
            .send()
            .await
            .map_err(|error| anyhow::anyhow!("{}", transport_error(&error)))
            .with_context(|| format!("The shop at {} does not answer", self.base))?;
        let health: Option<Health> = response.json().await.ok();
        Ok(health.and_then(|h| h.version))
    }

    /// POST /api/users/signup; the session is the `session` cookie it sets.
    pub async fn signup(&self, email: &str, password: &str, started: Instant) -> Reply<Session> {
        let request = self
            .http
            .post(self.url("/api/users/signup"))
            .json(&json!({"email": email, "password": password}));
        let expect = Expect {
            status: 201,
            headers: true,
        };
        self.call(Kind::Signup, started, request, expect, |headers, body| {
            let user: IdView = serde_json::from_slice(body).ok()?;
            Some(Session {
                id: user.id,
                email: email.to_owned(),
                token: session_token(headers)?,
            })
        })
        .await
    }

    /// POST /api/tickets with the price as a decimal string (the API accepts numeric
    /// strings, so no float is involved).
    pub async fn create_ticket(
        &self,
        session: &Session,
        title: &str,
        cents: u64,
        started: Instant,
    ) -> Reply<TicketView> {
        let price = format!("{}.{:02}", cents / 100, cents % 100);
        let request = self
            .http
            .post(self.url("/api/tickets"))
            .bearer_auth(&session.token)
            .json(&json!({"title": title, "price": price}));
        self.call(Kind::CreateTicket, started, request, 201, json_body)
            .await
    }

    /// GET /api/tickets: one page of tickets for sale, after `cursor` when given.
    pub async fn list_tickets(
        &self,
        cursor: Option<&str>,
        limit: u32,
        started: Instant,
    ) -> Reply<Vec<TicketView>> {
        let path = match cursor {
            Some(cursor) => format!("/api/tickets?limit={limit}&cursor={cursor}"),
            None => format!("/api/tickets?limit={limit}"),
        };
        let request = self.http.get(self.url(&path));
        self.call(Kind::ListTickets, started, request, 200, json_body)
            .await
    }

    /// GET /api/tickets/:id
    pub async fn show_ticket(&self, id: &str, started: Instant) -> Reply<TicketView> {
        let request = self.http.get(self.url(&format!("/api/tickets/{id}")));
        self.call(Kind::ShowTicket, started, request, 200, json_body)
            .await
    }

    /// POST /api/orders: reserve a ticket.
    pub async fn reserve(
        &self,
        session: &Session,
        ticket_id: &str,
        started: Instant,
    ) -> Reply<OrderView> {
        let request = self
            .http
            .post(self.url("/api/orders"))
            .bearer_auth(&session.token)
            .json(&json!({"ticketId": ticket_id}));
        self.call(Kind::Reserve, started, request, 201, json_body)
            .await
    }

    /// POST /api/payments; the body is the payment id.
    pub async fn pay(
        &self,
        session: &Session,
        order_id: &str,
        token: &str,
        started: Instant,
    ) -> Reply<String> {
        let request = self
            .http
            .post(self.url("/api/payments"))
            .bearer_auth(&session.token)
            .json(&json!({"orderId": order_id, "token": token}));
        self.call(Kind::Pay, started, request, 201, |_, body| {
            serde_json::from_slice::<IdView>(body).ok().map(|p| p.id)
        })
        .await
    }

    /// DELETE /api/orders/:id
    pub async fn cancel(&self, session: &Session, order_id: &str, started: Instant) -> Reply<()> {
        let request = self
            .http
            .delete(self.url(&format!("/api/orders/{order_id}")))
            .bearer_auth(&session.token);
        self.call(Kind::Cancel, started, request, 204, |_, _| Some(()))
            .await
    }

    /// GET /api/orders: every one of the caller's orders, following the pages (`Link:
    /// rel="next"`). Each page is recorded as one call; later pages are timed from their
    /// own send.
    pub async fn list_orders(&self, session: &Session, started: Instant) -> Reply<Vec<OrderView>> {
        let mut orders = Vec::new();
        let mut path = "/api/orders?limit=1000".to_owned();
        let mut sent = started;
        loop {
            let request = self.http.get(self.url(&path)).bearer_auth(&session.token);
            let expect = Expect {
                status: 200,
                headers: true,
            };
            let reply = self
                .call(Kind::ListOrders, sent, request, expect, |headers, body| {
                    let page: Vec<OrderView> = serde_json::from_slice(body).ok()?;
                    Some((page, next_page(headers)))
                })
                .await;
            let (done, next) = match reply.body {
                Some((page, next)) => {
                    orders.extend(page);
                    (true, next)
                }
                None => (false, None),
            };
            match next {
                Some(next) => {
                    path = next;
                    sent = Instant::now();
                }
                None => {
                    return Reply {
                        answer: reply.answer,
                        body: done.then_some(orders),
                        failure: reply.failure,
                    };
                }
            }
        }
    }

    /// Sends, reads the whole answer, records it, and parses the body of the success
    /// status. Latency runs from `started` (the intended send time) to the last byte.
    async fn call<T>(
        &self,
        kind: Kind,
        started: Instant,
        request: RequestBuilder,
        expect: impl Into<Expect>,
        parse: impl FnOnce(&HeaderMap, &[u8]) -> Option<T>,
    ) -> Reply<T> {
        let Expect {
            status: success,
            headers: keep_headers,
        } = expect.into();
        let exchanged = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            // Only signup needs a header (its cookie); don't copy them for every request.
            let headers = if keep_headers {
                response.headers().clone()
            } else {
                HeaderMap::new()
            };
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        let finished = Instant::now();
        let reply = match exchanged {
            Err(error) => Reply {
                answer: Answer::Error,
                body: None,
                failure: Failure::Transport(error),
            },
            Ok((status, headers, body)) if status == success => match parse(&headers, &body) {
                Some(value) => Reply {
                    answer: Answer::Status(status),
                    body: Some(value),
                    failure: Failure::None,
                },
                None => Reply {
                    answer: Answer::Invalid(status),
                    body: None,
                    failure: Failure::Body(body.into()),
                },
            },
            Ok((status, _, body)) => Reply {
                answer: Answer::Status(status),
                body: None,
                failure: Failure::Body(body.into()),
            },
        };
        self.recorder.record(kind, reply.answer, started, finished);
        reply
    }
}

/// The success status of a call, and whether its parser needs the response headers.
struct Expect {
    status: u16,
    headers: bool,
}

impl From<u16> for Expect {
    fn from(status: u16) -> Expect {
        Expect {
            status,
            headers: false,
        }
    }
}

fn json_body<T: DeserializeOwned>(_: &HeaderMap, body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

/// The path of the next page named by a `Link: <path>; rel="next"` header.
fn next_page(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    let (target, params) = link.split_once(';')?;
    params.contains("rel=\"next\"").then(|| {
        target
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned()
    })
}

/// The value of the `session` cookie among the Set-Cookie headers.
fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|cookie| cookie.strip_prefix("session="))
        .filter_map(|rest| rest.split(';').next())
        .find(|token| !token.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_session_token_is_read_from_the_session_cookie_only() {
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("other=x; Path=/"));
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static("session=abc.def.ghi; HttpOnly; SameSite=Lax; Path=/"),
        );
        assert_eq!(session_token(&headers).as_deref(), Some("abc.def.ghi"));

        let mut cleared = HeaderMap::new();
        cleared.append(SET_COOKIE, HeaderValue::from_static("session=; Max-Age=0"));
        assert_eq!(session_token(&cleared), None);
    }
}
