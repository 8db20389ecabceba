//! Configuration: defaults, then an optional TOML file, then `SWELL_*`
//! environment variables, then command-line flags, each overriding the one
//! before.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// The database: a SQLite file path (created if missing, WAL mode) or a
    /// `postgres://` URL.
    pub db: String,
    /// Where `serve` listens.
    pub bind: String,
    /// Log filter, e.g. `info` or `swell=debug,tower_http=info`.
    pub log: String,
    /// The public address of this server, which tracking links and
    /// unsubscribe pages use (default: `http://` + bind).
    pub base_url: Option<String>,
    /// The sender of messages that name none: `Name <address>`.
    pub from: String,
    /// SMTP relays as `[[smtp]]` tables (name, host, port, tls, username,
    /// password, weight, max_connections, rate_per_second).
    #[serde(default)]
    pub smtp: Vec<swell_channels::SmtpServer>,
    /// SMTP relays as URLs, comma-separated, for the environment and flags:
    /// `smtp://user:pass@host:587?tls=starttls&weight=2&connections=8&rate=50`.
    /// With no relay at all, messages go to the built-in outbox.
    pub smtp_url: Option<String>,
    /// The key that signs tracking links (default: one made on first start
    /// and kept in the database).
    pub secret: Option<String>,
    /// DKIM: a PEM private key file, its selector and domain.
    pub dkim_key: Option<String>,
    pub dkim_selector: Option<String>,
    pub dkim_domain: Option<String>,
    /// Messages in flight at once (SMTP connections in use).
    pub send_concurrency: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db: "./swell.db".into(),
            bind: "127.0.0.1:8080".into(),
            log: "info".into(),
            base_url: None,
            from: "Swell <no-reply@swell.local>".into(),
            smtp: Vec::new(),
            smtp_url: None,
            secret: None,
            dkim_key: None,
            dkim_selector: None,
            dkim_domain: None,
            send_concurrency: 8,
        }
    }
}

/// Flags that override the file and environment when given.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_url: Option<String>,
}

impl Config {
    /// Loads the layers. The file is `--config PATH`, else `SWELL_CONFIG`,
    /// else `./swell.toml` when it exists.
    pub fn load(file: Option<&str>, overrides: Overrides) -> Result<Config, figment::Error> {
        let path = file
            .map(str::to_string)
            .or_else(|| std::env::var("SWELL_CONFIG").ok());
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match &path {
            Some(p) => {
                if !std::path::Path::new(p).exists() {
                    return Err(figment::Error::from(format!(
                        "config file {p} does not exist"
                    )));
                }
                fig = fig.merge(Toml::file(p));
            }
            None => fig = fig.merge(Toml::file("swell.toml")),
        }
        fig.merge(Env::prefixed("SWELL_").ignore(&["config"]))
            .merge(Serialized::defaults(overrides))
            .extract()
    }
}

/// Reads `smtp://[user:pass@]host[:port][?tls=none|starttls|tls&weight=N&connections=N&rate=N&insecure=1]`
/// (`smtps://` means TLS from the first byte).
pub fn parse_smtp_url(url: &str, index: usize) -> Result<swell_channels::SmtpServer, String> {
    use swell_channels::{Tls, smtp::Password};
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url}: not an smtp:// URL"))?;
    let mut tls = match scheme {
        "smtp" => Tls::StartTls,
        "smtps" => Tls::Tls,
        _ => return Err(format!("{url}: the scheme must be smtp or smtps")),
    };
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.trim_end_matches('/');
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse::<u16>()
                .map_err(|_| format!("{url}: bad port {p}"))?,
        ),
        None => (
            hostport.to_string(),
            if tls == Tls::Tls { 465 } else { 587 },
        ),
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let (username, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (Some(n.to_string()), Some(Password::new(p))),
            None => (Some(u.to_string()), None),
        },
        None => (None, None),
    };
    let mut server = swell_channels::SmtpServer {
        name: format!("smtp{}-{host}", index + 1),
        host,
        port,
        tls,
        accept_invalid_certs: false,
        username,
        password,
        weight: 1,
        max_connections: 8,
        rate_per_second: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let num = || {
            v.parse::<u32>()
                .map_err(|_| format!("{url}: {k} must be a number"))
        };
        match k {
            "tls" => {
                tls = match v {
                    "none" => Tls::None,
                    "starttls" => Tls::StartTls,
                    "tls" => Tls::Tls,
                    _ => return Err(format!("{url}: tls must be none, starttls or tls")),
                };
                server.tls = tls;
            }
            "weight" => server.weight = num()?,
            "connections" => server.max_connections = num()?,
            "rate" => server.rate_per_second = Some(num()?),
            "insecure" => server.accept_invalid_certs = v != "0",
            "name" => server.name = v.to_string(),
            _ => return Err(format!("{url}: unknown parameter {k}")),
        }
    }
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_read_host_port_credentials_and_options() {
        let s = parse_smtp_url(
            "smtp://u:p%@127.0.0.1:2525?tls=none&weight=3&connections=2&rate=10",
            0,
        )
        .unwrap();
        assert_eq!(
            (
                s.host.as_str(),
                s.port,
                s.weight,
                s.max_connections,
                s.rate_per_second
            ),
            ("127.0.0.1", 2525, 3, 2, Some(10))
        );
        assert_eq!(s.tls, swell_channels::Tls::None);
        assert_eq!(s.username.as_deref(), Some("u"));
        assert_eq!(s.password.unwrap().expose(), "p%");
        assert_eq!(
            parse_smtp_url("smtps://mail.example.com", 1).unwrap().port,
            465
        );
        assert!(parse_smtp_url("http://x", 0).is_err());
        assert!(
            parse_smtp_url("smtp://x?bogus=1", 0)
                .unwrap_err()
                .contains("bogus")
        );
    }
}
