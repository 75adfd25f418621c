//! Per-token scopes (docs/feishu-api.md §17): what each endpoint asks of the caller's token,
//! the scopes the sandbox's app has enabled, and the refusal a call without them gets.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::gate::{with_log_id, Reply};

/// What the sandbox's app has enabled unless `--app-scope` says otherwise: every scope a
/// Drive uploader may ask for (docs/feishu-api.md §7e, §6b). Pasted and demo tokens carry all
/// of them, so a token from `larkup sandbox` works on every endpoint.
pub const APP_DEFAULT: &[&str] = &[
    "drive:drive",
    "drive:file",
    "drive:file:upload",
    "space:folder:create",
    "drive:drive:readonly",
    "space:document:retrieve",
    "drive:drive.metadata:readonly",
    "space:document:delete",
    "offline_access",
];

/// The scopes of which `endpoint` wants any one (docs/feishu-api.md §7e, §4a, §6b, §6c); an
/// empty list asks for none (the OAuth side, user_info).
pub fn required(endpoint: &str) -> &'static [&'static str] {
    match endpoint {
        "upload_all" | "upload_prepare" | "upload_part" | "upload_finish" => {
            &["drive:drive", "drive:file", "drive:file:upload"]
        }
        "create_folder" => &["drive:drive", "space:folder:create"],
        "list" => &[
            "drive:drive",
            "drive:drive:readonly",
            "space:document:retrieve",
        ],
        // §4a names only these two; larkup's own table also counts drive:drive:readonly
        // (src/feishu/auth.rs), which the sandbox accepts so as not to be stricter than the
        // client's advice (UNCONFIRMED either way).
        "root_meta" | "folder_meta" => &[
            "drive:drive",
            "drive:drive.metadata:readonly",
            "drive:drive:readonly",
        ],
        "delete" => &["drive:drive", "space:document:delete"],
        // task_check's page lists no scope: UNCONFIRMED. The delete's own scopes, and reading
        // Drive, are taken as enough.
        "task_check" => &[
            "drive:drive",
            "space:document:delete",
            "drive:drive:readonly",
        ],
        _ => &[],
    }
}

/// The app's enabled scopes: `--app-scope` values, or `APP_DEFAULT`.
pub fn app_enabled(configured: &[String]) -> Vec<String> {
    if configured.is_empty() {
        APP_DEFAULT.iter().map(|scope| scope.to_string()).collect()
    } else {
        configured.to_vec()
    }
}

/// What a login asking `requested` (space-separated) is granted: only what the app has enabled.
/// The device flow leaves the rest out silently (docs/feishu-api.md §17); the authorize page
/// would show 20027 instead, which the sandbox does not model.
pub fn grant(requested: &str, enabled: &[String]) -> Vec<String> {
    let mut granted: Vec<String> = Vec::new();
    for scope in requested.split_whitespace() {
        if enabled.iter().any(|have| have == scope) && !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_string());
        }
    }
    granted
}

/// Why a token cannot make this call, if it cannot: `Some((code, needed))`.
/// 99991672 when the app has none of the scopes enabled (a tenant token holds exactly the app's,
/// so it always gets this one); 99991679 when the app has one but this user token lacks it
/// (docs/feishu-api.md §17).
pub fn refusal(
    endpoint: &str,
    token_scopes: &[String],
    app_scopes: &[String],
    user_token: bool,
) -> Option<(i64, &'static [&'static str])> {
    let needed = required(endpoint);
    let has = |set: &[String]| needed.iter().any(|scope| set.iter().any(|s| s == scope));
    if needed.is_empty() || has(token_scopes) {
        return None;
    }
    if !has(app_scopes) || !user_token {
        return Some((99991672, needed));
    }
    Some((99991679, needed))
}

/// The refusal's body as §17 describes it: the scopes named in `msg` and in
/// `error.permission_violations`, with a console link in `helps` for 99991672. The HTTP status is
/// UNCONFIRMED (key on `code`); the gateway table's 400 is used.
pub fn refused(code: i64, needed: &[&str], app_id: &str) -> Reply {
    let list = needed.join(", ");
    let (msg, kind) = if code == 99991672 {
        (
            format!("Access denied. One of the following scopes is required: [{list}]."),
            "action_scope_required",
        )
    } else {
        (
            format!(
                "Unauthorized. You do not have permission to perform the requested operation \
                 on the resource. Please request user re-authorization and try again. required \
                 one of these privileges: [{list}]"
            ),
            "action_privilege_required",
        )
    };
    let violations: Vec<_> = needed
        .iter()
        .map(|scope| json!({"type": kind, "subject": scope}))
        .collect();
    let mut error = json!({"permission_violations": violations});
    if code == 99991672 {
        let first = needed.first().copied().unwrap_or_default();
        error["helps"] = json!([{
            "url": format!("https://open.feishu.cn/app/{app_id}/auth?q={first}"),
            "description": "Enable one of the scopes in the developer console, then publish a version.",
        }]);
    }
    let status = super::codes::answer(code, "").map_or(400, |row| row.http);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    Reply {
        code,
        response: with_log_id(
            (
                status,
                Json(json!({"code": code, "msg": msg, "data": {}, "error": error})),
            )
                .into_response(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|scope| scope.to_string()).collect()
    }

    #[test]
    fn a_missing_scope_is_the_app_s_or_the_user_s() {
        let app = set(APP_DEFAULT);
        let upload_only = set(&["drive:file:upload"]);
        assert_eq!(refusal("upload_all", &upload_only, &app, true), None);
        assert_eq!(
            refusal("delete", &upload_only, &app, true).map(|(code, _)| code),
            Some(99991679),
            "the app has it, the user's token does not"
        );
        let narrow_app = set(&["drive:file:upload"]);
        assert_eq!(
            refusal("delete", &upload_only, &narrow_app, true).map(|(code, _)| code),
            Some(99991672)
        );
        assert_eq!(
            refusal("delete", &upload_only, &app, false).map(|(code, _)| code),
            Some(99991672),
            "a tenant token holds the app's scopes"
        );
        assert_eq!(refusal("user_info", &[], &app, true), None);
    }

    #[test]
    fn a_login_gets_only_what_the_app_enabled() {
        let enabled = set(&["drive:file:upload", "offline_access"]);
        assert_eq!(
            grant(
                "drive:file:upload space:document:delete offline_access",
                &enabled
            ),
            set(&["drive:file:upload", "offline_access"])
        );
    }
}
