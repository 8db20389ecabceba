//! The web app's languages: one table of strings in English and
//! Vietnamese, and numbers, money and dates written the way each locale
//! writes them.
//!
//! A page asks for a string by key (`shell.t("nav.contacts")`); a key the
//! table lacks shows as itself, and a unit test reads every template and
//! fails on any key missing from the table, so that never ships.

use std::collections::HashMap;
use std::sync::LazyLock;

/// A language the app speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Vi,
    En,
}

impl Locale {
    /// Reads `vi`, `vi-VN`, `en`, `en-US`, ...; anything else is not a
    /// language the app speaks.
    pub fn parse(s: &str) -> Option<Locale> {
        let lang = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match lang.as_str() {
            "vi" => Some(Locale::Vi),
            "en" => Some(Locale::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Locale::Vi => "vi",
            Locale::En => "en",
        }
    }

    /// The string for `key`, or the key itself when the table lacks it.
    pub fn t<'a>(self, key: &'a str) -> &'a str {
        lookup(self, key).unwrap_or(key)
    }

    fn group_separator(self) -> char {
        match self {
            Locale::Vi => '.',
            Locale::En => ',',
        }
    }

    /// A whole number with the locale's thousands separator:
    /// `1.234.567` (vi), `1,234,567` (en).
    pub fn int(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        if n < 0 {
            out.push('-');
        }
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(self.group_separator());
            }
            out.push(c);
        }
        out
    }

    /// An amount of đồng, rounded to the đồng: `1.234.567 ₫` (vi),
    /// `1,234,567 ₫` (en).
    pub fn vnd(self, amount: f64) -> String {
        format!("{} ₫", self.int(amount.round() as i64))
    }

    /// A ratio as a percentage with one decimal: `12,5%` (vi), `12.5%` (en).
    pub fn percent(self, ratio: f64) -> String {
        let s = format!("{:.1}", ratio * 100.0);
        match self {
            Locale::Vi => format!("{}%", s.replace('.', ",")),
            Locale::En => format!("{s}%"),
        }
    }

    /// A date in a zone: `05/01/2026` (vi), `Jan 5, 2026` (en).
    pub fn date(self, millis: i64, zone: &str) -> String {
        match zoned(millis, zone) {
            Some(z) => match self {
                Locale::Vi => z.strftime("%d/%m/%Y").to_string(),
                Locale::En => z.strftime("%b %-d, %Y").to_string(),
            },
            None => String::new(),
        }
    }

    /// A date and time in a zone: `05/01/2026 14:05` (vi),
    /// `Jan 5, 2026, 2:05 PM` (en).
    pub fn datetime(self, millis: i64, zone: &str) -> String {
        match zoned(millis, zone) {
            Some(z) => match self {
                Locale::Vi => z.strftime("%d/%m/%Y %H:%M").to_string(),
                Locale::En => z.strftime("%b %-d, %Y, %-I:%M %p").to_string(),
            },
            None => String::new(),
        }
    }
}

/// The string for a key made at run time, if the table has it.
pub fn lookup(locale: Locale, key: &str) -> Option<&'static str> {
    TABLE.get(key).map(|(en, vi)| match locale {
        Locale::En => *en,
        Locale::Vi => *vi,
    })
}

fn zoned(millis: i64, zone: &str) -> Option<jiff::Zoned> {
    let ts = jiff::Timestamp::from_millisecond(millis).ok()?;
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    Some(ts.to_zoned(tz))
}

static TABLE: LazyLock<HashMap<&'static str, (&'static str, &'static str)>> =
    LazyLock::new(|| STRINGS.iter().map(|(k, en, vi)| (*k, (*en, *vi))).collect());

/// Every string the app shows: key, English, Vietnamese.
static STRINGS: &[(&str, &str, &str)] = &[
    // The shell.
    ("app.name", "Swell", "Swell"),
    ("nav.dashboard", "Dashboard", "Tổng quan"),
    ("nav.contacts", "Contacts", "Liên hệ"),
    ("nav.import", "Import", "Nhập dữ liệu"),
    ("nav.segments", "Segments", "Phân khúc"),
    ("nav.lists", "Lists", "Danh sách"),
    ("nav.templates", "Templates", "Mẫu email"),
    ("nav.broadcasts", "Broadcasts", "Chiến dịch gửi"),
    ("nav.outbox", "Outbox", "Hộp thư đi"),
    ("nav.settings", "Settings", "Cài đặt"),
    ("nav.audit", "Audit log", "Nhật ký thay đổi"),
    ("nav.menu", "Menu", "Menu"),
    ("shell.signed_in_as", "Signed in as", "Đăng nhập với"),
    ("shell.logout", "Sign out", "Đăng xuất"),
    ("shell.language", "Language", "Ngôn ngữ"),
    ("role.admin", "Admin", "Quản trị"),
    ("role.marketer", "Marketer", "Marketing"),
    ("role.sales", "Sales", "Kinh doanh"),
    // Common words.
    ("common.save", "Save", "Lưu"),
    ("common.show", "Show", "Xem"),
    ("common.state", "State", "Trạng thái"),
    ("common.create", "Create", "Tạo"),
    ("common.delete", "Delete", "Xoá"),
    ("common.edit", "Edit", "Sửa"),
    ("common.search", "Search", "Tìm kiếm"),
    ("common.next", "Next page", "Trang sau"),
    ("common.first", "First page", "Trang đầu"),
    ("common.none", "Nothing here yet.", "Chưa có gì."),
    ("common.name", "Name", "Tên"),
    ("common.email", "Email", "Email"),
    ("common.phone", "Phone", "Điện thoại"),
    ("common.status", "Status", "Trạng thái"),
    ("common.created", "Created", "Ngày tạo"),
    ("common.when", "When", "Thời điểm"),
    ("common.count", "Count", "Số lượng"),
    ("common.back", "Back", "Quay lại"),
    ("common.saved", "Saved.", "Đã lưu."),
    ("common.yes", "yes", "có"),
    ("common.no", "no", "không"),
    ("common.actions", "Actions", "Thao tác"),
    ("common.subject", "Subject", "Tiêu đề"),
    ("common.slug", "Slug", "Mã"),
    ("common.description", "Description", "Mô tả"),
    // Sign in.
    ("login.title", "Sign in", "Đăng nhập"),
    ("login.email", "Email", "Email"),
    ("login.password", "Password", "Mật khẩu"),
    ("login.submit", "Sign in", "Đăng nhập"),
    (
        "login.failed",
        "Wrong email or password.",
        "Sai email hoặc mật khẩu.",
    ),
    (
        "login.limited",
        "Too many attempts. Wait a minute and try again.",
        "Thử quá nhiều lần. Vui lòng đợi một phút rồi thử lại.",
    ),
    (
        "login.expired",
        "The form expired. Please sign in again.",
        "Biểu mẫu đã hết hạn. Vui lòng đăng nhập lại.",
    ),
    // Errors.
    ("error.forbidden", "Not allowed", "Không được phép"),
    (
        "error.forbidden_text",
        "Your role cannot open this page. Ask an admin if you need it.",
        "Vai trò của bạn không được mở trang này. Hãy hỏi quản trị viên nếu bạn cần.",
    ),
    ("error.not_found", "Not found", "Không tìm thấy"),
    (
        "error.invalid",
        "Please check the input",
        "Vui lòng kiểm tra dữ liệu",
    ),
    ("error.internal", "Something went wrong", "Đã có lỗi xảy ra"),
    (
        "error.csrf",
        "The form expired; reload the page and try again.",
        "Biểu mẫu đã hết hạn; hãy tải lại trang rồi thử lại.",
    ),
    // Dashboard.
    ("dash.title", "This week", "Tuần này"),
    ("dash.sends", "Sends", "Đã gửi"),
    ("dash.opens", "Opens", "Lượt mở"),
    ("dash.clicks", "Clicks", "Lượt nhấp"),
    ("dash.leads", "New leads", "Khách hàng tiềm năng mới"),
    ("dash.revenue", "Revenue", "Doanh thu"),
    ("dash.contacts", "Contacts", "Liên hệ"),
    ("dash.per_day", "Per day", "Theo ngày"),
    ("dash.since", "Since", "Từ"),
    // Contacts.
    ("contacts.title", "Contacts", "Liên hệ"),
    (
        "contacts.search_hint",
        "Name, email or phone (accents optional)",
        "Tên, email hoặc số điện thoại (không cần dấu)",
    ),
    ("contacts.tags", "Tags", "Thẻ"),
    ("contacts.attributes", "Attributes", "Thuộc tính"),
    ("contacts.lists", "List memberships", "Thuộc danh sách"),
    ("contacts.consent", "Consent", "Đồng ý nhận tin"),
    ("contacts.events", "Events", "Sự kiện"),
    ("contacts.campaigns", "Campaigns", "Chiến dịch"),
    (
        "contacts.none_found",
        "No contact matches.",
        "Không có liên hệ phù hợp.",
    ),
    ("contacts.city", "City", "Thành phố"),
    ("contacts.locale", "Locale", "Ngôn ngữ"),
    ("contacts.zone", "Time zone", "Múi giờ"),
    ("contacts.birthday", "Birthday", "Ngày sinh"),
    ("contacts.score", "Score", "Điểm"),
    ("contacts.changes", "Changes", "Lịch sử thay đổi"),
    // Import.
    ("import.title", "Import contacts", "Nhập liên hệ"),
    (
        "import.intro",
        "Choose a CSV file with a header row; you map its columns next.",
        "Chọn tệp CSV có dòng tiêu đề; bước sau bạn ghép các cột.",
    ),
    ("import.file", "CSV file", "Tệp CSV"),
    (
        "import.upload",
        "Upload and map columns",
        "Tải lên và ghép cột",
    ),
    ("import.mapping", "Map the columns", "Ghép các cột"),
    ("import.column", "Column in the file", "Cột trong tệp"),
    ("import.sample", "First value", "Giá trị đầu tiên"),
    ("import.field", "Swell field", "Trường trong Swell"),
    ("import.skip", "(skip)", "(bỏ qua)"),
    ("import.attribute", "attribute", "thuộc tính"),
    ("import.run", "Import", "Nhập"),
    (
        "import.dry_run",
        "Check only (keep nothing)",
        "Chỉ kiểm tra (không lưu)",
    ),
    ("import.report", "Import report", "Kết quả nhập"),
    ("import.created", "Created", "Tạo mới"),
    ("import.updated", "Updated", "Cập nhật"),
    ("import.unchanged", "Unchanged", "Không đổi"),
    ("import.failed", "Failed", "Lỗi"),
    ("import.errors", "Rows with errors", "Các dòng bị lỗi"),
    ("import.row", "Row", "Dòng"),
    ("import.reason", "Reason", "Lý do"),
    (
        "import.expired",
        "The uploaded file is gone; upload it again.",
        "Tệp đã tải lên không còn; hãy tải lại.",
    ),
    // Segments.
    ("segments.title", "Segments", "Phân khúc"),
    ("segments.new", "New segment", "Phân khúc mới"),
    ("segments.builder", "Conditions", "Điều kiện"),
    ("segments.text", "Filter", "Bộ lọc"),
    ("segments.match_all", "all of", "tất cả"),
    ("segments.match_any", "any of", "bất kỳ"),
    ("segments.add_row", "Add condition", "Thêm điều kiện"),
    ("segments.add_group", "Add group", "Thêm nhóm"),
    ("segments.remove", "Remove", "Bỏ"),
    ("segments.count", "Matching contacts", "Số liên hệ phù hợp"),
    ("segments.members", "Members", "Thành viên"),
    (
        "segments.text_only",
        "This filter is too rich for the builder; edit it as text.",
        "Bộ lọc này phức tạp hơn trình tạo; hãy sửa dạng văn bản.",
    ),
    // Lists.
    ("lists.title", "Marketing lists", "Danh sách tiếp thị"),
    ("lists.new", "New list", "Danh sách mới"),
    ("lists.kind", "Kind", "Loại"),
    ("lists.members", "Members", "Thành viên"),
    ("lists.subscribed", "Subscribed", "Đã đăng ký"),
    ("lists.unsubscribed", "Unsubscribed", "Đã huỷ đăng ký"),
    ("lists.rule", "Rule", "Quy tắc"),
    // Templates.
    ("templates.title", "Email templates", "Mẫu email"),
    ("templates.new", "New template", "Mẫu mới"),
    ("templates.html", "HTML body", "Nội dung HTML"),
    (
        "templates.text",
        "Text body (optional)",
        "Nội dung văn bản (tuỳ chọn)",
    ),
    ("templates.preview", "Preview", "Xem trước"),
    (
        "templates.preview_for",
        "Preview for contact id",
        "Xem trước cho liên hệ có id",
    ),
    ("templates.test_send", "Send a test", "Gửi thử"),
    ("templates.test_to", "Send the test to", "Gửi thử tới"),
    ("templates.test_sent", "Test sent.", "Đã gửi thử."),
    // Broadcasts.
    ("broadcasts.title", "Broadcasts", "Chiến dịch gửi"),
    ("broadcasts.new", "New broadcast", "Chiến dịch mới"),
    ("broadcasts.template", "Template", "Mẫu"),
    ("broadcasts.audience", "Audience", "Đối tượng"),
    (
        "broadcasts.audience_hint",
        "Segments and lists, or a filter",
        "Phân khúc và danh sách, hoặc bộ lọc",
    ),
    ("broadcasts.recipients", "Recipients", "Người nhận"),
    (
        "broadcasts.schedule",
        "Send at (optional)",
        "Gửi lúc (tuỳ chọn)",
    ),
    ("broadcasts.send", "Send now", "Gửi ngay"),
    ("broadcasts.pause", "Pause", "Tạm dừng"),
    ("broadcasts.resume", "Resume", "Tiếp tục"),
    ("broadcasts.cancel", "Cancel", "Huỷ"),
    ("broadcasts.progress", "Progress", "Tiến độ"),
    ("broadcasts.stats", "Results", "Kết quả"),
    ("broadcasts.sent", "Sent", "Đã gửi"),
    ("broadcasts.failed", "Failed", "Thất bại"),
    ("broadcasts.skipped", "Skipped", "Bỏ qua"),
    ("broadcasts.queued", "Queued", "Đang chờ"),
    ("broadcasts.opens", "Opens", "Lượt mở"),
    ("broadcasts.clicks", "Clicks", "Lượt nhấp"),
    (
        "broadcasts.links",
        "Clicks per link",
        "Lượt nhấp theo liên kết",
    ),
    ("broadcasts.link", "Link", "Liên kết"),
    // Outbox.
    ("outbox.title", "Outbox", "Hộp thư đi"),
    (
        "outbox.intro",
        "Messages the built-in transport kept instead of sending, as the recipient would see them.",
        "Các thư được giữ lại thay vì gửi đi, hiển thị như người nhận sẽ thấy.",
    ),
    ("outbox.to", "To", "Đến"),
    ("outbox.open", "Open", "Mở"),
    // Settings.
    ("settings.title", "Settings", "Cài đặt"),
    ("settings.workspace", "Workspace", "Không gian làm việc"),
    ("settings.timezone", "Time zone", "Múi giờ"),
    ("settings.locale", "Default language", "Ngôn ngữ mặc định"),
    ("settings.users", "Users", "Người dùng"),
    ("settings.role", "Role", "Vai trò"),
    ("settings.password", "Password", "Mật khẩu"),
    ("settings.add_user", "Add user", "Thêm người dùng"),
    ("settings.keys", "API keys", "Khoá API"),
    ("settings.key_label", "Label", "Nhãn"),
    ("settings.key_prefix", "Starts with", "Bắt đầu bằng"),
    ("settings.new_key", "Create key", "Tạo khoá"),
    ("settings.revoke", "Revoke", "Thu hồi"),
    (
        "settings.key_once",
        "Copy the key now: it is shown only once.",
        "Hãy sao chép khoá ngay: nó chỉ hiện một lần.",
    ),
    ("settings.channels", "Channels", "Kênh gửi"),
    ("settings.channel", "Channel", "Kênh"),
    ("settings.config", "Configuration (JSON)", "Cấu hình (JSON)"),
    ("settings.active", "Active", "Hoạt động"),
    // States of broadcasts, messages, campaigns and participants.
    ("state.draft", "draft", "bản nháp"),
    ("state.scheduled", "scheduled", "đã lên lịch"),
    ("state.sending", "sending", "đang gửi"),
    ("state.paused", "paused", "tạm dừng"),
    ("state.sent", "sent", "đã gửi xong"),
    ("state.cancelled", "cancelled", "đã huỷ"),
    ("state.failed", "failed", "thất bại"),
    ("state.skipped", "skipped", "bỏ qua"),
    ("state.queued", "queued", "đang chờ"),
    ("state.held", "held", "giữ lại"),
    ("state.running", "running", "đang chạy"),
    ("state.completed", "completed", "hoàn tất"),
    ("state.exited", "exited", "đã thoát"),
    ("state.subscribed", "subscribed", "đã đăng ký"),
    ("state.unsubscribed", "unsubscribed", "đã huỷ đăng ký"),
    ("state.pending", "pending", "chờ xác nhận"),
    ("state.new", "new", "mới"),
    ("state.contacted", "contacted", "đã liên hệ"),
    ("state.qualified", "qualified", "đủ điều kiện"),
    ("state.won", "won", "thành công"),
    ("state.lost", "lost", "đã mất"),
    // Leads board, rules and ads.
    ("nav.leads", "Leads", "Khách hàng tiềm năng"),
    ("nav.ads", "Ads", "Quảng cáo"),
    ("leads.title", "Leads", "Khách hàng tiềm năng"),
    ("leads.rep", "Sales rep", "Nhân viên kinh doanh"),
    ("leads.reps", "Sales reps", "Nhân viên kinh doanh"),
    ("leads.all_reps", "All reps", "Tất cả nhân viên"),
    ("leads.close", "Won / lost…", "Chốt / mất…"),
    ("leads.product", "Product", "Sản phẩm"),
    ("leads.region", "Region", "Khu vực"),
    ("leads.source", "Source", "Nguồn"),
    ("leads.contact", "Contact", "Liên hệ"),
    ("leads.first_contact", "First contact", "Liên hệ lần đầu"),
    ("leads.lost_reason", "Reason lost", "Lý do mất"),
    ("leads.move", "Move to", "Chuyển sang"),
    ("leads.order", "Order number", "Mã đơn hàng"),
    ("leads.won", "Mark won", "Đánh dấu thành công"),
    ("leads.lost", "Mark lost", "Đánh dấu thất bại"),
    ("leads.assign", "Assign to", "Giao cho"),
    (
        "leads.note",
        "Log a call or note",
        "Ghi cuộc gọi hoặc ghi chú",
    ),
    ("leads.kind", "Kind", "Loại"),
    ("leads.kind_call", "Call", "Cuộc gọi"),
    ("leads.kind_note", "Note", "Ghi chú"),
    ("leads.text", "What happened", "Nội dung"),
    ("leads.history", "History", "Lịch sử"),
    (
        "leads.h_created",
        "Lead received",
        "Nhận khách hàng tiềm năng",
    ),
    (
        "leads.h_duplicate",
        "Repeat of lead",
        "Trùng với khách hàng tiềm năng",
    ),
    ("leads.h_assigned", "Assigned to", "Giao cho"),
    ("leads.h_reassigned", "Reassigned", "Giao lại"),
    ("leads.rules", "Assignment rules", "Quy tắc phân bổ"),
    (
        "leads.rules_help",
        "New leads go to the first active rule whose filter they match, to a rep who is active, under their cap and (if the rule says so) inside working hours.",
        "Khách hàng tiềm năng mới đi theo quy tắc đầu tiên có bộ lọc phù hợp, tới nhân viên đang hoạt động, chưa vượt giới hạn và (nếu quy tắc yêu cầu) trong giờ làm việc.",
    ),
    ("leads.strategy", "Strategy", "Cách chia"),
    ("leads.round_robin", "Round-robin", "Xoay vòng"),
    ("leads.weighted", "Weighted", "Theo trọng số"),
    ("leads.filter", "Filter", "Bộ lọc"),
    (
        "leads.reassign_after",
        "Reassign if still new after",
        "Giao lại nếu vẫn mới sau",
    ),
    ("leads.minutes", "min", "phút"),
    (
        "leads.in_hours",
        "Only inside working hours",
        "Chỉ trong giờ làm việc",
    ),
    ("leads.active", "active", "đang bật"),
    ("leads.inactive", "off", "đã tắt"),
    ("leads.switch_off", "Switch off", "Tắt"),
    ("leads.switch_on", "Switch on", "Bật"),
    ("leads.new_rule", "New rule", "Quy tắc mới"),
    ("leads.notify", "Tell the rep", "Báo cho nhân viên"),
    ("leads.notify_email", "by e-mail", "qua e-mail"),
    (
        "leads.notify_task",
        "with a task to call",
        "bằng việc cần gọi",
    ),
    ("leads.notify_webhook", "Webhook URL", "URL webhook"),
    (
        "leads.notify_secret",
        "Webhook secret (signs each call; left blank, the stored one is kept)",
        "Khoá bí mật webhook (ký mỗi lần gọi; để trống thì giữ khoá đã lưu)",
    ),
    ("leads.notices", "Notices", "Thông báo"),
    (
        "leads.settings",
        "Lead settings",
        "Cài đặt khách hàng tiềm năng",
    ),
    (
        "leads.duplicate_days",
        "A second lead of the same person within this many days is a repeat (0: off)",
        "Khách hàng tiềm năng thứ hai của cùng một người trong số ngày này là trùng (0: tắt)",
    ),
    (
        "leads.hand_notify",
        "Leads given by hand, or by an automation, that no rule gave tell the rep:",
        "Khách hàng tiềm năng được giao tay, hoặc do tự động hoá, mà không qua quy tắc nào thì báo cho nhân viên:",
    ),
    (
        "ads.help",
        "Ad accounts, their campaigns and ads, with the leads each brought.",
        "Tài khoản quảng cáo, chiến dịch và quảng cáo, cùng số khách hàng tiềm năng mỗi quảng cáo mang lại.",
    ),
    (
        "ads.report",
        "Spend and cost per lead →",
        "Chi phí và giá mỗi khách hàng tiềm năng →",
    ),
    ("ads.account", "Account", "Tài khoản"),
    ("ads.campaign", "Campaign", "Chiến dịch"),
    ("ads.ad", "Ad", "Quảng cáo"),
    ("ads.leads", "Leads", "Khách tiềm năng"),
    ("ads.won", "Won", "Thành công"),
    ("state.waiting", "waiting", "đang chờ sự kiện"),
    ("state.processed", "processed", "đã xử lý"),
    ("state.rejected", "rejected", "bị loại"),
    ("state.stopped", "stopped", "đã dừng"),
    // Settings: the workspace's own SMTP relays.
    (
        "settings.own_smtp",
        "This workspace's e-mail relays",
        "Máy chủ gửi email của không gian này",
    ),
    (
        "settings.own_smtp_hint",
        "When set, this workspace's e-mails go through these relays (by weight, failing over) instead of the server's; passwords are never shown.",
        "Khi có, email của không gian này đi qua các máy chủ này (theo trọng số, tự chuyển khi lỗi) thay cho máy chủ chung; mật khẩu không bao giờ được hiển thị.",
    ),
    ("settings.add_smtp", "Add relay", "Thêm máy chủ"),
    ("settings.password_keep", "unchanged", "giữ nguyên"),
    // Settings: the SMTP relays.
    (
        "settings.smtp",
        "E-mail relays (SMTP)",
        "Máy chủ gửi email (SMTP)",
    ),
    (
        "settings.smtp_outbox",
        "No SMTP relay is configured: every message goes to the built-in outbox.",
        "Chưa cấu hình máy chủ SMTP: mọi thư được giữ trong hộp thư đi có sẵn.",
    ),
    (
        "settings.smtp_hint",
        "The server's relays ([[smtp]] in swell.toml or SWELL_SMTP_URL, read at start) carry the mail of workspaces without their own; passwords are never shown.",
        "Máy chủ SMTP chung (cấu hình [[smtp]] trong swell.toml hoặc SWELL_SMTP_URL, đọc khi khởi động) gửi thư cho các không gian không có máy chủ riêng; mật khẩu không bao giờ được hiển thị.",
    ),
    ("settings.smtp_host", "Host", "Máy chủ"),
    ("settings.smtp_user", "User", "Tài khoản"),
    ("settings.smtp_password_set", "set", "đã đặt"),
    ("settings.smtp_weight", "Weight", "Trọng số"),
    ("settings.smtp_connections", "Connections", "Kết nối"),
    ("settings.smtp_rate", "Rate", "Tốc độ"),
    ("settings.unit_cost", "Unit cost", "Đơn giá"),
    // Settings: the SMS and Zalo providers.
    (
        "settings.channels_hint",
        "SMS and Zalo ZNS messages go out through the provider set here; the unit cost prices each message in campaign estimates and spend. Tokens are kept but never shown again.",
        "Tin SMS và Zalo ZNS được gửi qua nhà cung cấp cài đặt tại đây; đơn giá dùng để tính chi phí mỗi tin trong dự toán và chi tiêu của chiến dịch. Mã truy cập được lưu nhưng không bao giờ hiển thị lại.",
    ),
    ("settings.provider", "Provider", "Nhà cung cấp"),
    ("settings.sender", "Sender", "Tên người gửi"),
    ("settings.secrets", "Secrets", "Thông tin bí mật"),
    ("settings.provider_sms", "SMS provider", "Nhà cung cấp SMS"),
    (
        "settings.provider_zalo",
        "Zalo ZNS provider",
        "Nhà cung cấp Zalo ZNS",
    ),
    ("settings.preset", "Provider type", "Loại nhà cung cấp"),
    ("settings.preset_zalo", "Zalo ZNS", "Zalo ZNS"),
    (
        "settings.preset_sms",
        "SMS gateway (JSON, bearer token)",
        "Cổng SMS (JSON, bearer token)",
    ),
    (
        "settings.preset_custom",
        "Custom (JSON, advanced)",
        "Tuỳ chỉnh (JSON, nâng cao)",
    ),
    (
        "settings.zalo_hint",
        "Messages go to Zalo's ZNS API (business.openapi.zalo.me) with your Official Account's access token, from the Zalo for Developers console.",
        "Tin được gửi tới API ZNS của Zalo (business.openapi.zalo.me) bằng access token của Official Account, lấy từ trang Zalo for Developers.",
    ),
    ("settings.access_token", "Access token", "Access token"),
    (
        "settings.sms_hint",
        "For gateways that take JSON {\"to\", \"text\", \"from\"} with an Authorization: Bearer token and answer {\"message_id\"}. Other gateways: choose Custom.",
        "Dành cho cổng nhận JSON {\"to\", \"text\", \"from\"} kèm Authorization: Bearer token và trả về {\"message_id\"}. Cổng khác: chọn Tuỳ chỉnh.",
    ),
    ("settings.gateway_url", "Gateway URL", "URL của cổng SMS"),
    ("settings.bearer_token", "API token", "Mã API (token)"),
    (
        "settings.sender_name",
        "Sender / brand name",
        "Tên người gửi / brandname",
    ),
    (
        "settings.token_keep_hint",
        "A token is stored. Leave the field blank to keep it; type a new one to replace it.",
        "Đã lưu một mã. Để trống ô này để giữ nguyên; nhập mã mới để thay thế.",
    ),
    (
        "settings.custom_hint",
        "The provider's whole configuration (url, headers, body template, id_path, error_path, ...), as described in the API docs. Put tokens in headers: only header values are hidden, and a header shown as •••••• keeps its stored value.",
        "Toàn bộ cấu hình nhà cung cấp (url, headers, mẫu body, id_path, error_path, ...), theo tài liệu API. Đặt mã bí mật trong headers: chỉ giá trị header được ẩn, và header hiển thị •••••• sẽ giữ giá trị đã lưu.",
    ),
    ("settings.currency", "Currency", "Tiền tệ"),
    (
        "settings.other_costs",
        "Unit cost of e-mail and in-app messages",
        "Đơn giá email và tin trong ứng dụng",
    ),
    // Automated campaigns.
    ("nav.campaigns", "Automations", "Tự động hoá"),
    (
        "campaigns.title",
        "Automated campaigns",
        "Chiến dịch tự động",
    ),
    (
        "campaigns.empty",
        "No automated campaign yet. Start from one of these, or a blank one below.",
        "Chưa có chiến dịch tự động nào. Hãy bắt đầu từ một mẫu dưới đây, hoặc tạo chiến dịch trống.",
    ),
    (
        "campaigns.from_template",
        "Start from a template",
        "Bắt đầu từ mẫu",
    ),
    ("campaigns.use_template", "Use this", "Dùng mẫu này"),
    (
        "campaigns.new",
        "New blank campaign",
        "Chiến dịch trống mới",
    ),
    ("campaigns.entity", "Target", "Đối tượng"),
    ("campaigns.trigger", "Entry trigger", "Điều kiện bắt đầu"),
    (
        "campaigns.trigger_when",
        "Who enters, and when",
        "Ai vào, và khi nào",
    ),
    (
        "campaigns.trigger_json",
        "Written as JSON (advanced)",
        "Viết bằng JSON (nâng cao)",
    ),
    (
        "campaigns.trigger_field",
        "Field that changes (blank: any)",
        "Trường thay đổi (để trống: bất kỳ)",
    ),
    (
        "campaigns.trigger_from",
        "From value (optional)",
        "Từ giá trị (tuỳ chọn)",
    ),
    (
        "campaigns.trigger_to",
        "To value (optional)",
        "Sang giá trị (tuỳ chọn)",
    ),
    ("campaigns.trigger_every", "Every", "Mỗi"),
    ("campaigns.every_day", "day", "ngày"),
    ("campaigns.every_week", "week", "tuần"),
    ("campaigns.every_month", "month", "tháng"),
    ("campaigns.every_year", "year", "năm"),
    (
        "campaigns.trigger_day",
        "On day (of the month; weekday 0-6 for weeks)",
        "Vào ngày (trong tháng; thứ 0-6 nếu theo tuần)",
    ),
    (
        "campaigns.trigger_month",
        "Month (yearly)",
        "Tháng (hằng năm)",
    ),
    (
        "campaigns.trigger_at",
        "At (each contact's own time)",
        "Lúc (theo giờ của từng người)",
    ),
    (
        "campaigns.trigger_cron",
        "Or a cron expression (advanced)",
        "Hoặc biểu thức cron (nâng cao)",
    ),
    ("campaigns.trigger_date_field", "Date field", "Trường ngày"),
    (
        "campaigns.trigger_days_before",
        "Days before",
        "Số ngày trước",
    ),
    (
        "campaigns.trigger_webhook_hint",
        "Saving gives the campaign a secret URL; each JSON posted to it finds or creates the record and lets it in. The URL is shown once.",
        "Khi lưu, chiến dịch có một URL bí mật; mỗi JSON gửi tới đó tìm hoặc tạo bản ghi và cho vào chiến dịch. URL chỉ hiện một lần.",
    ),
    (
        "campaigns.hook_url",
        "The campaign's webhook URL",
        "URL webhook của chiến dịch",
    ),
    (
        "campaigns.hook_url_once",
        "Copy it now: it is not shown again. Reload the page when done.",
        "Hãy sao chép ngay: URL không hiện lại. Tải lại trang khi xong.",
    ),
    (
        "campaigns.trigger_hint",
        "JSON, e.g. {\"kind\": \"manual\"}, {\"kind\": \"created\"}, {\"kind\": \"updated\", \"fields\": [\"status\"], \"to\": \"delivered\"}, {\"kind\": \"webhook\"}, {\"kind\": \"recurring\", \"every\": \"month\", \"day\": 1, \"at\": \"09:00\"}, {\"kind\": \"anniversary\", \"field\": \"birthday\", \"days_before\": 3, \"at\": \"09:00\"}.",
        "JSON, ví dụ {\"kind\": \"manual\"} (chạy tay), {\"kind\": \"created\"} (khi tạo mới), {\"kind\": \"updated\", \"fields\": [\"status\"], \"to\": \"delivered\"}, {\"kind\": \"webhook\"}, {\"kind\": \"recurring\", \"every\": \"month\", \"day\": 1, \"at\": \"09:00\"}, {\"kind\": \"anniversary\", \"field\": \"birthday\", \"days_before\": 3, \"at\": \"09:00\"}.",
    ),
    ("campaigns.entry", "Entry", "Đầu vào"),
    (
        "campaigns.filter",
        "Who may enter (filter)",
        "Ai được tham gia (bộ lọc)",
    ),
    ("campaigns.reentry", "Re-entry", "Tham gia lại"),
    (
        "campaigns.reentry_once",
        "Once per record",
        "Một lần mỗi bản ghi",
    ),
    (
        "campaigns.reentry_each",
        "Each time it fires",
        "Mỗi lần kích hoạt",
    ),
    ("campaigns.budget", "Budget", "Ngân sách"),
    ("campaigns.spent", "spent", "đã chi"),
    ("campaigns.launch", "Launch", "Khởi chạy"),
    ("campaigns.stop", "Stop", "Dừng hẳn"),
    (
        "campaigns.estimate",
        "Cost before launch",
        "Chi phí dự kiến",
    ),
    ("campaigns.audience", "Audience now", "Đối tượng hiện tại"),
    ("campaigns.messages", "messages", "tin"),
    ("campaigns.total_cost", "Total", "Tổng"),
    (
        "campaigns.over_budget",
        "The estimate is over the budget: the campaign pauses when its spend reaches it.",
        "Chi phí dự kiến vượt ngân sách: chiến dịch sẽ tạm dừng khi chi tiêu chạm ngân sách.",
    ),
    ("campaigns.participants", "Participants", "Người tham gia"),
    ("campaigns.participant", "Participant", "Người tham gia"),
    ("campaigns.traces", "Traces", "Lịch sử bước"),
    ("campaigns.workflow", "Workflow", "Quy trình"),
    (
        "campaigns.no_activities",
        "No activity yet: add the first one.",
        "Chưa có bước nào: hãy thêm bước đầu tiên.",
    ),
    (
        "campaigns.add_child",
        "Add a step after this",
        "Thêm bước tiếp theo",
    ),
    (
        "campaigns.add_top",
        "Add a first step",
        "Thêm bước đầu tiên",
    ),
    ("campaigns.add", "Add", "Thêm"),
    ("campaigns.edit", "Edit", "Sửa"),
    (
        "campaigns.delete_confirm",
        "Remove this step and its branch? Their steps not yet run are cancelled.",
        "Xoá bước này và các nhánh con? Các bước chưa chạy sẽ bị huỷ.",
    ),
    ("campaigns.kind", "Activity", "Hoạt động"),
    ("campaigns.when", "When", "Khi nào"),
    ("campaigns.delay", "Delay", "Sau"),
    ("campaigns.after", "after", "sau"),
    (
        "campaigns.own_filter",
        "Only if (filter)",
        "Chỉ khi (bộ lọc)",
    ),
    ("campaigns.settings", "Settings", "Cấu hình"),
    ("campaigns.mode_fields", "Fields", "Điền theo ô"),
    ("campaigns.mode_json", "JSON (advanced)", "JSON (nâng cao)"),
    ("campaigns.config", "Settings as JSON", "Cấu hình dạng JSON"),
    (
        "campaigns.message_template",
        "Message template",
        "Mẫu tin nhắn",
    ),
    (
        "campaigns.config_hint",
        "For power users: the step's settings exactly as the API takes them (docs/automation.md), e.g. {\"action\": \"add_tag\", \"tag\": \"hot\"}.",
        "Dành cho người dùng thành thạo: cấu hình của bước đúng như API nhận (docs/automation.md), ví dụ {\"action\": \"add_tag\", \"tag\": \"hot\"}.",
    ),
    ("campaigns.inapp_kind", "Shown as", "Hiển thị dạng"),
    ("campaigns.inapp_banner", "Banner", "Biểu ngữ"),
    ("campaigns.inapp_popup", "Pop-up", "Cửa sổ bật lên"),
    ("campaigns.inapp_title", "Title", "Tiêu đề"),
    ("campaigns.inapp_body", "Message", "Nội dung"),
    (
        "campaigns.inapp_url",
        "Link (optional)",
        "Liên kết (không bắt buộc)",
    ),
    ("campaigns.webhook_url", "URL to call", "URL cần gọi"),
    (
        "campaigns.webhook_secret",
        "Signing secret (optional)",
        "Khóa ký (không bắt buộc)",
    ),
    (
        "campaigns.webhook_hint",
        "Swell sends a signed POST with the campaign, the step, the contact and the record; the receiver checks the signature with the secret.",
        "Swell gửi một yêu cầu POST có chữ ký, kèm chiến dịch, bước, liên hệ và bản ghi; bên nhận kiểm tra chữ ký bằng khóa ký.",
    ),
    ("campaigns.action", "Action", "Thao tác"),
    ("campaigns.share", "Share", "Tỉ lệ"),
    ("campaigns.tag", "Tag", "Thẻ"),
    ("campaigns.list", "List", "Danh sách"),
    (
        "campaigns.no_lists",
        "This workspace has no list yet: make one on the Lists page.",
        "Chưa có danh sách nào: hãy tạo ở trang Danh sách.",
    ),
    ("campaigns.points", "Points", "Điểm"),
    (
        "campaigns.points_hint",
        "Added to the contact's score; a negative number takes points away.",
        "Cộng vào điểm của liên hệ; số âm sẽ trừ điểm.",
    ),
    ("campaigns.field", "Field", "Trường"),
    ("campaigns.field_value", "New value", "Giá trị mới"),
    (
        "campaigns.field_hint",
        "To change several fields in one step, use JSON (advanced).",
        "Muốn đổi nhiều trường trong một bước, hãy dùng JSON (nâng cao).",
    ),
    ("campaigns.owner", "Owner", "Người phụ trách"),
    (
        "campaigns.owner_by_rules",
        "By the assignment rules",
        "Theo quy tắc phân bổ",
    ),
    ("campaigns.task_title", "Task", "Công việc"),
    ("campaigns.task_due", "Due in (hours)", "Hạn (sau số giờ)"),
    ("campaigns.task_note", "Note", "Ghi chú"),
    ("campaigns.task_owner", "For", "Giao cho"),
    (
        "campaigns.task_owner_default",
        "The contact's owner",
        "Người phụ trách liên hệ",
    ),
    ("campaigns.lead_source", "Source", "Nguồn"),
    ("campaigns.lead_product", "Product", "Sản phẩm"),
    ("campaigns.lead_region", "Region", "Khu vực"),
    ("campaigns.lead_value", "Value", "Giá trị"),
    (
        "campaigns.lead_hint",
        "The contact becomes a lead through the usual intake: duplicates, assignment rules and notices apply.",
        "Liên hệ trở thành khách hàng tiềm năng qua luồng tiếp nhận thường lệ: kiểm tra trùng, quy tắc phân bổ và thông báo đều áp dụng.",
    ),
    (
        "campaigns.end_hint",
        "The participant leaves the campaign here; later steps do not run.",
        "Người tham gia rời chiến dịch tại đây; các bước sau không chạy.",
    ),
    (
        "campaigns.split_hint",
        "No settings: each participant goes down one of the steps under it, by the steps' shares (equal when none is given).",
        "Không cần cấu hình: mỗi người tham gia đi theo một trong các bước con, theo tỉ lệ của từng bước (chia đều nếu không ghi).",
    ),
    (
        "campaigns.message_hint",
        "This step's channels and templates are written in JSON (advanced).",
        "Kênh và mẫu của bước này được viết bằng JSON (nâng cao).",
    ),
    ("action.add_tag", "Add a tag", "Gắn thẻ"),
    ("action.remove_tag", "Remove a tag", "Gỡ thẻ"),
    ("action.add_to_list", "Add to a list", "Thêm vào danh sách"),
    (
        "action.remove_from_list",
        "Remove from a list",
        "Xóa khỏi danh sách",
    ),
    ("action.add_score", "Add to the score", "Cộng điểm"),
    ("action.update_fields", "Change a field", "Đổi một trường"),
    (
        "action.assign_owner",
        "Assign an owner",
        "Giao người phụ trách",
    ),
    ("action.create_task", "Create a task", "Tạo công việc"),
    (
        "action.create_lead",
        "Make a lead",
        "Tạo khách hàng tiềm năng",
    ),
    (
        "action.end",
        "End the campaign for them",
        "Kết thúc chiến dịch với người này",
    ),
    ("campaigns.scheduled", "Scheduled", "Đã lên lịch"),
    ("campaigns.processed", "Processed", "Đã xử lý"),
    ("campaigns.failed", "Failed", "Thất bại"),
    ("campaigns.rejected", "Rejected", "Bị loại"),
    ("campaigns.activity", "Step", "Bước"),
    ("campaigns.due", "When", "Thời điểm"),
    ("campaigns.reason", "Reason", "Lý do"),
    ("campaigns.channel", "Channel", "Kênh"),
    ("campaigns.test", "test", "thử"),
    ("campaigns.test_mode", "Test mode", "Chạy thử"),
    (
        "campaigns.test_hint",
        "Run the workflow for a chosen record, step by step; test runs stay out of the figures.",
        "Chạy quy trình cho một bản ghi chọn sẵn, từng bước một; lần chạy thử không tính vào số liệu.",
    ),
    ("campaigns.test_record", "Record", "Bản ghi"),
    ("campaigns.test_start", "Start a test", "Bắt đầu chạy thử"),
    (
        "campaigns.test_step",
        "Run the next step",
        "Chạy bước tiếp theo",
    ),
    ("campaigns.simulate", "Simulate", "Giả lập"),
    ("campaigns.sim_open", "Opened", "Đã mở"),
    ("campaigns.sim_click", "Clicked", "Đã nhấp"),
    ("campaigns.sim_reply", "Replied", "Đã trả lời"),
    ("kind.email", "E-mail", "Email"),
    ("kind.sms", "SMS", "SMS"),
    ("kind.zalo", "Zalo ZNS", "Zalo ZNS"),
    ("kind.inapp", "In-app message", "Tin trong ứng dụng"),
    ("kind.message", "Cheapest channel", "Kênh rẻ nhất"),
    ("kind.webhook", "Webhook", "Webhook"),
    ("kind.action", "Action", "Thao tác"),
    ("kind.split", "A/B split", "Chia nhánh A/B"),
    ("trigger.start", "At the start", "Ngay khi bắt đầu"),
    (
        "trigger.after_parent",
        "After the previous step",
        "Sau bước trước",
    ),
    ("trigger.opened", "E-mail opened", "Đã mở email"),
    ("trigger.not_opened", "E-mail not opened", "Chưa mở email"),
    ("trigger.clicked", "E-mail clicked", "Đã nhấp email"),
    (
        "trigger.not_clicked",
        "E-mail not clicked",
        "Chưa nhấp email",
    ),
    ("trigger.replied", "Replied", "Đã trả lời"),
    ("trigger.not_replied", "Not replied", "Chưa trả lời"),
    ("trigger.bounced", "Bounced", "Bị trả về"),
    ("trigger.sms_clicked", "SMS clicked", "Đã nhấp SMS"),
    (
        "trigger.sms_not_clicked",
        "SMS not clicked",
        "Chưa nhấp SMS",
    ),
    ("trigger.manual", "Launched by hand", "Chạy thủ công"),
    (
        "trigger.created",
        "When a record is created",
        "Khi tạo bản ghi",
    ),
    (
        "trigger.updated",
        "When a record changes",
        "Khi bản ghi thay đổi",
    ),
    (
        "trigger.created_or_updated",
        "When created or changed",
        "Khi tạo hoặc thay đổi",
    ),
    ("trigger.webhook", "Inbound webhook", "Webhook gọi vào"),
    ("trigger.recurring", "Recurring", "Định kỳ"),
    (
        "trigger.anniversary",
        "Yearly on a date",
        "Hằng năm theo ngày",
    ),
    (
        "ctpl.tag-hot-contacts.name",
        "Tag Hot Contacts",
        "Gắn thẻ khách hàng tiềm năng",
    ),
    (
        "ctpl.tag-hot-contacts.about",
        "E-mail everyone matching; those who click a link are tagged hot.",
        "Gửi email tới mọi người phù hợp; ai nhấp liên kết được gắn thẻ \"hot\".",
    ),
    ("ctpl.welcome-flow.name", "Welcome Flow", "Chuỗi chào mừng"),
    (
        "ctpl.welcome-flow.about",
        "Welcome each new contact; tips to those who opened, a reminder to those who did not.",
        "Chào mừng mỗi liên hệ mới; gửi mẹo cho người đã mở, nhắc lại cho người chưa mở.",
    ),
    (
        "ctpl.double-opt-in.name",
        "Double Opt-in",
        "Xác nhận đăng ký hai bước",
    ),
    (
        "ctpl.double-opt-in.about",
        "New contacts join the newsletter as pending and are subscribed when they click the confirmation link.",
        "Liên hệ mới vào bản tin ở trạng thái chờ và được đăng ký khi nhấp liên kết xác nhận.",
    ),
    (
        "ctpl.commercial-prospection.name",
        "Commercial Prospection",
        "Tiếp cận thương mại",
    ),
    (
        "ctpl.commercial-prospection.about",
        "An offer to leads; openers score up, the others get a call task after three days.",
        "Gửi ưu đãi tới khách tiềm năng; ai mở được cộng điểm, số còn lại được giao việc gọi điện sau ba ngày.",
    ),
    (
        "ctpl.schedule-calls.name",
        "Schedule Calls",
        "Lên lịch gọi điện",
    ),
    (
        "ctpl.schedule-calls.about",
        "New leads get an e-mail; those who click get a call scheduled with their owner.",
        "Khách tiềm năng mới nhận email; ai nhấp sẽ được lên lịch gọi với người phụ trách.",
    ),
    (
        "ctpl.priority-hot-leads.name",
        "Priority Hot Leads",
        "Ưu tiên khách nóng",
    ),
    (
        "ctpl.priority-hot-leads.about",
        "Big new leads: a call task within the hour, and an e-mail the next day.",
        "Khách tiềm năng lớn: giao việc gọi trong vòng một giờ và gửi email vào ngày hôm sau.",
    ),
    // Marketing campaigns.
    (
        "nav.marketing",
        "Marketing campaigns",
        "Chiến dịch marketing",
    ),
    (
        "marketing.title",
        "Marketing campaigns",
        "Chiến dịch marketing",
    ),
    (
        "marketing.new",
        "New marketing campaign",
        "Chiến dịch marketing mới",
    ),
    ("marketing.code", "Code (utm_campaign)", "Mã (utm_campaign)"),
    ("marketing.starts", "Starts", "Bắt đầu"),
    ("marketing.ends", "Ends", "Kết thúc"),
    ("marketing.report", "Roll-up report", "Báo cáo tổng hợp"),
    ("marketing.visits", "Visits", "Lượt truy cập"),
    ("marketing.visitors", "visitors", "người truy cập"),
    ("marketing.orders", "Orders", "Đơn hàng"),
    ("marketing.budget_used", "Budget used", "Ngân sách đã dùng"),
    ("marketing.spend_parts", "Spend", "Chi phí"),
    ("marketing.ad_spend", "ads", "quảng cáo"),
    ("marketing.message_cost", "messages", "tin nhắn"),
    ("marketing.messages", "messages made", "tin đã tạo"),
    ("marketing.members", "What it groups", "Thành phần"),
    ("marketing.attach", "Add", "Thêm"),
    ("marketing.detach", "Take out", "Bỏ ra"),
    (
        "marketing.ad_campaigns",
        "Ad campaigns",
        "Chiến dịch quảng cáo",
    ),
    (
        "marketing.ad_campaign_id",
        "Ad campaign id",
        "Mã chiến dịch quảng cáo",
    ),
    (
        "marketing.delete_confirm",
        "Delete this marketing campaign? What it groups stays, ungrouped.",
        "Xoá chiến dịch marketing này? Các thành phần vẫn được giữ lại.",
    ),
    // Reports.
    ("nav.reports", "Reports", "Báo cáo"),
    ("reports.ads", "Ads", "Quảng cáo"),
    ("reports.reps", "Sales reps", "Nhân viên kinh doanh"),
    ("reports.from", "From", "Từ ngày"),
    ("reports.to", "To", "Đến ngày"),
    ("reports.by", "Per", "Theo"),
    ("reports.by_ad", "Ad", "Quảng cáo"),
    ("reports.by_campaign", "Ad campaign", "Chiến dịch quảng cáo"),
    ("reports.by_account", "Ad account", "Tài khoản quảng cáo"),
    ("reports.show", "Show", "Xem"),
    (
        "reports.ads_hint",
        "Leads created in the range; duplicates counted apart and left out of every rate.",
        "Khách tiềm năng tạo trong khoảng này; trùng lặp được đếm riêng và không tính vào tỉ lệ.",
    ),
    (
        "reports.reps_hint",
        "Leads assigned in the range that the rep still holds; first contact is the median time from assignment.",
        "Khách tiềm năng được giao trong khoảng này mà nhân viên vẫn giữ; liên hệ đầu là thời gian trung vị từ lúc giao.",
    ),
    ("reports.account", "Account", "Tài khoản"),
    ("reports.ad_campaign", "Ad campaign", "Chiến dịch"),
    ("reports.ad", "Ad", "Quảng cáo"),
    ("reports.spend", "Spend", "Chi phí"),
    ("reports.impressions", "Impressions", "Lượt hiển thị"),
    ("reports.leads", "Leads", "Khách tiềm năng"),
    ("reports.duplicates", "Duplicates", "Trùng lặp"),
    ("reports.cpl", "Cost per lead", "Chi phí / khách"),
    ("reports.contacted", "Contacted", "Đã liên hệ"),
    ("reports.qualified", "Qualified", "Đủ điều kiện"),
    ("reports.won", "Won", "Thành công"),
    ("reports.lost", "Lost", "Thất bại"),
    ("reports.untouched", "Untouched", "Chưa xử lý"),
    ("reports.revenue", "Revenue", "Doanh thu"),
    (
        "reports.cost_per_won",
        "Cost per won",
        "Chi phí / đơn thành công",
    ),
    ("reports.total", "Total", "Tổng"),
    ("reports.rep", "Rep", "Nhân viên"),
    (
        "reports.first_contact",
        "First contact (median)",
        "Liên hệ đầu (trung vị)",
    ),
    // Audit.
    ("audit.title", "Audit log", "Nhật ký thay đổi"),
    ("audit.who", "Who", "Người thực hiện"),
    ("audit.action", "Action", "Hành động"),
    ("audit.entity", "What", "Đối tượng"),
    ("audit.detail", "Detail", "Chi tiết"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_money_are_written_per_locale() {
        assert_eq!(Locale::Vi.int(1234567), "1.234.567");
        assert_eq!(Locale::En.int(1234567), "1,234,567");
        assert_eq!(Locale::En.int(-1000), "-1,000");
        assert_eq!(Locale::Vi.int(999), "999");
        assert_eq!(Locale::Vi.vnd(1234567.4), "1.234.567 ₫");
        assert_eq!(Locale::En.vnd(1234567.6), "1,234,568 ₫");
        assert_eq!(Locale::Vi.percent(0.125), "12,5%");
        assert_eq!(Locale::En.percent(0.125), "12.5%");
    }

    #[test]
    fn dates_are_written_per_locale_in_the_workspace_zone() {
        // 2026-01-04T18:05:00Z is 5 January 01:05 in Hồ Chí Minh City.
        let ms = 1_767_549_900_000;
        assert_eq!(Locale::Vi.date(ms, "Asia/Ho_Chi_Minh"), "05/01/2026");
        assert_eq!(Locale::En.date(ms, "Asia/Ho_Chi_Minh"), "Jan 5, 2026");
        assert_eq!(
            Locale::Vi.datetime(ms, "Asia/Ho_Chi_Minh"),
            "05/01/2026 01:05"
        );
        assert_eq!(
            Locale::En.datetime(ms, "Asia/Ho_Chi_Minh"),
            "Jan 5, 2026, 1:05 AM"
        );
    }

    #[test]
    fn locales_parse_from_tags() {
        assert_eq!(Locale::parse("vi-VN"), Some(Locale::Vi));
        assert_eq!(Locale::parse("EN_us"), Some(Locale::En));
        assert_eq!(Locale::parse("fr"), None);
    }

    #[test]
    fn the_table_has_no_duplicate_keys() {
        assert_eq!(TABLE.len(), STRINGS.len());
    }

    /// Every key a template or page asks the table for is in it.
    #[test]
    fn every_key_the_templates_use_is_in_the_table() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut missing = Vec::new();
        let mut files = Vec::new();
        for dir in ["templates", "src/ui"] {
            collect(&root.join(dir), &mut files);
        }
        assert!(!files.is_empty());
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            for (i, _) in text.match_indices("t(\"") {
                let rest = &text[i + 3..];
                let key = &rest[..rest.find('"').expect("closing quote")];
                if key.contains('.') && !TABLE.contains_key(key) {
                    missing.push(format!("{}: {key}", f.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from the table: {missing:?}"
        );
    }

    fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                collect(&p, out);
            } else if p.extension().is_some_and(|x| x == "html" || x == "rs") {
                out.push(p);
            }
        }
    }
}
