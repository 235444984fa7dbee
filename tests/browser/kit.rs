//! The browser kit: a chromedriver per test, one Chromium session per user, and the few
//! steps the scenarios are made of (open a route, fill a labelled field, press a button,
//! wait for a condition, run axe-core, take a screenshot).
//!
//! Every wait polls a condition up to a deadline and names what it waited for when it
//! fails; none sleeps a fixed time. Fields are found by their label's text, so a missing
//! label fails the scenario as well as the accessibility check.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, free_port};

/// How long any condition may take to hold: generous, as the suite shares two cores.
const PATIENCE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
/// axe-core 4.14.1 from the npm registry (tests/browser/vendor/README.md).
const AXE: &str = include_str!("vendor/axe.min.js");
/// WebDriver's codes for the Tab and Enter keys.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// A chromedriver process on its own port, killed when dropped.
pub struct Driver {
    process: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver (`CHROMEDRIVER`, else `chromedriver` on the PATH, installed first
    /// when missing) and waits until it listens. Panics, failing the test, when it cannot: a
    /// browser test never skips.
    pub fn start() -> Driver {
        let program = match std::env::var("CHROMEDRIVER") {
            Ok(program) => program,
            Err(_) => {
                install_chromium();
                "chromedriver".into()
            }
        };
        let port = free_port();
        let process = Command::new(&program)
            .arg(format!("--port={port}"))
            // A group of its own, so that dropping the driver ends the browsers it started
            // too, even when a failed test never closed them.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program} ({e}): install Debian's chromium and chromium-driver (apt-get install -y --no-install-recommends chromium chromium-driver), as .ci/run does")
            });
        let deadline = std::time::Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "{program} did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Driver {
            process,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// Runs `tests/browser/install-chromium` once per test binary: it installs Debian's chromium
/// and chromium-driver when either is missing, so that `cargo test` works on a fresh machine.
fn install_chromium() {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/install-chromium"
        );
        match Command::new(script).status() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!("{script} ended with {status}")),
            Err(e) => Err(format!("cannot run {script}: {e}")),
        }
    });
    if let Err(reason) = installed {
        panic!("the browser tests need chromium and chromium-driver: {reason}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every Chromium it started (a killed chromedriver
        // leaves its browsers running).
        let group = format!("-{}", self.process.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// One user's browser: a Chromium of its own (own profile, so own cookies) on the shop.
pub struct Browser {
    client: Client,
    shop: String,
}

impl Browser {
    /// A headless Chromium at desktop width (1280 px) on the shop at `shop`.
    pub async fn open(driver: &Driver, shop: &str) -> Browser {
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": binary,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1280,900", "--lang=en-US",
                         "--force-device-scale-factor=1"],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| {
                panic!("Chromium ({binary}) did not start under chromedriver: {e}")
            });
        Browser {
            client,
            shop: shop.to_owned(),
        }
    }

    /// Loads the page at a route, as a deep link would: `goto("/tickets/ID")`.
    pub async fn goto(&self, route: &str) {
        let url = format!("{}/#{route}", self.shop);
        // A new document each time, as a pasted link gives, not a hash change.
        self.client.goto("about:blank").await.expect("blank page");
        self.client.goto(&url).await.expect("navigation");
    }

    /// Sets the viewport's width (the height stays a phone's or a desktop's).
    pub async fn resize(&self, width: u32) {
        let height = if width < 600 { 780 } else { 900 };
        self.client
            .set_window_size(width, height)
            .await
            .expect("window size");
        self.until(&format!("window width {width}"), || async move {
            self.js("return window.innerWidth", vec![]).await.as_u64() == Some(u64::from(width))
        })
        .await;
    }

    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.expect("script")
    }

    /// Polls `check` until it holds; panics naming `what` (and the page's text) if it never
    /// does within the suite's patience.
    pub async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        self.poll(what, || {
            let held = check();
            async move { held.await.then_some(()) }
        })
        .await
    }

    /// Polls `find` until it answers something, and answers that; panics as `until` does.
    pub async fn poll<T, F, Fut>(&self, what: &str, mut find: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(found) = find().await {
                return found;
            }
            if tokio::time::Instant::now() >= deadline {
                let text = self.js("return document.body.innerText", vec![]).await;
                panic!(
                    "waited for {what}; the page shows:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The first element matching `css`, once there is one.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.poll(&format!("an element {css}"), || async move {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await
    }

    /// Waits until nothing matches `css`.
    pub async fn wait_gone(&self, css: &str) {
        self.until(&format!("no element {css}"), || async move {
            self.client
                .find_all(Locator::Css(css))
                .await
                .is_ok_and(|all| all.is_empty())
        })
        .await;
    }

    /// Waits until the text of what matches `css` contains `needle`, and answers that text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        self.poll(&format!("{css} to say {needle:?}"), || async move {
            let text = self
                .js(
                    "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
                    vec![json!(css)],
                )
                .await;
            text.as_str()
                .filter(|t| t.contains(needle))
                .map(str::to_owned)
        })
        .await
    }

    /// Types `value` into the input whose <label> says `label` (replacing what was there).
    pub async fn fill(&self, label: &str, value: &str) {
        let xpath = format!("//*[@id=//label[normalize-space()='{label}']/@for]");
        let input = self
            .wait_xpath(&xpath, &format!("a field labelled {label:?}"))
            .await;
        input.clear().await.expect("clear field");
        input.send_keys(value).await.expect("type");
    }

    /// Chooses the option whose text is `option` in the <select> labelled `label`.
    pub async fn choose(&self, label: &str, option: &str) {
        let xpath = format!(
            "//*[@id=//label[normalize-space()='{label}']/@for]/option[normalize-space()='{option}']"
        );
        let item = self
            .wait_xpath(&xpath, &format!("{option:?} in {label:?}"))
            .await;
        item.click().await.expect("choose");
    }

    /// Presses the (enabled, visible) button that says `text`.
    pub async fn press(&self, text: &str) {
        let xpath = format!("//button[normalize-space()='{text}' and not(@disabled)]");
        let button = self.wait_xpath(&xpath, &format!("a button {text:?}")).await;
        button.click().await.expect("press");
    }

    /// Follows the link that says `text`.
    pub async fn follow(&self, text: &str) {
        let xpath = format!("//a[normalize-space()='{text}']");
        let link = self.wait_xpath(&xpath, &format!("a link {text:?}")).await;
        link.click().await.expect("follow");
    }

    async fn wait_xpath(&self, xpath: &str, what: &str) -> Element {
        self.poll(what, || async move {
            match self.client.find(Locator::XPath(xpath)).await {
                Ok(e) if e.is_displayed().await.unwrap_or(false) => Some(e),
                _ => None,
            }
        })
        .await
    }

    /// Moves focus with the Tab key alone until it is on the control that says `text`, and
    /// checks that the focus is visible there (an outline).
    pub async fn tab_to(&self, text: &str) {
        for _ in 0..40 {
            let here = self
                .js(
                    "const e = document.activeElement;
                     return e ? [e.textContent.trim(), getComputedStyle(e).outlineStyle] : null",
                    vec![],
                )
                .await;
            if here[0] == json!(text) {
                assert_ne!(here[1], json!("none"), "no visible focus on {text:?}");
                return;
            }
            self.key(TAB).await;
        }
        panic!("Tab never reached {text:?}");
    }

    /// Presses Enter on what has focus.
    pub async fn enter(&self) {
        self.key(ENTER).await;
    }

    async fn key(&self, key: &str) {
        let focused = self
            .client
            .active_element()
            .await
            .expect("a focused element");
        focused.send_keys(key).await.expect("a key press");
    }

    /// Waits for the page whose <h1> says `title`, and checks that focus moved to it.
    pub async fn wait_page(&self, title: &str) {
        self.wait_text("h1", title).await;
        self.until(&format!("focus on the heading {title:?}"), || async move {
            self.js(
                "return document.activeElement && document.activeElement.tagName",
                vec![],
            )
            .await
            .as_str()
                == Some("H1")
        })
        .await;
    }

    /// Signs up through the page (email, a valid password) and waits for the listing.
    pub async fn sign_up(&self, email: &str) {
        self.goto("/signup").await;
        self.wait_page("Sign up").await;
        self.fill("Email", email).await;
        self.fill("Password (8 characters or more)", crate::helpers::PASSWORD)
            .await;
        self.press("Create account").await;
        self.wait_for("nav a[href='#/account']").await;
    }

    /// Signs in through the Sign in page and waits until the page shows the account link.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/signin").await;
        self.wait_page("Sign in").await;
        self.fill("Email", email).await;
        self.fill("Password", password).await;
        self.press("Sign in").await;
        self.wait_for("nav a[href='#/account']").await;
    }

    /// Lists a ticket through the Sell page and answers its id (from the ticket page's route).
    pub async fn sell(&self, title: &str, price: &str) -> String {
        self.goto("/sell").await;
        self.wait_page("Sell a ticket").await;
        self.fill("Title", title).await;
        let label = self
            .js(
                "return [...document.querySelectorAll('label')].map(l => l.textContent).find(t => t.startsWith('Price'))",
                vec![],
            )
            .await;
        self.fill(label.as_str().expect("a price field"), price)
            .await;
        self.press("List it").await;
        self.wait_page(title).await;
        let hash = self.js("return location.hash", vec![]).await;
        hash.as_str()
            .and_then(|h| h.strip_prefix("#/tickets/"))
            .expect("the ticket page's route")
            .to_owned()
    }

    /// The serious and critical accessibility violations axe-core finds on the page now, as
    /// "rule: help (elements)" lines.
    pub async fn serious_violations(&self) -> Vec<String> {
        let loaded = self
            .js("return typeof window.axe !== 'undefined'", vec![])
            .await;
        if loaded != json!(true) {
            self.js(&format!("{AXE}\n;return true;"), vec![]).await;
        }
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then((r) => done(r.violations
                     .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                     .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)))
                   .catch((e) => done([`axe failed: ${e}`]));",
                vec![],
            )
            .await
            .expect("axe runs");
        serde_json::from_value(found).expect("a list of violations")
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("screenshot")
    }

    /// Ends the session (and its Chromium).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The app as the browser tests run it: on the system clock (a browser counts a hold down on
/// real time), with `configure`'s changes to the API suite's test config.
pub async fn spawn_shop(
    configure: impl FnOnce(&mut ticketing::config::Config),
) -> crate::helpers::TestApp {
    crate::helpers::spawn_app_on(ticketing::clock::Clock::system(), configure).await
}

/// The CSS selector of a ticket's row in a list (the listing, my tickets).
pub fn row(ticket_id: &str) -> String {
    format!("li[data-ticket-id='{ticket_id}']")
}

/// A ticket a seller listed over the API, and a signed-up buyer's browser on its page: where
/// the scenarios that buy begin. Answers the buyer's browser and the ticket's id.
pub async fn buyer_on_a_listed_ticket(app: &TestApp, driver: &Driver) -> (Browser, String) {
    let seller = app.client();
    app.signup(&seller, "seller@example.com", PASSWORD).await;
    let ticket = app.listed_ticket(&seller).await;
    let buyer = Browser::open(driver, &app.address).await;
    buyer.sign_up("buyer@example.com").await;
    buyer.goto(&format!("/tickets/{ticket}")).await;
    buyer.wait_for("button.primary").await;
    (buyer, ticket)
}
