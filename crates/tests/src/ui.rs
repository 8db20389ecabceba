//! Signing in to the web app over plain HTTP: users with passwords and
//! sessions as a browser holds them (the cookie and the CSRF token).

use crate::TestApp;

/// A signed-in browser's credentials.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl TestApp {
    /// Creates a user of the test workspace with a password; returns the
    /// e-mail and the password.
    pub async fn create_user(&self, role: &str) -> (String, String) {
        let email = format!("{role}-{}@shop.test", rand::random::<u32>());
        let password = format!("pw-{}-long-enough", rand::random::<u32>());
        let phc = swell_store::access::hash_password(&password);
        self.store()
            .create_user_with_password(
                self.workspace.id,
                &format!("Người {role}"),
                &email,
                role,
                &phc,
            )
            .await
            .expect("create user");
        (email, password)
    }

    /// The sign-in form's token and cookie, as a browser gets them.
    pub async fn login_form(&self) -> (String, String) {
        let resp = self
            .client
            .get(self.url("/login"))
            .send()
            .await
            .expect("login page");
        let cookie = set_cookie(&resp, "swell_login").expect("login cookie");
        let html = resp.text().await.expect("body");
        (cookie, hidden_value(&html, "_csrf").expect("form token"))
    }

    /// Posts the sign-in form; returns the response.
    pub async fn post_login(&self, email: &str, password: &str) -> reqwest::Response {
        let (cookie, csrf) = self.login_form().await;
        self.client
            .post(self.url("/login"))
            .header("cookie", format!("swell_login={cookie}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[
                ("email", email),
                ("password", password),
                ("_csrf", &csrf),
                ("next", "/"),
            ]))
            .send()
            .await
            .expect("sign in")
    }

    /// Signs in and returns the session.
    pub async fn sign_in(&self, email: &str, password: &str) -> Session {
        let resp = self.post_login(email, password).await;
        assert_eq!(resp.status().as_u16(), 303, "sign-in should redirect");
        let cookie = set_cookie(&resp, "swell_session").expect("session cookie");
        let page = self
            .ui_get(
                &Session {
                    cookie: cookie.clone(),
                    csrf: String::new(),
                },
                "/",
            )
            .await;
        assert_eq!(page.0, 200, "the dashboard after signing in: {}", page.1);
        let csrf = meta_value(&page.1, "csrf-token").expect("csrf meta");
        Session { cookie, csrf }
    }

    /// A new user of `role`, signed in.
    pub async fn signed_in(&self, role: &str) -> Session {
        let (email, password) = self.create_user(role).await;
        self.sign_in(&email, &password).await
    }

    /// GET with a session: status and body.
    pub async fn ui_get(&self, s: &Session, path: &str) -> (u16, String) {
        let resp = self
            .client
            .get(self.url(path))
            .header("cookie", format!("swell_session={}", s.cookie))
            .send()
            .await
            .expect("request");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    }

    /// GET with a session in a language (the `swell_lang` cookie): the
    /// body.
    pub async fn ui_get_lang(&self, s: &Session, path: &str, lang: &str) -> String {
        self.client
            .get(self.url(path))
            .header(
                "cookie",
                format!("swell_session={}; swell_lang={lang}", s.cookie),
            )
            .send()
            .await
            .expect("request")
            .text()
            .await
            .unwrap_or_default()
    }

    /// POSTs a form with a session; `csrf` adds the session's token.
    pub async fn ui_post(
        &self,
        s: &Session,
        path: &str,
        fields: &[(&str, &str)],
        csrf: bool,
    ) -> (u16, String) {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if csrf {
            form.push(("_csrf", &s.csrf));
        }
        let resp = self
            .client
            .post(self.url(path))
            .header("cookie", format!("swell_session={}", s.cookie))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&form))
            .send()
            .await
            .expect("request");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    }
}

impl TestApp {
    /// Calls the JSON API as the app's scripts do: the session cookie and,
    /// with `csrf`, the `X-CSRF-Token` header. Returns the status and the
    /// JSON body (null when there is none).
    pub async fn ui_api(
        &self,
        s: &Session,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
        csrf: bool,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("cookie", format!("swell_session={}", s.cookie))
            .json(&body);
        if csrf {
            req = req.header("x-csrf-token", &s.csrf);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    }
}

/// A cookie's value from a response's `Set-Cookie` headers.
pub fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (k, val) = first.split_once('=')?;
            (k.trim() == name && !val.is_empty()).then(|| val.to_string())
        })
}

/// The whole `Set-Cookie` line of a cookie (to check its attributes).
pub fn set_cookie_line(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let rest = &html[at..];
    let v = rest.find(attr)? + attr.len();
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_string())
}

/// The value of a hidden input named `name`.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    attr_after(html, &format!("name=\"{name}\""), "value=\"")
}

/// The content of a `<meta name="...">`.
pub fn meta_value(html: &str, name: &str) -> Option<String> {
    attr_after(html, &format!("<meta name=\"{name}\""), "content=\"")
}

/// A urlencoded form body.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}
