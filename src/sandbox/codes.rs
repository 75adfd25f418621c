//! The sandbox's own table of what Feishu answers: per endpoint, each error code with the HTTP
//! status and English `msg` Feishu's documentation lists for it there (docs/feishu-api.md §1–§8,
//! §6b–§6c for delete and task_check).
//! It is kept apart from the client's catalog (assets/error_codes.toml) on purpose: the sandbox
//! is the server that should catch a wrong status or message in the catalog, so it must not
//! answer from it (issue 18 #8). tests/error_catalog.rs holds the two against Feishu's table.
//!
//! The same code can carry another status on another endpoint (docs/feishu-api.md §0: 1061045
//! is 200 on upload_all and upload_finish, 400 on create_folder; 1061001 is 200 on the upload
//! family, 500 on list and create_folder), so each endpoint has its own rows.

/// One row of an endpoint's error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub http: u16,
    pub code: i64,
    pub msg: &'static str,
}

const fn row(http: u16, code: i64, msg: &'static str) -> Row {
    Row { http, code, msg }
}

/// upload_all's table exactly as Feishu publishes it (docs/feishu-api.md §1).
const UPLOAD_ALL_ROWS: &[Row] = &[
    row(200, 1061001, "internal error."),
    row(400, 1061002, "params error."),
    row(404, 1061003, "not found."),
    row(403, 1061004, "forbidden."),
    row(400, 1061021, "upload id expire."),
    row(500, 1061022, "file version conflict."),
    row(400, 1061041, "parent node has been deleted."),
    row(400, 1061042, "parent node out of limit."),
    row(400, 1061043, "file size beyond limit."),
    row(400, 1061044, "parent node not exist."),
    row(200, 1061045, "can retry."),
    row(400, 1061109, "file name cqc not passed."),
    row(400, 1061101, "file quota exceeded."),
    row(403, 1061500, "mount node point kill."),
    row(400, 1062007, "upload user not match."),
    row(400, 1062008, "checksum param Invalid."),
    row(
        400,
        1062009,
        "the actual size is inconsistent with the parameter declaration size.",
    ),
    row(400, 1062010, "block missing, please upload all blocks."),
    row(400, 1062011, "block num out of bounds."),
    row(400, 1061061, "user quota exceeded."),
    row(403, 1061073, "no scope auth."),
    row(200, 1064230, "locked for data migration"),
    row(400, 1062505, "parent node out of size."),
    row(400, 1062506, "parent node out of depth."),
    row(400, 1062507, "parent node out of sibling num."),
];
/// upload_prepare (docs/feishu-api.md §2a); its page leaves 1061045 out, although the write
/// throttle answers it (§0, §2): HTTP 200 as on upload_all and upload_finish (§8).
const UPLOAD_PREPARE: &[Row] = &[
    row(200, 1061001, "internal error."),
    row(400, 1061002, "params error."),
    row(403, 1061004, "forbidden."),
    row(500, 1061022, "file version conflict."),
    row(400, 1061043, "file size beyond limit."),
    row(400, 1061044, "parent node not exist."),
    row(400, 1061109, "file name cqc not passed."),
    row(400, 1061101, "file quota exceeded."),
    row(400, 1061061, "user quota exceeded."),
    row(403, 1061073, "no scope auth."),
    row(200, 1064230, "locked for data migration"),
    row(400, 1062507, "parent node out of sibling num."),
    row(200, 1061045, "can retry."),
];
/// upload_part (docs/feishu-api.md §2b); 1061045 as for upload_prepare.
const UPLOAD_PART: &[Row] = &[
    row(200, 1061001, "internal error."),
    row(400, 1061002, "params error."),
    row(400, 1061021, "upload id expire."),
    row(403, 1061073, "no scope auth."),
    row(400, 1062007, "upload user not match."),
    row(400, 1062008, "checksum param Invalid."),
    row(
        400,
        1062009,
        "the actual size is inconsistent with the parameter declaration size.",
    ),
    row(400, 1062010, "block missing, please upload all blocks."),
    row(400, 1062011, "block num out of bounds."),
    row(200, 1061045, "can retry."),
];
/// upload_finish (docs/feishu-api.md §2c).
const UPLOAD_FINISH: &[Row] = &[
    row(200, 1061001, "internal error."),
    row(400, 1061002, "params error."),
    row(404, 1061003, "not found."),
    row(403, 1061004, "forbidden."),
    row(400, 1061101, "file quota exceeded."),
    row(400, 1061021, "upload id expire."),
    row(500, 1061022, "file version conflict."),
    row(400, 1061041, "parent node has been deleted."),
    row(400, 1061042, "parent node out of limit."),
    row(400, 1061043, "file size beyond limit."),
    row(400, 1061044, "parent node not exist."),
    row(200, 1061045, "can retry."),
    row(400, 1061061, "user quota exceeded."),
    row(403, 1061073, "no scope auth."),
    row(403, 1061500, "mount node point kill."),
    row(400, 1062007, "upload user not match."),
    row(400, 1062010, "block missing, please upload all blocks."),
    row(400, 1062505, "parent node out of size."),
    row(400, 1062506, "parent node out of depth."),
    row(400, 1062507, "parent node out of sibling num."),
];
/// list, `GET drive/v1/files` (docs/feishu-api.md §3a); its page words 1061007 and 1064001
/// as here ("file has been delete.", "page size out of limit.").
const LIST: &[Row] = &[
    row(500, 1061001, "internal error."),
    row(400, 1061002, "params error."),
    row(404, 1061003, "not found."),
    row(403, 1061004, "forbidden."),
    row(401, 1061005, "auth failed."),
    row(404, 1061007, "file has been delete."),
    row(400, 1064001, "page size out of limit."),
];
/// create_folder (docs/feishu-api.md §5): 1061001 is 500 and 1061045 400 with its own message.
const CREATE_FOLDER: &[Row] = &[
    row(500, 1061001, "internal error."),
    row(400, 1061002, "params error."),
    row(404, 1061003, "not found."),
    row(403, 1061004, "forbidden."),
    row(401, 1061005, "auth failed."),
    row(404, 1061007, "file has been delete."),
    row(400, 1062507, "parent node out of sibling num."),
    row(400, 1061045, "resource contention occurred, please retry"),
];
/// delete, `DELETE drive/v1/files/:file_token` (docs/feishu-api.md §6b), with the statuses its page
/// gives; its page gives no messages, so each is the word another Drive page uses for the code.
/// 1061045 (the write family's throttle, §0) is not on the page: upload_all's row, UNCONFIRMED.
const DELETE: &[Row] = &[
    row(400, 1061001, "internal error."),
    row(400, 1061002, "params error."),
    row(404, 1061003, "not found."),
    row(403, 1061004, "forbidden."),
    row(401, 1061005, "auth failed."),
    row(404, 1061007, "file has been delete."),
    row(403, 1062501, "operate node no permission."),
    row(403, 1062502, "operate parent node no permission."),
    row(404, 1065200, "source node not found."),
    row(200, 1061045, "can retry."),
];
/// task_check (docs/feishu-api.md §6c): its page lists the codes without statuses; delete's
/// statuses for them are used (UNCONFIRMED).
const TASK_CHECK: &[Row] = &[
    row(400, 1061001, "internal error."),
    row(400, 1061002, "params error."),
    row(404, 1061003, "not found."),
];
/// root_folder/meta (docs/feishu-api.md §4a). The legacy explorer pages list no HTTP status:
/// 200, as the rest of that API answers (UNCONFIRMED).
const ROOT_META: &[Row] = &[row(200, 91201, "FAILED"), row(200, 91204, "FORBIDDEN")];
/// folder/:token/meta (docs/feishu-api.md §4b); statuses as for ROOT_META.
const FOLDER_META: &[Row] = &[
    row(200, 91201, "FAILED"),
    row(200, 91203, "not found"),
    row(200, 91204, "FORBIDDEN"),
];
/// The v2 token endpoint (docs/feishu-api.md §7a), with the status its page gives each code; its
/// `error_description` is this table's `msg`.
const TOKEN: &[Row] = &[
    row(400, 20001, "missing required parameter"),
    row(400, 20002, "invalid client secret"),
    row(400, 20003, "authorization code not found"),
    row(400, 20004, "authorization code expired"),
    row(400, 20008, "user not exist"),
    row(400, 20009, "app not installed in tenant"),
    row(400, 20010, "user has no permission to use the app"),
    row(400, 20024, "code or refresh token belongs to another app"),
    row(400, 20026, "invalid refresh token"),
    row(400, 20036, "invalid grant_type"),
    row(400, 20037, "refresh token expired"),
    row(400, 20048, "app not exist"),
    row(400, 20049, "PKCE code_verifier check failed"),
    row(500, 20050, "server error"),
    row(400, 20063, "malformed request"),
    row(400, 20064, "refresh token revoked"),
    row(400, 20065, "authorization code already used"),
    row(400, 20066, "user status invalid"),
    row(400, 20067, "duplicate scopes"),
    row(400, 20068, "scope not granted"),
    row(400, 20069, "app disabled"),
    row(400, 20070, "multiple client authentication methods"),
    row(400, 20071, "redirect_uri mismatch"),
    row(503, 20072, "temporarily unavailable"),
    row(400, 20073, "refresh token already used"),
    row(400, 20074, "app not allowed to refresh user_access_token"),
];
/// authen/v1/user_info (docs/feishu-api.md §7e); only 20050's status (500) is documented.
const USER_INFO: &[Row] = &[
    row(400, 20005, "invalid access token"),
    row(400, 20021, "user resigned"),
    row(400, 20022, "user frozen"),
    row(500, 20050, "server error"),
];
/// tenant_access_token/internal (docs/feishu-api.md §7d): 10003 with HTTP 200; the other two's
/// status is UNCONFIRMED.
const TENANT_TOKEN: &[Row] = &[
    row(200, 10003, "invalid param"),
    row(400, 10014, "app is not available"),
    row(400, 10015, "app secret invalid"),
];
/// The gateway's codes, on any endpoint (docs/feishu-api.md §8): 99991400 with HTTP 429 as the
/// newer APIs send it; the token codes with 400 (the doc says only "4xx": UNCONFIRMED).
const GATEWAY: &[Row] = &[
    row(429, 99991400, "request trigger frequency limit"),
    row(400, 99991401, "IP not in the app's whitelist"),
    row(400, 99991403, "tenant API quota exceeded"),
    row(400, 99991543, "app_id or app_secret is invalid"),
    row(400, 99991661, "Missing access token for authorization"),
    row(400, 99991662, "app is disabled"),
    row(400, 99991663, "Invalid access token for authorization"),
    row(400, 99991664, "Invalid app access token"),
    row(400, 99991665, "Invalid tenant access token"),
    row(400, 99991668, "Invalid user access token"),
    row(400, 99991669, "Invalid refresh token"),
    row(400, 99991671, "token format is wrong"),
    row(400, 99991672, "app has not been granted the API scope"),
    row(400, 99991673, "app is not installed"),
    row(400, 99991676, "token lacks required permission"),
    row(400, 99991677, "user access token expired"),
    row(400, 99991679, "user has not granted the scope"),
];
/// upload_all's rows, for the tests that hold the client's catalog and this table to the seed.
pub fn upload_all() -> &'static [Row] {
    UPLOAD_ALL_ROWS
}

/// The rows of one endpoint (the names `gate::Call::endpoint` carries).
pub fn rows(endpoint: &str) -> &'static [Row] {
    match endpoint {
        "upload_all" => UPLOAD_ALL_ROWS,
        "upload_prepare" => UPLOAD_PREPARE,
        "upload_part" => UPLOAD_PART,
        "upload_finish" => UPLOAD_FINISH,
        "list" => LIST,
        "create_folder" => CREATE_FOLDER,
        "delete" => DELETE,
        "task_check" => TASK_CHECK,
        "root_meta" => ROOT_META,
        "folder_meta" => FOLDER_META,
        "token" => TOKEN,
        "user_info" => USER_INFO,
        "tenant_token" => TENANT_TOKEN,
        _ => &[],
    }
}

/// Every endpoint with a table of its own.
pub const ENDPOINTS: [&str; 13] = [
    "upload_all",
    "upload_prepare",
    "upload_part",
    "upload_finish",
    "list",
    "create_folder",
    "delete",
    "task_check",
    "root_meta",
    "folder_meta",
    "token",
    "user_info",
    "tenant_token",
];

fn is_drive(endpoint: &str) -> bool {
    matches!(
        endpoint,
        "upload_all"
            | "upload_prepare"
            | "upload_part"
            | "upload_finish"
            | "list"
            | "create_folder"
            | "delete"
            | "task_check"
            | "root_meta"
            | "folder_meta"
    )
}

/// What Feishu answers `code` with on `endpoint`: the endpoint's own row, else the gateway's;
/// for a Drive code the endpoint's page does not list (a fault injected with `--fault` or
/// `--fail-name`), upload_all's row, the Drive family's fullest table; else `None`.
pub fn answer(code: i64, endpoint: &str) -> Option<Row> {
    let find = |rows: &'static [Row]| rows.iter().find(|row| row.code == code).copied();
    find(rows(endpoint))
        .or_else(|| find(GATEWAY))
        .or_else(|| is_drive(endpoint).then(|| find(UPLOAD_ALL_ROWS)).flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_code_keeps_each_endpoint_s_status() {
        let on = |code, endpoint| answer(code, endpoint).map(|row| (row.http, row.msg));
        assert_eq!(on(1061045, "upload_all"), Some((200, "can retry.")));
        assert_eq!(on(1061045, "upload_finish"), Some((200, "can retry.")));
        assert_eq!(
            on(1061045, "create_folder"),
            Some((400, "resource contention occurred, please retry"))
        );
        assert_eq!(on(1061001, "upload_part"), Some((200, "internal error.")));
        assert_eq!(on(1061001, "list"), Some((500, "internal error.")));
        assert_eq!(on(1061001, "create_folder"), Some((500, "internal error.")));
        assert_eq!(on(1061001, "delete"), Some((400, "internal error.")));
        assert_eq!(on(1061007, "delete"), Some((404, "file has been delete.")));
        // Not on upload_part's page: upload_all's row, the family's word for it.
        assert_eq!(
            on(1061101, "upload_part"),
            Some((400, "file quota exceeded."))
        );
        assert_eq!(on(99991400, "list").map(|(http, _)| http), Some(429));
        assert_eq!(on(20050, "token"), Some((500, "server error")));
        assert_eq!(on(10003, "tenant_token"), Some((200, "invalid param")));
        assert_eq!(
            on(1061101, "token"),
            None,
            "a Drive code is not the token endpoint's"
        );
        assert_eq!(on(424242, "upload_all"), None);
    }

    #[test]
    fn no_endpoint_lists_a_code_twice() {
        for endpoint in ENDPOINTS {
            let rows = rows(endpoint);
            assert!(!rows.is_empty(), "{endpoint}");
            for (index, row) in rows.iter().enumerate() {
                assert!(
                    rows[index + 1..].iter().all(|other| other.code != row.code),
                    "{endpoint} lists {} twice",
                    row.code
                );
                assert!(!row.msg.is_empty(), "{endpoint} {}", row.code);
            }
        }
        assert_eq!(upload_all().len(), 25, "the seed's table has 25 codes");
    }
}
