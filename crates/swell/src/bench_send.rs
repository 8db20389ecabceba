//! `swell bench send`: a personalised ~5 KB HTML e-mail to N recipients
//! through SMTP to Postfix's `smtp-sink` on loopback, beside Postfix's
//! `smtp-source` pushing messages of the same size over the same number of
//! connections to the same sink in the same run: the raw ceiling.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::json;
use swell_channels::{Mailbox, SmtpServer, SmtpTransport, Tls};
use swell_core::email::Email;
use swell_engine::{Mailer, MailerConfig, Tokens, Transport};
use swell_store::Store;
use swell_store::consent::AudienceSpec;
use swell_store::mailing::NewBroadcast;

use crate::bench::peak_rss_mb;

/// A newsletter of about 5 KB once rendered.
fn newsletter() -> String {
    let mut html = String::from(
        "<html><head><style>body{font-family:Arial,sans-serif;color:#222} .card{border:1px solid #ddd;padding:12px;margin:8px 0} \
         h1{color:#b91c1c} a.btn{background:#b91c1c;color:#fff;padding:8px 16px;text-decoration:none}</style></head><body>\
         <h1>Chào {{ contact.given_name | default(\"bạn\") }}, Tết này có gì mới?</h1>",
    );
    for i in 1..=2 {
        html.push_str(&format!(
            "<div class=\"card\"><h2>Sản phẩm {i}: Áo dài lụa tơ tằm</h2><p>Chất liệu lụa tơ tằm Bảo Lộc, thêu tay hoa sen, \
             may đo theo số đo của {{{{ contact.name | default(\"quý khách\") }}}}. Giảm 30% đến hết tháng Giêng.</p>\
             <p><a class=\"btn\" href=\"https://shop.example.vn/san-pham/{i}\">Xem chi tiết</a></p></div>"
        ));
    }
    html.push_str("<p>Shop Áo Dài · 12 Lê Lợi, Quận 1, TP. Hồ Chí Minh · Bạn nhận thư này vì đã đăng ký nhận tin tại shop.example.vn.</p>");
    html.push_str("<p><a href=\"{{ unsubscribe_url }}\">Hủy đăng ký</a> · <a href=\"{{ view_in_browser_url }}\">Xem trên trình duyệt</a></p></body></html>");
    html
}

struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sink(port: u16) -> anyhow::Result<Sink> {
    let child = Command::new("/usr/sbin/smtp-sink")
        .args(["-u", "postfix", "-c", &format!("127.0.0.1:{port}"), "1024"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting /usr/sbin/smtp-sink (apt-get install postfix; see NOTES)")?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Sink(child));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    bail!("smtp-sink did not start on port {port}")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub async fn run(recipients: u64, connections: usize, raw_messages: u64) -> anyhow::Result<()> {
    let port = free_port()?;
    let _sink = start_sink(port)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("send.db").display().to_string();
    let store = Store::open(&db).await?;
    let ws = store.ensure_workspace("bench").await?;

    // Recipients, made inside the database.
    let started = Instant::now();
    swell_store::bench::generate_contacts(&store, ws.id, recipients).await?;
    eprintln!(
        "{recipients} contacts in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let content = json!({"subject": "{{ contact.given_name | default(\"Bạn\") }} ơi, ưu đãi Tết đã về", "preheader": "Giảm 30% áo dài lụa", "html": newsletter()});
    let t = store
        .put_template(ws.id, None, "Tết", "email", &content)
        .await?;
    let b = store
        .create_broadcast(
            ws.id,
            &NewBroadcast {
                marketing_campaign_id: None,
                name: "Bench".into(),
                template_id: t.id,
                audience: AudienceSpec {
                    filter: Some(swell_core::filter::Filter::parse("email is set")?),
                    ..Default::default()
                },
                sender: json!({}),
                send_at: None,
                local_time: None,
                ab: None,
            },
        )
        .await?;
    let server = SmtpServer {
        name: "smtp-sink".into(),
        host: "127.0.0.1".into(),
        port,
        tls: Tls::None,
        accept_invalid_certs: false,
        username: None,
        password: None,
        weight: 1,
        max_connections: connections as u32,
        rate_per_second: None,
    };
    let transport = Transport::Smtp(Arc::new(SmtpTransport::new(
        vec![server],
        "bench.swell.test",
    )?));
    let mut cfg = MailerConfig::new(
        "http://127.0.0.1:8080",
        Mailbox::new(
            "Shop Áo Dài",
            Email::parse("news@shop.example.vn").map_err(anyhow::Error::msg)?,
        ),
    );
    cfg.concurrency = connections;
    cfg.batch = 1000;
    let mailer = Mailer::new(store.clone(), transport, Tokens::new(b"bench key"), cfg);

    let started = Instant::now();
    store.start_broadcast(ws.id, b.id, None).await?;
    mailer.send_broadcast(ws.id, b.id).await?;
    let secs = started.elapsed().as_secs_f64();
    let stats = store.broadcast_stats(ws.id, b.id, None).await?;
    if stats.sent as u64 != recipients {
        bail!("sent {} of {recipients}: {stats:?}", stats.sent);
    }
    let swell_rate = recipients as f64 / secs;
    let rss = peak_rss_mb();

    // The size of one real message, for the raw run: the first
    // recipient's (a fresh database numbers messages from 1).
    let size = mailer.broadcast_message(ws.id, b.id, 1).await?.len();
    let started = Instant::now();
    let status = Command::new("/usr/sbin/smtp-source")
        .args([
            "-s",
            &connections.to_string(),
            "-m",
            &raw_messages.to_string(),
            "-l",
            &size.to_string(),
            "-d",
            "-f",
            "a@x.test",
            "-t",
            "b@y.test",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .status()
        .context("running /usr/sbin/smtp-source")?;
    if !status.success() {
        bail!("smtp-source failed: {status}");
    }
    let raw_rate = raw_messages as f64 / started.elapsed().as_secs_f64();
    println!();
    println!(
        "swell bench send: {recipients} recipients, messages of {size} bytes, {connections} SMTP connections"
    );
    println!("| sender                          | messages/s | ratio |");
    println!("|---------------------------------|-----------:|------:|");
    println!("| smtp-source (raw ceiling)       | {raw_rate:>10.0} |  1.00 |");
    println!(
        "| swell (render, sign, send, log) | {swell_rate:>10.0} | {:>5.2} |",
        swell_rate / raw_rate
    );
    println!("peak RSS {rss:.0} MB; {} sent in {secs:.1}s", stats.sent);
    store.close().await;
    Ok(())
}
