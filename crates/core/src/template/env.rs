//! The sandboxed MiniJinja environment every Swell template renders in, and
//! the filters marketers get on top of MiniJinja's built-ins.

use std::borrow::Cow;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};

/// Work one render may do, in MiniJinja fuel (about one instruction, or 64
/// bytes of data, per unit).
///
/// A large marketing email with a product loop uses a few thousand; the
/// budget leaves ample headroom while bounding a runaway loop to a few
/// milliseconds and roughly 12 MB, so one bad template cannot stall a
/// broadcast or exhaust memory.
pub const FUEL_PER_RENDER: u64 = 200_000;

/// The name under which the HTML part is registered: the only template
/// rendered with HTML auto-escaping.
pub(crate) const HTML: &str = "html";

/// Marks a place in rendered output that is filled in after rendering (a
/// tracked link, the preheader). Data cannot fake one: the formatter strips
/// it from every printed value not marked safe.
pub(crate) const MARK: char = '\u{1A}';

/// A fresh environment with Swell's settings.
///
/// - **Sandboxed:** no loader, so a template cannot read files or include
///   anything but the parts compiled beside it; fuel ([`FUEL_PER_RENDER`])
///   bounds every render, so `{% for %}` over a huge range fails instead of
///   hanging a worker.
/// - **Forgiving about data, strict at save time:** undefined values are
///   chainable (`contact.attr.tier` renders empty when a contact has no
///   attributes) and `none` prints as nothing, so one incomplete contact
///   never fails a broadcast; misspelt variables are caught when the template
///   is saved, by [`super::VariableSchema`].
/// - **Escaping:** only the template named `html` auto-escapes HTML (see
///   `escape_html` for how); subject, text, SMS and ZNS output is plain
///   text.
/// - **Filters:** MiniJinja's built-ins (`upper`, `lower`, `title`,
///   `capitalize`, `replace`, `round`, `join`, ...) plus `default` (treats
///   `none` and empty text as missing), `truncate`, `vnd` and `date`.
pub fn environment<'source>() -> Environment<'source> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL_PER_RENDER));
    // Debug mode copies the template source into every error: costly, and
    // our errors carry line and column themselves.
    env.set_debug(false);
    env.set_auto_escape_callback(|name| {
        if name == HTML {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(|out, state, value| {
        if value.is_none() || value.is_undefined() {
            return Ok(());
        }
        if value.is_safe() {
            // Includes the link filter's marks, which must pass.
            return minijinja::escape_formatter(out, state, value);
        }
        let owned;
        let text = match value.as_str() {
            Some(s) => s,
            None => {
                owned = value.to_string();
                &owned
            }
        };
        // Data cannot fake a mark.
        let text = if text.contains(MARK) {
            Cow::Owned(text.replace(MARK, ""))
        } else {
            Cow::Borrowed(text)
        };
        match state.auto_escape() {
            AutoEscape::Html => out.write_str(&escape_html(&text))?,
            _ => out.write_str(&text)?,
        }
        Ok(())
    });
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("truncate", truncate);
    env.add_filter("vnd", vnd);
    env.add_filter("date", date);
    env
}

/// Escapes text for HTML content and attribute values.
///
/// Unlike MiniJinja's own escaping, `/` is left alone: `https:&#x2f;&#x2f;`
/// is valid HTML, but a URL written with character references looks like
/// obfuscation to spam filters.
pub(crate) fn escape_html(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Names the environment defines itself (`range`, `dict`, ...): never
/// reported as unknown variables.
pub(crate) fn global_names(env: &Environment<'_>) -> Vec<String> {
    env.globals().map(|(name, _)| name.to_string()).collect()
}

/// Whether a value counts as missing for `default`: undefined, `none`, or
/// text that is empty or only spaces.
fn is_missing(value: &Value) -> bool {
    value.is_undefined() || value.is_none() || value.as_str().is_some_and(|s| s.trim().is_empty())
}

/// `{{ contact.given_name | default("bạn") }}`: the fallback when the value
/// is missing. Unlike Jinja's, `none` and empty text count as missing, as
/// marketers expect of a contact whose given name was never filled in.
/// `default(x, true)` also replaces any other false value (`0`, `false`,
/// empty lists), as in Jinja.
fn default(value: &Value, other: Option<Value>, boolean: Option<bool>) -> Value {
    if is_missing(value) || (boolean == Some(true) && !value.is_true()) {
        other.unwrap_or_else(|| Value::from(""))
    } else {
        value.clone()
    }
}

/// `{{ product.description | truncate(100) }}`: at most `length` characters
/// (default 255) including `end` (default `"..."`), cut at a word boundary
/// unless `killwords`. Keyword arguments as in Jinja (`length`, `killwords`,
/// `end`, `leeway`). Unlike Jinja, `leeway` defaults to 0 so the result never
/// exceeds `length`, which matters for SMS and ZNS limits.
fn truncate(
    value: &Value,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let length = match length {
        Some(n) => n,
        None => kwargs.get::<Option<usize>>("length")?.unwrap_or(255),
    };
    let killwords = match killwords {
        Some(k) => k,
        None => kwargs.get::<Option<bool>>("killwords")?.unwrap_or(false),
    };
    let end = match end {
        Some(e) => e,
        None => kwargs
            .get::<Option<String>>("end")?
            .unwrap_or_else(|| "...".into()),
    };
    let leeway = kwargs.get::<Option<usize>>("leeway")?.unwrap_or(0);
    kwargs.assert_all_used()?;

    if is_missing(value) {
        return Ok(Value::from(""));
    }
    let text = value.to_string();
    if text.chars().count() <= length + leeway {
        return Ok(Value::from(text));
    }
    let keep = length.saturating_sub(end.chars().count());
    let cut = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut head = &text[..cut];
    if !killwords {
        // Drop the word the cut went through (if it went through one).
        let cut_mid_word = text[cut..].starts_with(|c: char| !c.is_whitespace());
        if cut_mid_word && let Some(space) = head.rfind(char::is_whitespace) {
            head = &head[..space];
        }
        head = head.trim_end();
    }
    Ok(Value::from(format!("{head}{end}")))
}

/// `{{ order.total | vnd }}`: a number as Vietnamese đồng, `1500000` ->
/// `1.500.000 ₫`. Fractions are rounded (the đồng has no subunit). Missing
/// values render empty; text that is not a number is left as it is, so bad
/// data shows up in a preview instead of failing a broadcast.
fn vnd(value: &Value) -> Result<Value, Error> {
    if is_missing(value) {
        return Ok(Value::from(""));
    }
    let amount = match value.kind() {
        ValueKind::Number => f64::try_from(value.clone())?,
        ValueKind::String => match value.as_str().unwrap_or("").trim().parse::<f64>() {
            Ok(n) => n,
            Err(_) => return Ok(value.clone()),
        },
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("vnd expects a number, got {}", value.kind()),
            ));
        }
    };
    if !amount.is_finite() {
        return Ok(value.clone());
    }
    Ok(Value::from(format_vnd(amount.round() as i64)))
}

/// `1500000` -> `1.500.000 ₫` (dots group thousands in Vietnamese).
pub fn format_vnd(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 6);
    if amount < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(d);
    }
    out.push_str(" ₫");
    out
}

/// `{{ contact.birthday | date("%d/%m") }}`: formats a date (`YYYY-MM-DD`),
/// an RFC 3339 instant or milliseconds since the epoch with a `strftime`
/// format (default `%d/%m/%Y`, the Vietnamese order).
///
/// Instants are shown in the zone given as second argument, else the
/// contact's own zone (`contact.timezone`), else UTC: "your order of 31/01"
/// must be the recipient's 31st. Missing values render empty (so
/// `| date | default("...")` works); unparseable ones are left as they are.
fn date(
    state: &State,
    value: &Value,
    format: Option<&str>,
    tz: Option<&str>,
) -> Result<Value, Error> {
    use jiff::{Timestamp, civil, tz::TimeZone};

    if is_missing(value) {
        return Ok(Value::from(""));
    }
    let format = format.unwrap_or("%d/%m/%Y");
    let zone = || -> Result<TimeZone, Error> {
        let name = match tz {
            Some(name) => Some(name.to_string()),
            None => state
                .lookup("contact")
                .and_then(|c| c.get_attr("timezone").ok())
                .and_then(|z| z.as_str().map(str::to_string)),
        };
        match name {
            Some(name) => TimeZone::get(&name).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("unknown time zone '{name}'"),
                )
            }),
            None => Ok(TimeZone::UTC),
        }
    };
    let bad_format = |e: jiff::Error| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("bad date format '{format}': {e}"),
        )
    };

    let instant = match value.kind() {
        ValueKind::Number => match value.as_i64() {
            Some(ms) => Timestamp::from_millisecond(ms).ok(),
            None => return Ok(value.clone()),
        },
        ValueKind::String => {
            let s = value.as_str().unwrap_or("").trim();
            if let Ok(day) = s.parse::<civil::Date>() {
                let midnight = day.to_datetime(civil::Time::midnight());
                let text = jiff::fmt::strtime::format(format, midnight).map_err(bad_format)?;
                return Ok(Value::from(text));
            }
            s.parse::<Timestamp>().ok()
        }
        _ => None,
    };
    match instant {
        Some(t) => {
            let zoned = t.to_zoned(zone()?);
            let text = jiff::fmt::strtime::format(format, &zoned).map_err(bad_format)?;
            Ok(Value::from(text))
        }
        None => Ok(value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn render(src: &str, ctx: Value) -> String {
        environment().render_str(src, ctx).unwrap()
    }

    #[test]
    fn default_treats_none_and_empty_text_as_missing() {
        let src = r#"Chào {{ contact.given_name | default("bạn") }}!"#;
        assert_eq!(render(src, context! {}), "Chào bạn!");
        assert_eq!(
            render(src, context! { contact => context! { given_name => () } }),
            "Chào bạn!"
        );
        assert_eq!(
            render(src, context! { contact => context! { given_name => " " } }),
            "Chào bạn!"
        );
        assert_eq!(
            render(src, context! { contact => context! { given_name => "An" } }),
            "Chào An!"
        );
        // Zero is a value, unless the Jinja `boolean` flag says otherwise.
        assert_eq!(render("{{ n | default(5) }}", context! { n => 0 }), "0");
        assert_eq!(render("{{ n | d(5, true) }}", context! { n => 0 }), "5");
    }

    #[test]
    fn none_and_missing_attributes_print_as_nothing() {
        let ctx = context! { contact => context! { given_name => () } };
        assert_eq!(
            render("[{{ contact.given_name }}|{{ contact.attr.tier }}]", ctx),
            "[|]"
        );
    }

    #[test]
    fn vnd_groups_thousands_with_dots() {
        assert_eq!(format_vnd(1_500_000), "1.500.000 ₫");
        assert_eq!(format_vnd(999), "999 ₫");
        assert_eq!(format_vnd(-25_000), "-25.000 ₫");
        assert_eq!(render("{{ 1500000 | vnd }}", context! {}), "1.500.000 ₫");
        assert_eq!(render("{{ 99999.6 | vnd }}", context! {}), "100.000 ₫");
        assert_eq!(render("{{ '250000' | vnd }}", context! {}), "250.000 ₫");
        assert_eq!(render("{{ missing | vnd }}", context! {}), "");
    }

    #[test]
    fn date_reads_days_instants_and_millis_in_the_contacts_zone() {
        let ctx = context! { contact => context! { timezone => "Asia/Ho_Chi_Minh" } };
        assert_eq!(
            render("{{ '2026-01-31' | date }}", ctx.clone()),
            "31/01/2026"
        );
        // 20:00 UTC is already the next morning in Hồ Chí Minh City.
        assert_eq!(
            render(
                "{{ '2026-01-31T20:00:00Z' | date('%d/%m %H:%M') }}",
                ctx.clone()
            ),
            "01/02 03:00"
        );
        assert_eq!(
            render("{{ 0 | date('%Y-%m-%d %H:%M', 'UTC') }}", ctx.clone()),
            "1970-01-01 00:00"
        );
        assert_eq!(render("{{ 'soon' | date }}", ctx.clone()), "soon");
        assert_eq!(render("{{ none | date | default('?') }}", ctx), "?");
    }

    #[test]
    fn truncate_cuts_at_words_within_the_length() {
        let ctx = context! { s => "Ưu đãi mùa hè cho khách hàng thân thiết" };
        assert_eq!(
            render("{{ s | truncate(15) }}", ctx.clone()),
            "Ưu đãi mùa..."
        );
        assert_eq!(
            render("{{ s | truncate(15, true) }}", ctx.clone()),
            "Ưu đãi mùa h..."
        );
        assert_eq!(
            render("{{ s | truncate(16) }}", ctx.clone()),
            "Ưu đãi mùa hè..."
        );
        assert_eq!(
            render("{{ s | truncate(10, end='…') }}", ctx.clone()),
            "Ưu đãi…"
        );
        assert_eq!(
            render("{{ s | truncate(100) }}", ctx.clone()),
            "Ưu đãi mùa hè cho khách hàng thân thiết"
        );
        assert!(
            environment()
                .render_str("{{ s | truncate(5, bogus=1) }}", ctx)
                .is_err()
        );
    }

    #[test]
    fn title_upper_and_lower_handle_vietnamese() {
        let ctx = context! { s => "nguyễn văn đức" };
        assert_eq!(render("{{ s | title }}", ctx.clone()), "Nguyễn Văn Đức");
        assert_eq!(render("{{ s | upper }}", ctx), "NGUYỄN VĂN ĐỨC");
        assert_eq!(render("{{ 'ĐỨC' | lower }}", context! {}), "đức");
    }

    #[test]
    fn runaway_loops_run_out_of_fuel() {
        let src =
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        let err = environment().render_str(src, context! {}).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutOfFuel);
    }
}
