//! Setting up the sender from the configuration, and `swell send`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use swell_channels::{DkimKey, Mailbox, SmtpTransport};
use swell_core::email::Email;
use swell_engine::{Mailer, MailerConfig, Tokens, Transport};
use swell_store::Store;

use crate::config::{Config, parse_smtp_url};

/// `Name <address>` or a bare address.
pub fn parse_mailbox(s: &str) -> anyhow::Result<Mailbox> {
    let s = s.trim();
    Ok(match s.rsplit_once('<') {
        Some((name, addr)) => {
            let email = Email::parse(addr.trim_end_matches('>'))
                .map_err(|e| anyhow::anyhow!("from: {e}"))?;
            let name = name.trim().trim_matches('"');
            if name.is_empty() {
                Mailbox::address(email)
            } else {
                Mailbox::new(name, email)
            }
        }
        None => Mailbox::address(Email::parse(s).map_err(|e| anyhow::anyhow!("from: {e}"))?),
    })
}

/// The sender the configuration describes: SMTP relays when any are
/// configured, else the outbox.
pub async fn mailer(store: &Store, config: &Config, base_url: &str) -> anyhow::Result<Arc<Mailer>> {
    let mut servers = config.smtp.clone();
    if let Some(urls) = &config.smtp_url {
        for (i, url) in urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .enumerate()
        {
            servers.push(parse_smtp_url(url, i).map_err(anyhow::Error::msg)?);
        }
    }
    let transport = if servers.is_empty() {
        Transport::Outbox
    } else {
        let hello = config
            .dkim_domain
            .clone()
            .unwrap_or_else(|| "localhost".into());
        Transport::Smtp(Arc::new(
            SmtpTransport::new(servers, &hello).context("SMTP configuration")?,
        ))
    };
    let secret = match &config.secret {
        Some(s) => s.clone(),
        None => {
            store
                .setting_or_insert("tracking_secret", || {
                    use rand::RngCore;
                    let mut key = [0u8; 32];
                    rand::rng().fill_bytes(&mut key);
                    key.iter().map(|b| format!("{b:02x}")).collect()
                })
                .await?
        }
    };
    let mut cfg = MailerConfig::new(base_url, parse_mailbox(&config.from)?);
    cfg.concurrency = config.send_concurrency.max(1);
    if let Some(path) = &config.dkim_key {
        let (Some(selector), Some(domain)) = (&config.dkim_selector, &config.dkim_domain) else {
            bail!("dkim_key needs dkim_selector and dkim_domain");
        };
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading DKIM key {path}"))?;
        cfg.dkim = Some(Arc::new(
            DkimKey::from_pem(selector, domain, &pem)
                .map_err(|e| anyhow::anyhow!("DKIM key {path}: {e}"))?,
        ));
    }
    Ok(Mailer::new(
        store.clone(),
        transport,
        Tokens::new(secret.as_bytes()),
        cfg,
    ))
}

/// `swell send`: starts a broadcast (unless it has) and sends it to the
/// end with a progress bar.
pub async fn send(
    store: Store,
    config: &Config,
    workspace: &str,
    broadcast: i64,
) -> anyhow::Result<()> {
    let ws = store.ensure_workspace(workspace).await?;
    let base = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.bind));
    let mailer = mailer(&store, config, &base).await?;
    let b = store
        .broadcast(ws.id, broadcast)
        .await
        .with_context(|| format!("broadcast {broadcast} in workspace {workspace}"))?;
    if matches!(b.state.as_str(), "draft" | "scheduled") {
        store
            .start_broadcast(ws.id, broadcast, swell_engine::mailer::split_of(&b))
            .await?;
    }
    let total = store.broadcast(ws.id, broadcast).await?.recipients as u64;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} messages ({per_sec}, {eta} left) {msg}",
        )
        .expect("template"),
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(Arc::clone(&mailer).run(rx));
    loop {
        let states = store.message_states("broadcast", broadcast).await?;
        let done: i64 = ["sent", "failed", "skipped"]
            .iter()
            .map(|s| states.get(*s).copied().unwrap_or(0))
            .sum();
        bar.set_position(done as u64);
        let b = store.broadcast(ws.id, broadcast).await?;
        bar.set_message(b.state.clone());
        if !matches!(b.state.as_str(), "sending" | "scheduled") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bar.finish();
    let _ = tx.send(true);
    let _ = runner.await;
    let s = store.broadcast_stats(ws.id, broadcast, None).await?;
    println!(
        "broadcast {broadcast}: {} recipients, {} sent, {} failed, {} skipped",
        s.recipients, s.sent, s.failed, s.skipped
    );
    Ok(())
}
