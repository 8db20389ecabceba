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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db: "./swell.db".into(),
            bind: "127.0.0.1:8080".into(),
            log: "info".into(),
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
