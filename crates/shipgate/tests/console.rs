//! The web console end to end in headless Chromium, driven over WebDriver by `chromedriver`
//! (both installed by `scripts/setup`): sign-in, a canary whose weights change on the page
//! without a reload, an approval refused to the deployment's author and given by an approver,
//! a form without the session's CSRF token refused, the Releases page with signature status,
//! and a viewer who sees no action button and whom the API refuses anyway. Screenshots of every
//! page at 1280×800 and at phone width go to `target/console-screenshots/`.
//!
//! Without Chromium or chromedriver the test skips with a loud message; with
//! `SHIPGATE_REQUIRE_ALL=1` (CI) it fails instead.
//!
//! The WebDriver client is the few JSON commands below over one HTTP request each: the protocol
//! is plain JSON, and a client crate would bring a second HTTP stack into the tests for them.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::cluster::Cluster;
use common::load::free_port;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `chromedriver` and Chromium, or a loud skip (a failure under `SHIPGATE_REQUIRE_ALL=1`).
fn have_browser(test: &str) -> bool {
    let driver = Command::new("chromedriver").arg("--version").output();
    let why = match driver {
        Ok(output) if output.status.success() && std::path::Path::new(CHROMIUM).exists() => return true,
        Ok(_) => format!("`{CHROMIUM}` is missing"),
        Err(error) => format!("cannot run `chromedriver`: {error}"),
    };
    assert!(
        std::env::var("SHIPGATE_REQUIRE_ALL").as_deref() != Ok("1"),
        "Chromium is required (SHIPGATE_REQUIRE_ALL=1) but unavailable: {why}; run scripts/setup"
    );
    eprintln!("SKIPPED {test}: Chromium or chromedriver is not installed ({why}); run scripts/setup");
    false
}

/// One WebDriver session in headless Chromium, with its chromedriver.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    shots: PathBuf,
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while request(addr, "GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800",
            ]},
        }}});
        let answer = request(addr, "POST", "/session", Some(&capabilities)).unwrap();
        let session =
            answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_owned();
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser { driver, addr, session, shots }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let answer = request(self.addr, method, &path, body.as_ref()).unwrap();
        answer["value"].clone()
    }

    fn go(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    fn find(&self, css: &str) -> Option<String> {
        let found = self.command("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        found[ELEMENT].as_str().map(str::to_owned)
    }

    fn element(&self, css: &str) -> String {
        self.find(css).unwrap_or_else(|| panic!("no `{css}` on the page:\n{}", self.source()))
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.command("POST", &format!("/element/{element}/value"), Some(json!({"text": text})));
    }

    fn click(&self, css: &str) {
        let element = self.element(css);
        self.command("POST", &format!("/element/{element}/click"), Some(json!({})));
    }

    /// Clicks a button whose form asks for confirmation, and confirms.
    fn click_and_confirm(&self, css: &str) {
        self.click(css);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.command("GET", "/alert/text", None);
            if text.is_string() {
                self.command("POST", "/alert/accept", Some(json!({})));
                return;
            }
            assert!(Instant::now() < deadline, "no confirmation was asked");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn text(&self, css: &str) -> String {
        match self.find(css) {
            Some(element) => {
                self.command("GET", &format!("/element/{element}/text"), None).as_str().unwrap_or("").to_owned()
            }
            None => String::new(),
        }
    }

    fn source(&self) -> String {
        self.command("GET", "/source", None).as_str().unwrap_or("").to_owned()
    }

    fn script(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", Some(json!({"script": script, "args": []})))
    }

    /// Waits until `css`'s text contains `wanted`.
    fn until_text(&self, css: &str, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(40);
        while !self.text(css).contains(wanted) {
            assert!(Instant::now() < deadline, "`{css}` never showed `{wanted}`:\n{}", self.source());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `NAME-desktop.png` at 1280×800 and `NAME-phone.png` at 390×844.
    fn screenshots(&self, name: &str) {
        for (suffix, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
            self.command("POST", "/window/rect", Some(json!({"width": width, "height": height})));
            std::thread::sleep(Duration::from_millis(200));
            let png = self.command("GET", "/screenshot", None);
            let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
            std::fs::write(self.shots.join(format!("{name}-{suffix}.png")), bytes).unwrap();
        }
        self.command("POST", "/window/rect", Some(json!({"width": 1280, "height": 800})));
    }

    fn sign_in(&self, base: &str, token: &str) {
        self.go(&format!("{base}/sign-in"));
        self.type_into("#token", token);
        self.click("button[type=submit]");
        self.until_text("h1", "Environments");
    }

    fn sign_out(&self) {
        self.click("header form button");
        self.until_text("h1", "Sign in");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(self.addr, "DELETE", &format!("/session/{}", self.session), None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One WebDriver command: JSON in, JSON out, on a fresh connection. chromedriver accepts only
/// a local `Host`.
fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut raw = Vec::new();
    let mut buffer = [0u8; 65536];
    let length = loop {
        let read = stream.read(&mut buffer).map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("the connection closed early".to_owned());
        }
        raw.extend_from_slice(&buffer[..read]);
        if let Some(end) = raw.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .ok_or("no Content-Length")?;
            raw.drain(..end + 4);
            break length;
        }
    };
    while raw.len() < length {
        let read = stream.read(&mut buffer).map_err(|e| e.to_string())?;
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..read]);
    }
    let rest = String::from_utf8_lossy(&raw).into_owned();
    serde_json::from_str(&rest).map_err(|e| format!("{e}: {rest}"))
}

/// A form POST to the console as a browser without its page would send it; answers the status.
fn post_form(addr: SocketAddr, path: &str, cookie: Option<&str>, body: &str) -> u16 {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let cookie = cookie.map(|cookie| format!("Cookie: {cookie}\r\n")).unwrap_or_default();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    String::from_utf8_lossy(&raw).get(9..12).and_then(|status| status.parse().ok()).unwrap_or(0)
}

/// `staging` with a two-step canary and one approval from an approver.
fn environments(cluster: &Cluster) -> String {
    format!(
        "[environments.staging]\nlisten = \"{}\"\nreplicas = 1\n\
         strategy = {{ canary = [ {{ weight = 10, hold = \"3s\" }}, {{ weight = 50, hold = \"3s\" }} ] }}\n\
         approvals = {{ required = 1, from = [\"role:approver\"] }}\n",
        cluster.listen
    )
}

#[test]
fn console_sign_in_live_canary_approvals_and_a_viewer() {
    if !have_browser("console_sign_in_live_canary_approvals_and_a_viewer") {
        return;
    }
    let cluster = Cluster::start(None, 200);
    let alice = cluster.token("alice", "approver");
    let viewer = cluster.token("val", "viewer");
    let base = format!("http://{}", cluster.api);

    // v1 goes live first (approved over the API), so that v2 is a canary next to it.
    cluster.release_with("v1", "", &environments(&cluster), &[]);
    let (status, body) = cluster.deploy_to("staging", "v1", json!([]));
    assert_eq!(status, 201, "{body}");
    let first = body["id"].as_u64().unwrap();
    let (status, body) =
        cluster.call_as(&alice, "POST", &format!("/api/v1/deployments/{first}/approve"), Some(json!({})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(cluster.outcome(first)["status"], "succeeded");

    cluster.release_with("v2", "", &environments(&cluster), &[]);
    let (status, body) = cluster.deploy_to("staging", "v2", json!([]));
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_u64().unwrap();

    let browser = Browser::start();
    // Signed out, every page leads to the sign-in form.
    browser.go(&format!("{base}/deployments/{id}"));
    browser.until_text("h1", "Sign in");
    browser.screenshots("sign-in");
    // A wrong token is refused.
    browser.type_into("#token", "sgt_wrong");
    browser.click("button[type=submit]");
    browser.until_text("[role=status]", "unknown, revoked or expired");

    // The author (the admin token) sees the buttons, and is refused.
    browser.sign_in(&base, &cluster.token);
    assert!(browser.text("main").contains("v1"), "{}", browser.source());
    browser.screenshots("environments");
    browser.go(&format!("{base}/releases"));
    browser.until_text("h1", "Releases");
    assert!(browser.text("table").contains("verified"), "both releases are signed:\n{}", browser.source());
    browser.screenshots("releases");
    browser.go(&format!("{base}/deployments/{id}"));
    browser.until_text("#status", "awaiting_approval");
    browser.click_and_confirm("#approve-button");
    browser.until_text("[role=status]", "approve refused");
    // A form without the session's CSRF token is refused, and nothing happens.
    let session = browser.command("GET", "/cookie/shipgate_session", None)["value"].as_str().unwrap().to_owned();
    let cookie = format!("shipgate_session={session}");
    let abort = format!("/deployments/{id}/abort");
    assert_eq!(post_form(cluster.api, &abort, Some(&cookie), "csrf=forged&reason=x"), 403);
    assert_eq!(post_form(cluster.api, &abort, None, "csrf=forged&reason=x"), 303, "signed out: to the sign-in page");
    assert_eq!(cluster.call("GET", &format!("/api/v1/deployments/{id}"), None).1["status"], "awaiting_approval");
    assert!(browser.text("[role=status]").contains("SG0705"), "{}", browser.source());
    browser.sign_out();

    // A viewer sees the deployment without a button, and the API refuses them anyway.
    browser.sign_in(&base, &viewer);
    browser.go(&format!("{base}/deployments/{id}"));
    browser.until_text("#status", "awaiting_approval");
    assert!(browser.find("#actions").is_none(), "a viewer sees no action:\n{}", browser.source());
    browser.screenshots("deployment-viewer");
    let (status, body) =
        cluster.call_as(&viewer, "POST", &format!("/api/v1/deployments/{id}/approve"), Some(json!({})));
    assert_eq!(status, 403, "{body}");
    browser.sign_out();

    // An approver approves; the canary's weights change on the page without a reload.
    browser.sign_in(&base, &alice);
    browser.go(&format!("{base}/deployments/{id}"));
    browser.type_into("#approve-reason", "looked at the plan");
    browser.click_and_confirm("#approve-button");
    browser.until_text("[role=status]", "approve: done");
    browser.script("window.notReloaded = true;");
    browser.until_text("#weights", "v2: 10%");
    browser.screenshots("deployment-canary");
    browser.until_text("#weights", "v2: 50%");
    browser.until_text("#status", "succeeded");
    browser.until_text("#weights", "v2: 100%");
    assert_eq!(browser.script("return window.notReloaded === true;"), json!(true), "the page reloaded");
    browser.screenshots("deployment-succeeded");
    assert_eq!(cluster.outcome(id)["status"], "succeeded");
}
