//! People who sign in to the web app: `swell user create` and the demo's
//! users.

use anyhow::{Context, bail};
use rand::Rng;
use swell_store::{Store, WorkspaceId};

/// Creates a user with a password (generated when not given); returns the
/// password.
pub async fn create(
    store: &Store,
    ws: WorkspaceId,
    name: &str,
    email: &str,
    role: &str,
    password: Option<&str>,
) -> anyhow::Result<String> {
    if swell_web::ui::Role::parse(role).is_none() {
        bail!("--role: '{role}' is not a role (admin, marketer, sales)");
    }
    swell_core::email::Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    if name.trim().is_empty() {
        bail!("--name: is empty");
    }
    let password = match password {
        Some(p) => p.to_string(),
        None => generate_password(),
    };
    swell_store::access::check_password(&password).map_err(|r| anyhow::anyhow!("password: {r}"))?;
    let phc = swell_store::access::hash_password(&password);
    store
        .create_user_with_password(ws, name, email, role, &phc)
        .await
        .with_context(|| format!("cannot create user {email}"))?;
    Ok(password)
}

/// The demo's users, one per role, with fresh passwords each run (their
/// earlier sessions end): `(role, email, password)`.
pub async fn demo(store: &Store, ws: WorkspaceId) -> anyhow::Result<Vec<(String, String, String)>> {
    let people = [
        ("admin", "admin@demo.swell.test", "Quản trị Demo"),
        ("marketer", "marketing@demo.swell.test", "Lê Thu Marketing"),
        ("sales", "sales@demo.swell.test", "Trần Văn Kinh Doanh"),
    ];
    let mut out = Vec::new();
    for (role, email, name) in people {
        let password = generate_password();
        match store.credentials(email).await? {
            Some(c) => {
                let phc = swell_store::access::hash_password(&password);
                store
                    .set_password_hash(c.workspace_id, c.user_id, &phc)
                    .await?;
            }
            None => {
                create(store, ws, name, email, role, Some(&password)).await?;
            }
        }
        out.push((role.to_string(), email.to_string(), password));
    }
    Ok(out)
}

/// Twelve letters and digits without look-alikes (no 0/O, 1/l/I).
fn generate_password() -> String {
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}
