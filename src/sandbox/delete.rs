//! Delete into the recycle bin and the folder delete's task (docs/feishu-api.md §6b, §6c).
//! A file goes at once; a folder answers a `task_id` and leaves the listing, with its subtree,
//! when `task_check` sees the task finish. The task advances with its polls rather than a clock,
//! so a test waits on answers, not time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::gate::{fail, ok, Call, Reply, Shared};
use super::server::ConnectionKill;
use super::state::{new_upload_id, DeleteTask, NodeKind};

type Ctx = AxState<Arc<Shared>>;

/// The `type` values delete takes (docs/feishu-api.md §6b).
const TYPES: &[&str] = &[
    "file", "docx", "bitable", "folder", "doc", "sheet", "mindnote", "shortcut", "slides",
];

/// What a delete does once its checks pass.
enum Plan {
    File(String),
    /// A folder: the task already running for it, or a new one.
    Folder(String),
}

/// `DELETE /open-apis/drive/v1/files/:file_token?type=…`, a write-family call (§0, §6b).
pub async fn delete(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    UrlPath(token): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let call = match shared.admit("delete", &headers, kill, true).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let kind = query.get("type").map(String::as_str).unwrap_or_default();
    let plan = match plan(&shared, &call, &token, kind) {
        Ok(plan) => plan,
        Err(code) => return shared.answer(&call, fail(code, "delete")),
    };
    let late = shared.faults.roll(shared.options.late_commit);
    let reply = match plan {
        Plan::File(token) if late => {
            // The gateway lost the answer; the backend still deletes, a little later.
            let delay = Duration::from_millis(shared.options.commit_delay_ms);
            let (later, user) = (shared.clone(), call.user.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                later.state().move_to_bin(&token, &user);
            });
            ok(json!({}))
        }
        Plan::File(token) => {
            shared.state().move_to_bin(&token, &call.user);
            ok(json!({}))
        }
        Plan::Folder(folder) => ok(json!({"task_id": folder_task(&shared, &call, &folder)})),
    };
    if late {
        shared.log(&call, 0, "dropped, committed late");
        call.kill.drop_connection().await;
    }
    shared.finish(&call, reply).await
}

/// Checks a delete of `token` as `kind`; the code Feishu's page lists for each refusal.
fn plan(shared: &Shared, call: &Call, token: &str, kind: &str) -> Result<Plan, i64> {
    if !TYPES.contains(&kind) {
        return Err(1061002);
    }
    let state = shared.state();
    let Some(node) = state.nodes.get(token) else {
        // Already in the recycle bin: 1061007, which larksuite/cli counts as done (§6b). A
        // token never seen: 1061003.
        return Err(if state.bin.iter().any(|entry| entry.token == token) {
            1061007
        } else {
            1061003
        });
    };
    let actual = match node.kind {
        NodeKind::File => "file",
        NodeKind::Folder => "folder",
    };
    // A `type` that does not match the token: the page names no code for it; 1061003, as
    // batch_query folds "not found or type mismatch" into one (§6a). UNCONFIRMED.
    if kind != actual {
        return Err(1061003);
    }
    // My Space's root is nobody's to delete (UNCONFIRMED: 1061004 "forbidden.").
    if node.parent.is_none() {
        return Err(1061004);
    }
    if node.owner != call.user {
        return Err(1062501);
    }
    Ok(match node.kind {
        NodeKind::File => Plan::File(token.to_string()),
        NodeKind::Folder => Plan::Folder(token.to_string()),
    })
}

/// The task deleting `folder`: the one still running for it (a repeated delete, e.g. after a
/// lost answer, gets the same id: UNCONFIRMED), or a new one.
fn folder_task(shared: &Shared, call: &Call, folder: &str) -> String {
    let mut state = shared.state();
    if let Some(task) = state
        .tasks
        .values()
        .find(|task| task.folder == folder && task.status == "process")
    {
        return task.task_id.clone();
    }
    let task_id = new_upload_id();
    state.tasks.insert(
        task_id.clone(),
        DeleteTask {
            task_id: task_id.clone(),
            folder: folder.to_string(),
            user: call.user.clone(),
            polls_left: shared.options.delete_task_polls,
            status: "process".to_string(),
        },
    );
    task_id
}

/// `GET /open-apis/drive/v1/files/task_check?task_id=…` (§6c): `process` for the first
/// `--delete-task-polls` polls, then the folder goes to the bin and the task says `success`
/// (`fail` when the folder was gone by then).
pub async fn task_check(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let call = match shared.admit("task_check", &headers, kill, false).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let reply = check(&shared, &call, query.get("task_id").map(String::as_str));
    shared.answer(&call, reply)
}

fn check(shared: &Shared, call: &Call, task_id: Option<&str>) -> Reply {
    let Some(task_id) = task_id.filter(|id| !id.is_empty()) else {
        return fail(1061002, "task_check");
    };
    let mut state = shared.state();
    let Some(task) = state
        .tasks
        .get_mut(task_id)
        .filter(|task| task.user == call.user)
    else {
        return fail(1061003, "task_check");
    };
    if task.status == "process" {
        if task.polls_left > 0 {
            task.polls_left -= 1;
        } else {
            let (folder, user) = (task.folder.clone(), task.user.clone());
            let moved = state.move_to_bin(&folder, &user);
            if let Some(task) = state.tasks.get_mut(task_id) {
                task.status = if moved { "success" } else { "fail" }.to_string();
            }
        }
    }
    let status = state
        .tasks
        .get(task_id)
        .map(|task| task.status.clone())
        .unwrap_or_default();
    ok(json!({ "status": status }))
}
