//! A real browser for the web app's tests: Debian's headless Chromium
//! driven through `chromedriver`, which the test starts on a free
//! loopback port, against a [`TestApp`](crate::TestApp) on 127.0.0.1.
//! Screenshots go to `target/ui-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use thirtyfour::prelude::*;

/// Where chromedriver and Chromium are on Debian (`apt-get install
/// chromium chromium-driver`; scripts/test.sh installs them).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a step waits for the page to show what it expects.
const PATIENCE: Duration = Duration::from_secs(15);

pub struct Browser {
    pub driver: WebDriver,
    base: String,
    chromedriver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The folder screenshots are saved in: `target/ui-screenshots/` of the
/// workspace (or of `CARGO_TARGET_DIR`'s parent workspace).
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

impl Browser {
    /// Starts chromedriver and a headless Chromium for the app at `base`
    /// (`http://127.0.0.1:PORT`).
    pub async fn start(base: &str) -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver \
             (scripts/test.sh installs them: apt-get install chromium chromium-driver)"
        );
        let port = free_port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile folder");
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).expect("binary");
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            "--lang=vi-VN",
        ] {
            caps.add_arg(arg).expect("argument");
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
            .expect("argument");
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen.
        let mut last = None;
        let mut driver = None;
        for _ in 0..50 {
            match WebDriver::new(&url, caps.clone()).await {
                Ok(d) => {
                    driver = Some(d);
                    break;
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        let driver = driver.unwrap_or_else(|| panic!("chromedriver did not start: {last:?}"));
        Browser {
            driver,
            base: base.trim_end_matches('/').to_string(),
            chromedriver,
            _profile: profile,
        }
    }

    /// Opens a path of the app.
    pub async fn open(&self, path: &str) {
        self.driver
            .goto(format!("{}{}", self.base, path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The path (and query) the browser is on.
    pub async fn path(&self) -> String {
        let url = self.driver.current_url().await.expect("current url");
        let mut p = url.path().to_string();
        if let Some(q) = url.query() {
            p.push('?');
            p.push_str(q);
        }
        p
    }

    /// The element a CSS selector finds, waiting for it to appear.
    pub async fn find(&self, css: &str) -> WebElement {
        self.driver
            .query(By::Css(css))
            .wait(PATIENCE, Duration::from_millis(100))
            .first()
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// Picks the option with `value` in the select at `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        thirtyfour::components::SelectElement::new(&self.find(css).await)
            .await
            .unwrap_or_else(|e| panic!("{css} is not a select: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("{css} = {value}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks something that reloads the page (a form with
    /// `data-reload`) and waits for the new page, so that what is read
    /// next is not the old page's.
    pub async fn click_and_reload(&self, css: &str) {
        self.driver
            .execute("window.__swellOldPage = true;", vec![])
            .await
            .expect("mark the page");
        self.click(css).await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let old = self
                .driver
                .execute("return window.__swellOldPage === true;", vec![])
                .await
                .ok()
                .and_then(|r| r.json().as_bool());
            if old == Some(false) && self.driver.find(By::Css("body")).await.is_ok() {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                self.screenshot("failed-reload").await;
                panic!("clicking {css} never reloaded the page");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Waits until the element's text satisfies `ok`, and returns it.
    pub async fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let t = match self.driver.find(By::Css(css)).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if ok(&t) {
                return t;
            }
            if tokio::time::Instant::now() > deadline {
                self.screenshot("failed-wait").await;
                panic!("{css} never showed what was expected; last text {t:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the browser is on a path that starts with `prefix`.
    pub async fn wait_path(&self, prefix: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let p = self.path().await;
            if p.starts_with(prefix) {
                return p;
            }
            if tokio::time::Instant::now() > deadline {
                self.screenshot("failed-path").await;
                panic!("never reached {prefix}; on {p}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's visible text.
    pub async fn body_text(&self) -> String {
        self.text("body").await
    }

    /// Signs in through the form and waits for the dashboard.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.open("/login").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("#sign-in").await;
        self.find("header.top").await;
    }

    /// Saves a screenshot as `target/ui-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        let path = screenshot_dir().join(format!("{name}.png"));
        if let Err(e) = self.driver.screenshot(&path).await {
            eprintln!("screenshot {name} failed: {e}");
        }
    }

    /// Sets the window's size (a phone is 390 x 844).
    pub async fn resize(&self, width: u32, height: u32) {
        self.driver
            .set_window_rect(0, 0, width, height)
            .await
            .expect("resize");
    }

    pub async fn quit(mut self) {
        let driver = self.driver.clone();
        let _ = driver.quit().await;
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}
