//! Every string the page shows, in English and Chinese, and how a request picks its language.
//!
//! A string with a number holds `{n}` where the number goes; [`split_at_number`] cuts it
//! there, so the page can wrap the number in an element of its own. Translating the page means
//! editing [`EN`] and [`ZH`] only.

use serde::{Deserialize, Serialize};

/// The cookie the language toggle sets, read by the server before `Accept-Language`.
pub const LANG_COOKIE: &str = "lang";

/// A language the page is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    /// The BCP 47 tag, for `<html lang>` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh-CN",
        }
    }

    /// The other language: what the toggle switches to.
    pub fn other(self) -> Self {
        match self {
            Self::En => Self::Zh,
            Self::Zh => Self::En,
        }
    }

    /// The page's strings in this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Self::En => &EN,
            Self::Zh => &ZH,
        }
    }

    /// The page's `<meta name="description">`, for search results. Apart from [`Texts`]: only
    /// the server's shell writes it, so the WASM does not carry it.
    pub fn description(self) -> &'static str {
        match self {
            Self::En => {
                "A live table of ten names from the Hundred Family Surnames, pushed from the \
                 server with Server-Sent Events, with a bar chart and the connection's state."
            }
            Self::Zh => {
                "一张实时更新的表格：服务器用 Server-Sent Events 推送十个百家姓名字，附柱状图和连接状态。"
            }
        }
    }

    /// The language a tag names (`zh`, `zh-CN`, `en-GB`, …), if the page has it.
    fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Self::En),
            "zh" => Some(Self::Zh),
            _ => None,
        }
    }

    /// The language for a request: the toggle's cookie if set, else the first language of
    /// `Accept-Language` (by quality) the page has, else English.
    pub fn negotiate(cookie_header: Option<&str>, accept_language: Option<&str>) -> Self {
        cookie_header
            .and_then(chosen_in_cookie)
            .or_else(|| accept_language.and_then(preferred))
            .unwrap_or_default()
    }
}

/// The value of [`LANG_COOKIE`] in a `Cookie` header.
fn chosen_in_cookie(header: &str) -> Option<Lang> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LANG_COOKIE)
        .and_then(|(_, value)| Lang::from_tag(value))
}

/// The supported language of highest quality in an `Accept-Language` header; the first
/// listed wins a tie. Entries that don't parse, or have `q=0`, are skipped.
fn preferred(header: &str) -> Option<Lang> {
    let mut best: Option<(Lang, u16)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let Some(lang) = parts.next().and_then(Lang::from_tag) else { continue };
        let quality = parts.find_map(|p| p.trim().strip_prefix("q=")).map_or(Some(1000), quality);
        match quality {
            Some(q) if q > 0 && best.is_none_or(|(_, b)| q > b) => best = Some((lang, q)),
            _ => {}
        }
    }
    best.map(|(lang, _)| lang)
}

/// A `q` value (`0` to `1`, at most three decimals) in thousandths; `None` if malformed.
fn quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The text before and after `{n}` in `template` (all of it before, if it has none).
pub fn split_at_number(template: &'static str) -> (&'static str, &'static str) {
    template.split_once("{n}").unwrap_or((template, ""))
}

/// Every string of the page, in one language.
pub struct Texts {
    pub connection: &'static str,
    pub connecting: &'static str,
    pub open: &'static str,
    pub reconnecting: &'static str,
    pub next_attempt: &'static str,
    pub retrying_in: &'static str,
    pub unavailable: &'static str,
    pub not_a_stream: &'static str,
    pub unreachable: &'static str,
    pub closed: &'static str,
    pub closed_by_server: &'static str,
    pub offline: &'static str,
    pub paused: &'static str,
    pub received: &'static str,
    pub reconnects: &'static str,
    pub silent_reopens: &'static str,
    pub updated_ago: &'static str,
    pub leader: &'static str,
    pub follower: &'static str,
    pub pause: &'static str,
    pub resume: &'static str,
    pub switch_language: &'static str,
    pub no_js: &'static str,
    pub refresh: &'static str,
    pub no_js_after: &'static str,
    pub event_number: &'static str,
    pub at: &'static str,
    pub waiting: &'static str,
    pub skipped: &'static str,
    pub name: &'static str,
    pub value: &'static str,
    pub chart: &'static str,
    /// Between the chart's values in its text alternative.
    pub list_separator: &'static str,
    pub log: &'static str,
    pub log_id: &'static str,
    pub log_time: &'static str,
    pub log_delay: &'static str,
    pub delay_ms: &'static str,
    pub gap: &'static str,
    pub not_found_title: &'static str,
    pub not_found: &'static str,
    pub back: &'static str,
}

pub const EN: Texts = Texts {
    connection: "Connection: ",
    connecting: "connecting",
    open: "open",
    reconnecting: "reconnecting",
    next_attempt: " · next attempt within {n} s",
    retrying_in: " · retrying in {n} s",
    unavailable: " · server unavailable (HTTP {n})",
    not_a_stream: " · the server did not answer with an event stream",
    unreachable: " · server unreachable",
    closed: "closed",
    closed_by_server: "closed by server",
    offline: "offline",
    paused: "paused",
    received: "{n} events received",
    reconnects: " · {n} reconnects",
    silent_reopens: " · reopened {n} silent links",
    updated_ago: " · updated {n} s ago",
    leader: "This tab holds the connection and shares it with your other tabs.",
    follower: "Shared from another tab's connection.",
    pause: "Pause",
    resume: "Resume",
    switch_language: "中文",
    no_js: "Live updates need JavaScript; this is the table as of loading the page. ",
    refresh: "Refresh",
    no_js_after: " for the latest names.",
    event_number: "Event #",
    at: " at ",
    waiting: "Waiting for the first event…",
    skipped: "Skipped an event that could not be read: ",
    name: "Name",
    value: "Value",
    chart: "Bar chart of the latest 10 values, in table order",
    list_separator: ", ",
    log: "Event log: the last 20 events",
    log_id: "Id",
    log_time: "Sent at",
    log_delay: "Delay",
    delay_ms: "{n} ms",
    gap: "Events before {n} were no longer available; showing the latest.",
    not_found_title: "Not found · livenames",
    not_found: "Page not found. There is nothing here. ",
    back: "Back to the live names",
};

pub const ZH: Texts = Texts {
    connection: "连接：",
    connecting: "正在连接",
    open: "已连接",
    reconnecting: "正在重连",
    next_attempt: " · {n} 秒内再次尝试",
    retrying_in: " · {n} 秒后重试",
    unavailable: " · 服务器暂不可用（HTTP {n}）",
    not_a_stream: " · 服务器返回的不是事件流",
    unreachable: " · 无法连接服务器",
    closed: "已关闭",
    closed_by_server: "服务器已关闭",
    offline: "离线",
    paused: "已暂停",
    received: "已收到 {n} 个事件",
    reconnects: " · 重连 {n} 次",
    silent_reopens: " · 重开 {n} 条无响应的连接",
    updated_ago: " · {n} 秒前更新",
    leader: "此标签页持有连接，并与其他标签页共享。",
    follower: "使用另一个标签页共享的连接。",
    pause: "暂停",
    resume: "继续",
    switch_language: "English",
    no_js: "实时更新需要 JavaScript；这是载入页面时的表格。",
    refresh: "刷新",
    no_js_after: "以查看最新名字。",
    event_number: "事件 #",
    at: "，生成于 ",
    waiting: "正在等待第一个事件…",
    skipped: "跳过了一个无法读取的事件：",
    name: "名字",
    value: "数值",
    chart: "最新 10 个数值的柱状图，顺序与表格相同",
    list_separator: "，",
    log: "事件日志：最近 20 个事件",
    log_id: "编号",
    log_time: "发送时间",
    log_delay: "延迟",
    delay_ms: "{n} 毫秒",
    gap: "{n} 之前的事件已不可用；显示最新事件。",
    not_found_title: "未找到 · livenames",
    not_found: "页面不存在。",
    back: "返回实时名字",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_wins_over_accept_language() {
        assert_eq!(Lang::negotiate(Some("a=1; lang=zh-CN"), Some("en")), Lang::Zh);
        assert_eq!(Lang::negotiate(Some("lang=en"), Some("zh")), Lang::En);
        assert_eq!(Lang::negotiate(Some("lang=fr"), Some("zh")), Lang::Zh);
    }

    #[test]
    fn accept_language_picks_the_best_supported_quality() {
        assert_eq!(Lang::negotiate(None, Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::negotiate(None, Some("fr, en;q=0.5, zh;q=0.7")), Lang::Zh);
        assert_eq!(Lang::negotiate(None, Some("en-GB, zh")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("zh;q=0, en;q=0.1")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("zh_TW;q=1.0")), Lang::Zh);
    }

    #[test]
    fn anything_else_is_english() {
        assert_eq!(Lang::negotiate(None, None), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("fr-FR, de;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("zh;q=2, zh;q=abc, ;;,")), Lang::En);
    }

    #[test]
    fn every_number_template_has_one_place_for_the_number() {
        for texts in [&EN, &ZH] {
            for template in [
                texts.next_attempt,
                texts.retrying_in,
                texts.unavailable,
                texts.received,
                texts.reconnects,
                texts.silent_reopens,
                texts.updated_ago,
                texts.delay_ms,
                texts.gap,
            ] {
                assert_eq!(template.matches("{n}").count(), 1, "{template}");
            }
        }
        assert_eq!(split_at_number("a {n} b"), ("a ", " b"));
    }
}
