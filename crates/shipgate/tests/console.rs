//! The web console end to end in headless Chromium, driven over WebDriver by `chromedriver`
//! (both installed by `scripts/setup`): sign-in, a canary under load whose weights and analysis
//! charts change on the page without a reload, its verdict, gates and post-deployment checklist,
//! an approval refused to the deployment's author and given by an approver, a form without the
//! session's CSRF token refused, the Releases page with signature status and where each release
//! runs, and a viewer who sees no action button and whom the API refuses anyway. Screenshots of
//! every page at 1280×800 and at phone width go to `target/console-screenshots/`.
//!
//! A second test covers the ledger and rollbacks: a rollback from the Environments page with a
//! reason, refused to a viewer (who sees no button); a canary that fails analysis under load,
//! rolled back automatically while its page shows it without a reload; the Ledger page's filters
//! and its Verify button; and the checkpoint downloaded with the session, which
//! `shipgate audit verify --checkpoint` accepts.
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
use common::load::{free_port, start_load};
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
        self.until_text_within(css, wanted, Duration::from_secs(40));
    }

    fn until_text_within(&self, css: &str, wanted: &str, within: Duration) {
        let deadline = Instant::now() + within;
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

    /// Like [`Browser::screenshots`], with the element `css` scrolled to the top at each width.
    fn screenshots_of(&self, name: &str, css: &str) {
        for (suffix, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
            self.command("POST", "/window/rect", Some(json!({"width": width, "height": height})));
            std::thread::sleep(Duration::from_millis(200));
            self.script(&format!("document.querySelector('{css}').scrollIntoView();"));
            let png = self.command("GET", "/screenshot", None);
            let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
            std::fs::write(self.shots.join(format!("{name}-{suffix}.png")), bytes).unwrap();
        }
        self.command("POST", "/window/rect", Some(json!({"width": 1280, "height": 800})));
        self.script("window.scrollTo(0, 0);");
    }

    /// Every visible input has a label, the skip link appears when focused, and at phone width
    /// the page is no wider than the screen (wide tables scroll or stack inside it).
    fn check_accessibility(&self) {
        let unlabelled = self.script(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
             .filter(e => e.labels.length === 0).map(e => e.outerHTML);",
        );
        assert_eq!(unlabelled, json!([]), "inputs without a label");
        let skip = self.script(
            "const s = document.querySelector('a.skip'); s.focus(); const r = s.getBoundingClientRect();\
             return document.activeElement === s && r.left >= 0 && r.width > 0 && s.getAttribute('href') === '#main'\
             && document.getElementById('main') !== null;",
        );
        assert_eq!(skip, json!(true), "the skip link shows when focused:\n{}", self.source());
        self.script("document.activeElement.blur();");
        self.command("POST", "/window/rect", Some(json!({"width": 390, "height": 844})));
        std::thread::sleep(Duration::from_millis(200));
        let overflow =
            self.script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;");
        self.command("POST", "/window/rect", Some(json!({"width": 1280, "height": 800})));
        assert_eq!(overflow, json!(0), "the page is wider than a phone");
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

/// A GET to the console with the session's cookie: status, head (lower-cased) and body.
fn get_with_cookie(addr: SocketAddr, path: &str, cookie: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.get(9..12).and_then(|status| status.parse().ok()).unwrap_or(0);
    let head = head.to_ascii_lowercase();
    let body =
        if head.contains("transfer-encoding: chunked") { common::cluster::dechunk(body) } else { body.to_owned() };
    (status, head, body)
}

/// `staging` with a two-step canary judged by analysis (a hold too short to decide goes on),
/// and one approval from an approver.
fn environments(cluster: &Cluster) -> String {
    format!(
        "[environments.staging]\nlisten = \"{}\"\nreplicas = 1\n\
         strategy = {{ canary = [ {{ weight = 10, hold = \"3s\" }}, {{ weight = 50, hold = \"3s\" }} ] }}\n\
         analysis = {{ error_rate_max = 0.5, on_inconclusive = \"promote\" }}\n\
         approvals = {{ required = 1, from = [\"role:approver\"] }}\n",
        cluster.listen
    )
}

/// The `points` of the new version's lines in the deployment page's charts, `|`-separated.
fn chart_points(browser: &Browser) -> String {
    let points = browser.script(
        "return [...document.querySelectorAll('#analysis svg polyline.series.new')]\
         .map(line => line.getAttribute('points')).join('|');",
    );
    points.as_str().unwrap_or("").to_owned()
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
    // What the approver is asked to accept: the gates as they judge the release now.
    assert!(browser.find("#gates-now li").is_some(), "the gates' findings:\n{}", browser.source());
    assert!(browser.text("#analysis").contains("No analysis report yet"), "{}", browser.source());
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

    // An approver approves; the canary's weights change on the page without a reload, and so
    // do the analysis charts as the reports of each hold arrive under load.
    browser.sign_in(&base, &alice);
    browser.go(&format!("{base}/deployments/{id}"));
    let load = start_load(cluster.listen, 1);
    browser.type_into("#approve-reason", "looked at the plan");
    browser.click_and_confirm("#approve-button");
    browser.until_text("[role=status]", "approve: done");
    browser.script("window.notReloaded = true;");
    browser.until_text("#weights", "v2: 10%");
    browser.screenshots("deployment-canary");
    let deadline = Instant::now() + Duration::from_secs(40);
    let first = loop {
        let points = chart_points(&browser);
        if points.split('|').all(|line| !line.is_empty()) && points.contains(',') {
            break points;
        }
        assert!(Instant::now() < deadline, "no chart with points:\n{}", browser.source());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(browser.find("#chart-errors").is_some() && browser.find("#chart-latency").is_some(), "{first}");
    let series = browser
        .script("return [...document.querySelectorAll('#chart-errors polyline')].map(line => line.dataset.series);");
    assert_eq!(series, json!(["v1 (stable)", "v2 (new)"]), "{}", browser.source());
    assert!(browser.text("#analysis-verdict").starts_with("Verdict: "), "{}", browser.source());
    browser.screenshots_of("deployment-charts", "#analysis");
    // The page's figures come from the API's event list, which answers at once while it runs.
    let listed = cluster.events_json(id);
    assert!(listed.iter().any(|event| event["data"]["analysis"]["checks"].is_array()), "{listed:#?}");
    let deadline = Instant::now() + Duration::from_secs(40);
    while chart_points(&browser) == first {
        assert!(Instant::now() < deadline, "the charts never changed from {first}:\n{}", browser.source());
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.until_text("#weights", "v2: 50%");
    browser.until_text("#status", "succeeded");
    browser.until_text("#weights", "v2: 100%");
    // The checklist is judged at the end, and appears without a reload too.
    browser.until_text("#checklist", "post-deployment checklist:");
    assert_eq!(browser.script("return window.notReloaded === true;"), json!(true), "the page reloaded");
    let (ok, failed) = load.finish();
    assert!(failed.is_empty() && ok > 0, "{ok} {failed:?}");
    let verdict = browser.text("#analysis-verdict");
    assert!(verdict.contains("pass") || verdict.contains("inconclusive"), "{verdict}");
    assert!(browser.text("#gates-verdict").contains("pass"), "{}", browser.source());
    let checklist = cluster.call("GET", &format!("/api/v1/deployments/{id}/checklist"), None).1;
    let first_item = checklist["items"][0]["item"].as_str().unwrap();
    assert!(browser.text("#checklist").contains(first_item), "{checklist:#}\n{}", browser.source());
    browser.screenshots("deployment-succeeded");
    browser.screenshots_of("deployment-succeeded-checklist", "#gates");
    browser.check_accessibility();
    assert_eq!(cluster.outcome(id)["status"], "succeeded");
    assert_eq!(cluster.events_json(id), cluster.events(id), "the list and the stream agree");

    // The Releases page says where each release runs, and its evidence in words.
    browser.click("header nav a[href='/releases']");
    browser.until_text("h1", "Releases");
    assert_eq!(browser.text("#release-v2 .deployed"), "active in staging");
    assert!(browser.text("#release-v1 .deployed").starts_with("previous in staging"), "{}", browser.source());
    assert!(browser.text("#release-v2").contains("Secret scan: no secret found"), "{}", browser.source());
    browser.screenshots("releases-deployed");
}

/// A canary that only analysis can end: one step at 50 % held for a minute.
const BAD_CANARY: &str =
    "strategy = { canary = [ { weight = 50, hold = \"60s\" } ] }\nanalysis = { error_rate_max = 0.5 }\n";

#[test]
fn console_ledger_verify_checkpoint_and_rollbacks_manual_and_automated() {
    if !have_browser("console_ledger_verify_checkpoint_and_rollbacks_manual_and_automated") {
        return;
    }
    let cluster = Cluster::start(None, 0);
    let viewer = cluster.token("val", "viewer");
    let base = format!("http://{}", cluster.api);
    // v1 and v2 replace each other at once; v3 fails 30 % of its requests behind a canary.
    cluster.release("v1", ", SAMPLE_ERROR_RATE = \"0.01\"", "");
    cluster.release("v2", ", SAMPLE_ERROR_RATE = \"0.01\"", "");
    cluster.release("v3", ", SAMPLE_ERROR_RATE = \"0.3\"", BAD_CANARY);
    assert_eq!(cluster.outcome(cluster.deploy("v1"))["status"], "succeeded");
    assert_eq!(cluster.outcome(cluster.deploy("v2"))["status"], "succeeded");
    assert_eq!(cluster.status()["previous"]["version"], "v1", "{:#}", cluster.status());

    let browser = Browser::start();
    // A viewer sees no Roll back button, and the API refuses them a rollback anyway.
    browser.sign_in(&base, &viewer);
    browser.until_text("main", "v2");
    assert!(browser.find("#rollback-button-staging").is_none(), "a viewer sees no rollback:\n{}", browser.source());
    let (status, body) = cluster.call_as(
        &viewer,
        "POST",
        "/api/v1/environments/staging/rollback",
        Some(json!({"reason": "I only watch"})),
    );
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{body}");
    assert_eq!(cluster.status()["active"]["version"], "v2");
    browser.sign_out();

    // The admin rolls back from the Environments page, with a reason, after confirming.
    browser.sign_in(&base, &cluster.token);
    assert_eq!(browser.text("#rollback-button-staging"), "Roll back to v1");
    // Open findings: the drift rules' verdict, as the API gives it.
    let drift = cluster.call("GET", "/api/v1/environments/staging/drift", None).1;
    let open = browser.text("#findings-staging");
    match drift["findings"].as_array().unwrap().first() {
        None => assert!(open.contains("None: what runs matches"), "{open}"),
        Some(finding) => assert!(open.contains(finding["rule"].as_str().unwrap()), "{open} / {drift:#}"),
    }
    browser.screenshots("environments-rollback");
    browser.check_accessibility();
    // Forged, or without a reason (the form requires one; the server too), nothing happens.
    let session = browser.command("GET", "/cookie/shipgate_session", None)["value"].as_str().unwrap().to_owned();
    let cookie = format!("shipgate_session={session}");
    let csrf = browser.script("return document.querySelector('input[name=csrf]').value;");
    let csrf = csrf.as_str().unwrap();
    let rollback_form = "/environments/staging/rollback";
    assert_eq!(post_form(cluster.api, rollback_form, Some(&cookie), "csrf=forged&reason=x"), 403);
    assert_eq!(post_form(cluster.api, rollback_form, Some(&cookie), &format!("csrf={csrf}&reason=+")), 303);
    assert_eq!(cluster.status()["active"]["version"], "v2");
    browser.type_into("#rollback-reason-staging", "v2 breaks the checkout");
    browser.click_and_confirm("#rollback-button-staging");
    browser.until_text("[role=status]", "back staging to v1");
    browser.until_text("#status", "succeeded");
    assert_eq!(cluster.status()["active"]["version"], "v1");
    let rollback = browser.text("h1").trim_start_matches("Deployment ").parse::<u64>().unwrap();
    let recorded = cluster.call("GET", &format!("/api/v1/deployments/{rollback}"), None).1;
    assert_eq!(
        (recorded["kind"].as_str(), recorded["version"].as_str()),
        (Some("rollback"), Some("v1")),
        "{recorded:#}"
    );
    // The reason is in the ledger's entry of the rollback.
    let path = format!("/api/v1/ledger?action=deployment.created&subject=deployment/{rollback}");
    let (status, created) = cluster.call_as(&viewer, "GET", &path, None);
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["entries"][0]["details"]["data"]["reason"], "v2 breaks the checkout", "{created:#}");

    // v3 fails analysis under load: its page shows the automated rollback as it happens.
    let load = start_load(cluster.listen, 2);
    let bad = cluster.deploy("v3");
    browser.go(&format!("{base}/deployments/{bad}"));
    browser.until_text("h1", &format!("Deployment {bad}"));
    browser.script("window.notReloaded = true;");
    let first = browser.text("#status");
    assert!(!first.contains("rolled_back"), "the page should open before the rollback, not after: {first}");
    browser.until_text_within("#status", "rolled_back", Duration::from_secs(90));
    assert_eq!(browser.script("return window.notReloaded === true;"), json!(true), "the page reloaded");
    assert!(browser.text("#live").contains("analysis failed"), "{}", browser.source());
    // The verdict and its evidence: the check that failed, with the figures of both versions.
    assert!(browser.text("#analysis-verdict").contains("fail"), "{}", browser.source());
    assert!(browser.find("#chart-errors polyline.series.new").is_some(), "{}", browser.source());
    assert!(browser.text("#analysis-checks").contains("error_rate"), "{}", browser.source());
    browser.screenshots("deployment-rolled-back");
    browser.check_accessibility();
    let (ok, failed) = load.finish();
    let unexpected: Vec<&String> = failed.iter().filter(|failure| failure.as_str() != "status 500").collect();
    assert!(unexpected.is_empty() && ok > 0, "{unexpected:?}");
    assert_eq!(cluster.outcome(bad)["status"], "rolled_back");

    // The Ledger page filters with its form, and by subject.
    browser.click("header nav a[href='/ledger']");
    browser.until_text("h1", "Audit ledger");
    browser.type_into("#filter-action", "token.*");
    browser.click("#filter-button");
    browser.until_text("#ledger-entries", "token.created");
    let tokens = browser.text("#ledger-entries");
    assert!(tokens.contains("token/") && !tokens.contains("deployment."), "{tokens}");
    browser.go(&format!("{base}/ledger?subject=deployment/{bad}#entries"));
    browser.screenshots("ledger-filtered");
    browser.check_accessibility();
    let entries = browser.text("#ledger-entries");
    assert!(entries.contains("deployment.created") && entries.contains("deployment.finished"), "{entries}");
    assert!(!entries.contains(&format!("deployment/{rollback}")), "only the subject asked for:\n{entries}");
    // Verify: the whole ledger checks out, and the page says so.
    browser.click("#verify-button");
    browser.until_text("#verification", "ok");
    let verdict = browser.text("#verification");
    let (_, api_verdict) = cluster.call_as(&viewer, "POST", "/api/v1/ledger/verify", None);
    assert_eq!(api_verdict["ok"], true, "{api_verdict:#}");
    let size = api_verdict["entries"].as_u64().unwrap();
    assert!(size > 20 && verdict.contains(&format!("{size} entries verified")), "{verdict} / {api_verdict}");
    browser.screenshots("ledger");

    // The checkpoint downloads with the session, and the CLI accepts it as kept elsewhere.
    assert!(browser.source().contains(r#"href="/ledger/checkpoint" id="checkpoint-link" download"#));
    let (status, head, note) = get_with_cookie(cluster.api, "/ledger/checkpoint", &cookie);
    assert_eq!(status, 200, "{head}\n{note}");
    assert!(head.contains("content-disposition: attachment; filename=\"shipgate-checkpoint-"), "{head}");
    let lines: Vec<&str> = note.lines().collect();
    assert!(lines[0].starts_with("shipgate/ledger/") && lines[1].parse::<u64>().unwrap() >= size, "{note}");
    assert!(lines.iter().any(|line| line.starts_with("— ")), "signed: {note}");
    let file = cluster.path("kept-checkpoint.txt");
    std::fs::write(&file, &note).unwrap();
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["audit", "verify", "--checkpoint"])
        .arg(&file)
        .arg("--data-dir")
        .arg(cluster.path("data"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && stderr.contains("1 given checkpoint"), "{stderr}");
    // Signed out, the download is the sign-in page's redirect, not the checkpoint.
    let (status, _, body) = get_with_cookie(cluster.api, "/ledger/checkpoint", "shipgate_session=forged");
    assert_eq!(status, 303, "{body}");

    // The API pages through the ledger newest first.
    let (status, page) = cluster.call_as(&viewer, "GET", "/api/v1/ledger?action=deployment.*&limit=2", None);
    assert_eq!(status, 200, "{page}");
    let seqs: Vec<u64> =
        page["entries"].as_array().unwrap().iter().map(|entry| entry["seq"].as_u64().unwrap()).collect();
    assert!(seqs.len() == 2 && seqs[0] > seqs[1] && page["next_before"] == seqs[1], "{page:#}");
    let next = format!("/api/v1/ledger?action=deployment.*&limit=2&before={}", seqs[1]);
    let older = cluster.call_as(&viewer, "GET", &next, None).1;
    assert!(older["entries"][0]["seq"].as_u64().unwrap() < seqs[1], "{older:#}");
    let (status, body) = cluster.call_as(&viewer, "GET", "/api/v1/ledger?limit=0", None);
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_request")), "{body}");
}

/// The ledger API alone, on PostgreSQL (every store call must leave the async threads there):
/// the store's indexed filter and the walk for a subject agree on order and pages, a token
/// scoped to another environment sees none of staging's entries, verification passes, and the
/// checkpoint is signed once and then served as stored while nothing new is recorded.
#[test]
fn the_ledger_api_filters_pages_scopes_verifies_and_signs_on_postgresql() {
    let Some(db) = common::TestDb::create("console_ledger") else { return };
    let cluster = Cluster::start(Some(db.url()), 0);
    cluster.release("v1", "", "");
    let id = cluster.deploy("v1");
    assert_eq!(cluster.outcome(id)["status"], "succeeded");
    let viewer = cluster.token("val", "viewer");
    let token = |request: Value| cluster.token_with(request)["token"].as_str().unwrap().to_owned();
    let scoped = token(json!({"name": "prod-only", "role": "viewer", "environments": ["production"]}));
    let flags = token(json!({"name": "flagd", "role": "flags", "environments": ["staging"]}));
    let entries = |token: &str, query: &str| -> Value {
        let (status, body) = cluster.call_as(token, "GET", &format!("/api/v1/ledger{query}"), None);
        assert_eq!(status, 200, "{query}: {body}");
        body
    };
    let seqs = |page: &Value| -> Vec<u64> {
        page["entries"].as_array().unwrap().iter().map(|entry| entry["seq"].as_u64().unwrap()).collect()
    };

    // By subject (walked), newest first, every entry about that deployment.
    let subject = entries(&viewer, &format!("?subject=deployment/{id}"));
    let actions: Vec<&str> =
        subject["entries"].as_array().unwrap().iter().map(|entry| entry["action"].as_str().unwrap()).collect();
    assert_eq!(actions.first(), Some(&"deployment.finished"), "{subject:#}");
    assert_eq!(actions.last(), Some(&"deployment.created"), "{subject:#}");
    assert!(subject["entries"].as_array().unwrap().iter().all(|entry| entry["subject"] == format!("deployment/{id}")));
    // By action (the store's query) in pages of 3, which the walk with `before` continues.
    let first = entries(&viewer, "?action=deployment.*&limit=3");
    let all = entries(&viewer, "?action=deployment.*");
    assert_eq!(seqs(&first), seqs(&all)[..3], "{first:#}");
    assert_eq!(first["next_before"], seqs(&first)[2]);
    let second = entries(&viewer, &format!("?action=deployment.*&limit=3&before={}", seqs(&first)[2]));
    assert_eq!(seqs(&second), seqs(&all)[3..6], "{second:#}");
    assert!(all["next_before"].is_null(), "one page holds them all: {all:#}");
    // A token scoped to production sees the entries about no environment, none of staging's.
    let everything = entries(&viewer, "");
    assert!(everything["entries"].as_array().unwrap().iter().any(|entry| entry["env"] == "staging"));
    let mine = entries(&scoped, "");
    let mine = mine["entries"].as_array().unwrap();
    assert!(!mine.is_empty() && mine.iter().all(|entry| entry["env"].is_null()), "{mine:#?}");
    // The flags role may not read the ledger.
    assert_eq!(cluster.call_as(&flags, "GET", "/api/v1/ledger", None).0, 403);

    let (status, verdict) = cluster.call_as(&viewer, "POST", "/api/v1/ledger/verify", None);
    assert_eq!((status, &verdict["ok"]), (200, &json!(true)), "{verdict:#}");
    assert_eq!(verdict["entries"], everything["entries"][0]["seq"], "every entry verified: {verdict:#}");

    let checkpoint = |token: &str| {
        let (status, text) =
            common::cluster::http(cluster.api, "GET", "/api/v1/ledger/checkpoint", Some(token), None).unwrap();
        assert_eq!(status, 200, "{text}");
        text
    };
    let signed = checkpoint(&viewer);
    assert_eq!(signed.lines().nth(1), Some(verdict["entries"].to_string().as_str()), "{signed}");
    assert_eq!(checkpoint(&viewer), signed, "served as stored while nothing new is recorded");
    let (_, verdict) = cluster.call_as(&viewer, "POST", "/api/v1/ledger/verify", None);
    assert_eq!(verdict["signed_entries"], verdict["entries"], "{verdict:#}");
}
