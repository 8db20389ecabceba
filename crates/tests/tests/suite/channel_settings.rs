//! The SMS and Zalo ZNS providers, set by an admin from the settings page's
//! forms: a preset with its token, kept but never shown again (not on the
//! page, not in the API, not in the audit log), kept again when the form is
//! saved with the token left blank; problems named beside the form with
//! nothing stored; admins only. On both backends.

use reqwest::Method;
use serde_json::{Value, json};
use swell_channels::http::SECRET_MASK;
use swell_tests::ui::Session;
use swell_tests::{TestApp, app_test};

const ZALO_TOKEN: &str = "zalo-oa-token-8f3kq0";
const SMS_TOKEN: &str = "sk_live_77aa19";

/// The stored setting of `channel`, secrets and all.
async fn stored(app: &TestApp, channel: &str) -> Option<(Value, f64, String)> {
    app.store()
        .channel_settings(app.workspace.id)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.channel == channel)
        .map(|s| (s.config, s.unit_cost, s.currency))
}

async fn save(app: &TestApp, s: &Session, fields: &[(&str, &str)]) -> (u16, String) {
    app.ui_post(s, "/settings/channels", fields, true).await
}

/// The part of a page from the element with `id` to the end of its form.
fn form_part<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {page}"));
    let rest = &page[start..];
    &rest[..rest.find("</form>").unwrap_or(rest.len())]
}

app_test!(
    async fn a_zalo_provider_keeps_its_token_and_never_shows_it(app: &TestApp) {
        let admin = app.signed_in("admin").await;

        let (status, body) = save(
            app,
            &admin,
            &[
                ("channel", "zalo"),
                ("preset", "zalo_zns"),
                ("access_token", ZALO_TOKEN),
                ("unit_cost", "300"),
                ("currency", "VND"),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (config, unit_cost, currency) = stored(app, "zalo").await.expect("stored");
        assert_eq!(config["headers"]["access_token"], ZALO_TOKEN);
        assert_eq!(
            config["url"],
            "https://business.openapi.zalo.me/message/template"
        );
        assert_eq!((unit_cost, currency.as_str()), (300.0, "VND"));
        assert_eq!(config["unit_cost"], 300.0, "the provider's own cost agrees");

        // The page shows the provider and that a token is set, not the token.
        let (status, page) = app.ui_get(&admin, "/settings").await;
        assert_eq!(status, 200);
        let row = form_part(&page, "channel-row-zalo");
        for shown in [
            "Zalo ZNS",
            "business.openapi.zalo.me",
            "access_token: ••••••",
            "300 VND",
        ] {
            assert!(row.contains(shown), "{shown} in {row}");
        }
        assert!(!page.contains(ZALO_TOKEN), "the token on the page");
        let form = form_part(&page, "channel-zalo-form");
        assert!(
            form.contains("value=\"zalo_zns\" selected") && form.contains("giữ nguyên"),
            "the form says a blank token keeps the stored one: {form}"
        );

        // Nor does the API, to a key or to the app's session.
        let list = app.get("/api/v1/channels").await;
        assert_eq!(list.status, 200, "{}", list.text);
        assert!(!list.text.contains(ZALO_TOKEN), "{}", list.text);
        let zalo = list.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["channel"] == "zalo")
            .unwrap()
            .clone();
        assert_eq!(zalo["config"]["headers"]["access_token"], SECRET_MASK);
        let (status, seen) = app
            .ui_api(&admin, Method::GET, "/api/v1/channels", Value::Null, false)
            .await;
        assert_eq!(status, 200);
        assert!(!seen.to_string().contains(ZALO_TOKEN), "{seen}");

        // Saved again with the token left blank: the token stays.
        let (status, body) = save(
            app,
            &admin,
            &[
                ("channel", "zalo"),
                ("preset", "zalo_zns"),
                ("access_token", ""),
                ("unit_cost", "350"),
                ("currency", "VND"),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (config, unit_cost, _) = stored(app, "zalo").await.unwrap();
        assert_eq!(config["headers"]["access_token"], ZALO_TOKEN);
        assert_eq!(unit_cost, 350.0);

        // What the API shows, put back as it is (here by the app's own
        // session), keeps the token too; the answer masks it.
        let (status, answer) = app
            .ui_api(
                &admin,
                Method::PUT,
                "/api/v1/channels/zalo",
                json!({"provider": zalo["config"], "unit_cost": 400, "currency": "VND"}),
                true,
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert!(!answer.to_string().contains(ZALO_TOKEN), "{answer}");
        assert_eq!(answer["config"]["headers"]["access_token"], SECRET_MASK);
        let (config, unit_cost, _) = stored(app, "zalo").await.unwrap();
        assert_eq!(config["headers"]["access_token"], ZALO_TOKEN);
        assert_eq!(unit_cost, 400.0);

        // The custom form shows the stored JSON with the token masked; saved
        // with one more header, the masked token stays.
        let (_, page) = app.ui_get(&admin, "/settings").await;
        let form = form_part(&page, "channel-zalo-form");
        assert!(
            form.contains(SECRET_MASK) && !form.contains(ZALO_TOKEN),
            "{form}"
        );
        let mut custom = zalo["config"].clone();
        custom["headers"]["X-Shop-Key"] = json!("shop-key-5521");
        let (status, body) = save(
            app,
            &admin,
            &[
                ("channel", "zalo"),
                ("preset", "custom"),
                ("provider", &custom.to_string()),
                ("unit_cost", "400"),
                ("currency", "VND"),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (config, _, _) = stored(app, "zalo").await.unwrap();
        assert_eq!(config["headers"]["access_token"], ZALO_TOKEN);
        assert_eq!(config["headers"]["X-Shop-Key"], "shop-key-5521");
        let (_, page) = app.ui_get(&admin, "/settings").await;
        let row = form_part(&page, "channel-row-zalo");
        assert!(
            row.contains("Tuỳ chỉnh") && row.contains("X-Shop-Key: ••••••"),
            "{row}"
        );
        assert!(!page.contains("shop-key-5521") && !page.contains(ZALO_TOKEN));

        // The audit log records the changes without the tokens.
        let (status, audit) = app.ui_get(&admin, "/audit").await;
        assert_eq!(status, 200);
        assert!(
            audit.contains("/settings/channels") && audit.contains("api:channels"),
            "the changes are logged: {audit}"
        );
        assert!(!audit.contains(ZALO_TOKEN), "the token in the audit log");
        assert!(
            !audit.contains("shop-key-5521"),
            "a custom header in the audit log"
        );
    }
);

app_test!(
    async fn a_bad_sms_gateway_url_is_named_beside_the_form_and_nothing_is_stored(app: &TestApp) {
        let admin = app.signed_in("admin").await;
        let sms = |url: &'static str, token: &'static str| {
            vec![
                ("channel", "sms"),
                ("preset", "sms_gateway"),
                ("url", url),
                ("token", token),
                ("sender", "SHOPVN"),
                ("unit_cost", "750"),
                ("currency", "VND"),
            ]
        };

        let (status, page) = save(app, &admin, &sms("sms.example.vn/send", SMS_TOKEN)).await;
        assert_eq!(status, 200, "the page again, with the problem");
        let form = form_part(&page, "channel-sms-form");
        let error = form_part(form, "channel-sms-error");
        assert!(
            error.contains("url: ")
                && error.contains("sms.example.vn/send")
                && error.contains("is not a URL"),
            "{error}"
        );
        assert!(
            form.contains("value=\"sms.example.vn/send\""),
            "what was typed stays: {form}"
        );
        assert!(!page.contains(SMS_TOKEN), "a typed token is not echoed");
        assert_eq!(stored(app, "sms").await, None);

        // A gateway without a token, none stored yet: the token is named.
        let (status, page) =
            save(app, &admin, &sms("https://sms.example.vn/v1/messages", "")).await;
        assert_eq!(status, 200);
        assert!(
            form_part(&page, "channel-sms-error").contains("token: is required"),
            "{page}"
        );
        assert_eq!(stored(app, "sms").await, None);

        // A bad currency is named too.
        let mut dong = sms("https://sms.example.vn/v1/messages", SMS_TOKEN);
        dong.retain(|(k, _)| *k != "currency");
        dong.push(("currency", "dong"));
        let (status, page) = save(app, &admin, &dong).await;
        assert_eq!(status, 200);
        assert!(
            form_part(&page, "channel-sms-error").contains("currency:"),
            "{page}"
        );
        assert_eq!(stored(app, "sms").await, None);

        // Right, it is stored, with the sender.
        let (status, body) = save(
            app,
            &admin,
            &sms("https://sms.example.vn/v1/messages", SMS_TOKEN),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (config, unit_cost, _) = stored(app, "sms").await.unwrap();
        assert_eq!(
            config["headers"]["Authorization"],
            format!("Bearer {SMS_TOKEN}")
        );
        assert_eq!(config["url"], "https://sms.example.vn/v1/messages");
        assert_eq!(config["sender"], "SHOPVN");
        assert_eq!(unit_cost, 750.0);
        let (_, page) = app.ui_get(&admin, "/settings").await;
        let row = form_part(&page, "channel-row-sms");
        assert!(
            row.contains("SHOPVN") && row.contains("Authorization: ••••••"),
            "{row}"
        );
        assert!(!page.contains(SMS_TOKEN));
    }
);

app_test!(
    async fn only_admins_set_channel_providers(app: &TestApp) {
        let zalo = [
            ("channel", "zalo"),
            ("preset", "zalo_zns"),
            ("access_token", ZALO_TOKEN),
            ("unit_cost", "300"),
        ];
        for role in ["marketer", "sales"] {
            let s = app.signed_in(role).await;
            let (status, _) = save(app, &s, &zalo).await;
            assert_eq!(status, 403, "{role} posting the form");
            let (status, _) = app
                .ui_api(
                    &s,
                    Method::PUT,
                    "/api/v1/channels/zalo",
                    json!({"provider": {"url": "https://business.openapi.zalo.me/message/template",
                                        "body": "{{ to | tojson }}"}}),
                    true,
                )
                .await;
            assert_eq!(status, 403, "{role} through the API");
        }
        assert_eq!(stored(app, "zalo").await, None);

        // The cost of e-mail, from its own small form.
        let admin = app.signed_in("admin").await;
        let (status, body) = save(
            app,
            &admin,
            &[
                ("channel", "email"),
                ("unit_cost", "12.5"),
                ("currency", "VND"),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (_, unit_cost, currency) = stored(app, "email").await.unwrap();
        assert_eq!((unit_cost, currency.as_str()), (12.5, "VND"));
    }
);
