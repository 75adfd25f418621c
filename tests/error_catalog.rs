//! The catalog knows every code of the product's source document (Feishu's upload_all page,
//! copied to tests/fixtures/upload_all.md), with Feishu's status and message and a hint in
//! both languages.

use larkup::feishu::errors::{ErrorCatalog, Lang, RetryClass};

/// `(http, code, 描述)` rows of the seed's 错误码 table.
fn seed_rows() -> Vec<(u16, i64, String)> {
    let text = include_str!("fixtures/upload_all.md");
    let table = text
        .split("### 错误码")
        .nth(1)
        .expect("the seed has an error-code table");
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
    assert_eq!(rows.len(), 25, "the seed's table has 25 codes");
    let catalog = ErrorCatalog::global();
    for (http, code, message) in rows {
        let info = catalog
            .get(code)
            .unwrap_or_else(|| panic!("{code} is missing from assets/error_codes.toml"));
        assert_eq!(info.http, http, "{code}: HTTP status differs from the seed");
        assert_eq!(
            info.message, message,
            "{code}: message differs from the seed"
        );
        assert!(!info.hint_zh.trim().is_empty(), "{code}: no zh hint");
        assert!(!info.hint_en.trim().is_empty(), "{code}: no en hint");
        assert!(
            info.hint_zh
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{code}: zh hint is not Chinese"
        );
    }
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
