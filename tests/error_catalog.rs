//! The client's catalog (assets/error_codes.toml) and the sandbox's own table
//! (src/sandbox/codes.rs) agree with Feishu's published upload_all error table
//! (tests/data/upload_all_errors.md, the rows as Feishu publishes them): every code with
//! Feishu's HTTP status and message, and in the catalog a hint in both languages. The sandbox
//! answers from its table, not the catalog, so a wrong row in the catalog shows here and in
//! every test that meets the sandbox's answer (issue 18 #8).

use larkup::feishu::errors::{ErrorCatalog, Lang, RetryClass};
use larkup::sandbox::codes;

/// `(http, code, message)` rows of the published 错误码 table.
fn seed_rows() -> Vec<(u16, i64, String)> {
    let text = include_str!("data/upload_all_errors.md");
    let table = text
        .split("### 错误码")
        .nth(1)
        .expect("the copy has the error-code table");
    table
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            let http = cells.first()?.parse().ok()?;
            let code = cells.get(1)?.parse().ok()?;
            Some((http, code, cells.get(2)?.to_string()))
        })
        .collect()
}

#[test]
fn every_seed_code_has_status_message_and_both_hints() {
    let rows = seed_rows();
    assert_eq!(rows.len(), 25, "Feishu's table has 25 codes");
    let catalog = ErrorCatalog::global();
    let mut wrong = Vec::new();
    for (http, code, message) in rows {
        let Some(info) = catalog.get(code) else {
            wrong.push(format!("{code}: missing from assets/error_codes.toml"));
            continue;
        };
        if info.http != http || info.http_status_on("upload_all") != http {
            wrong.push(format!(
                "{code}: HTTP {} (on upload_all {}), Feishu says {http}",
                info.http,
                info.http_status_on("upload_all")
            ));
        }
        if info.message != message {
            wrong.push(format!(
                "{code}: message {:?}, Feishu says {message:?}",
                info.message
            ));
        }
        if info.hint_zh.trim().is_empty() || info.hint_en.trim().is_empty() {
            wrong.push(format!("{code}: a hint is empty"));
        }
        if !info
            .hint_zh
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
        {
            wrong.push(format!("{code}: the zh hint is not Chinese"));
        }
    }
    assert!(
        wrong.is_empty(),
        "the catalog disagrees with Feishu:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_sandbox_answers_upload_all_with_feishu_s_rows() {
    let seed = seed_rows();
    let sandbox: Vec<(u16, i64, String)> = codes::upload_all()
        .iter()
        .map(|row| (row.http, row.code, row.msg.to_string()))
        .collect();
    assert_eq!(sandbox, seed, "src/sandbox/codes.rs's upload_all table");
    for (http, code, message) in &seed {
        let row = codes::answer(*code, "upload_all").expect("answered");
        assert_eq!((row.http, row.msg), (*http, message.as_str()), "{code}");
    }
}

/// Beyond upload_all: on every endpoint the sandbox has a table for, the catalog expects the
/// status that endpoint's page gives each code (`http_on`), and its message is Feishu's word
/// for the code on one of them.
#[test]
fn the_catalog_expects_each_endpoint_s_status() {
    let catalog = ErrorCatalog::global();
    let mut wrong = Vec::new();
    for endpoint in codes::ENDPOINTS {
        for row in codes::rows(endpoint) {
            let Some(info) = catalog.get(row.code) else {
                wrong.push(format!("{endpoint} {}: missing from the catalog", row.code));
                continue;
            };
            if info.http_status_on(endpoint) != row.http {
                wrong.push(format!(
                    "{endpoint} {}: the catalog expects HTTP {}, Feishu's page says {}",
                    row.code,
                    info.http_status_on(endpoint),
                    row.http
                ));
            }
        }
    }
    for code in catalog.codes().filter(|code| *code > 0) {
        let info = catalog.get(code).expect("listed");
        let words: Vec<&str> = codes::ENDPOINTS
            .iter()
            .filter_map(|endpoint| codes::answer(code, endpoint))
            .filter(|row| row.code == code)
            .map(|row| row.msg)
            .collect();
        if !words.is_empty() && !words.contains(&info.message.as_str()) {
            wrong.push(format!(
                "{code}: message {:?}, Feishu's pages say {words:?}",
                info.message
            ));
        }
    }
    wrong.sort();
    assert!(
        wrong.is_empty(),
        "the catalog disagrees with Feishu's pages:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn retry_classes_follow_the_engine_rules() {
    let catalog = ErrorCatalog::global();
    for code in [1061045, 1061001, 1064230, 99991400] {
        assert_eq!(catalog.retry_class(code), RetryClass::Retry, "{code}");
    }
    assert_eq!(catalog.retry_class(1061021), RetryClass::RestartUpload);
    assert_eq!(catalog.retry_class(99991677), RetryClass::RefreshToken);
    for code in [1062507, 1061101, 20064, 20073] {
        assert_eq!(catalog.retry_class(code), RetryClass::Fail, "{code}");
    }
    // docs/feishu-api.md §8: only an unusable refresh token ends a login; a wrong app secret
    // (20002) or a transient token-endpoint error (20050) must not clear it.
    for code in [20026, 20037, 20064, 20073, 99991669] {
        assert!(catalog.ends_login(code), "{code}");
    }
    for code in [20002, 20050, 99991677, 1061045] {
        assert!(!catalog.ends_login(code), "{code}");
    }
}

#[test]
fn the_oauth_and_gateway_codes_are_known() {
    let catalog = ErrorCatalog::global();
    for code in [
        1064001, 99991661, 99991663, 99991668, 99991672, 99991679, 20037, 20049, 20064, 20071,
    ] {
        assert!(catalog.get(code).is_some(), "{code} missing");
    }
}

#[test]
fn an_unknown_code_gets_a_hint_naming_it_and_the_log_id() {
    let catalog = ErrorCatalog::global();
    for lang in [Lang::Zh, Lang::En] {
        let hint = catalog.hint(424242, Some("20261124abc"), lang);
        assert!(
            hint.contains("424242") && hint.contains("20261124abc"),
            "{hint}"
        );
    }
    assert!(catalog.hint(1062507, None, Lang::Zh).contains("1500"));
}
