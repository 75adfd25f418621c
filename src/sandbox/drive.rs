//! Drive endpoints as docs/feishu-api.md §1–§5 and §12 describe them: root and folder meta, paged
//! listing, create_folder, upload_all and prepare / part / finish, with Feishu's validation, and
//! the `file_token` overwrite of §13 in either rollout mode (`--overwrite`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Query, Request};
use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::gate::{fail, ok, Call, Reply, Shared};
use super::server::ConnectionKill;
use super::state::{new_upload_id, now_ms, NodeKind, Upload, BLOCK_SIZE, MAX_CHILDREN, MAX_DEPTH};
use super::Overwrite;

type Ctx = AxState<Arc<Shared>>;

/// upload_all's ceiling (docs/feishu-api.md §1).
const UPLOAD_ALL_MAX: u64 = 20_971_520;
const MAX_FILE_NAME_CHARS: usize = 250;
const MAX_FOLDER_NAME_BYTES: usize = 256;
/// Listing page sizes (docs/feishu-api.md §3a).
const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 200;

fn entry_json(node: &super::state::Node) -> Value {
    let kind = match node.kind {
        NodeKind::Folder => "folder",
        NodeKind::File => "file",
    };
    let url_kind = match node.kind {
        NodeKind::Folder => "drive/folder",
        NodeKind::File => "file",
    };
    json!({
        "token": node.token,
        "name": node.name,
        "type": kind,
        "parent_token": node.parent.clone().unwrap_or_default(),
        "url": format!("https://sandbox.feishu.invalid/{url_kind}/{}", node.token),
        "created_time": node.created.to_string(),
        "modified_time": node.modified.to_string(),
        "owner_id": node.owner,
    })
}

pub async fn root_meta(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    headers: HeaderMap,
) -> Response {
    let call = match shared.admit("root_meta", &headers, kill, false).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let token = shared.state().root_of(&call.user);
    shared.answer(
        &call,
        ok(json!({"token": token, "id": "7000000000000000001", "user_id": call.user})),
    )
}

pub async fn folder_meta(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    UrlPath(folder): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let call = match shared.admit("folder_meta", &headers, kill, false).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let reply = match shared.state().folder(&folder) {
        // The meta API answers in camelCase (docs/feishu-api.md §4b).
        Some(node) => ok(json!({
            "id": format!("{}", node.seq),
            "name": node.name,
            "token": node.token,
            "createUid": node.owner,
            "editUid": node.owner,
            "parentId": node.parent.clone().unwrap_or_else(|| "0".to_string()),
            "ownUid": node.owner,
        })),
        None => fail(91203, "folder_meta"),
    };
    shared.answer(&call, reply)
}

pub async fn list(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let call = match shared.admit("list", &headers, kill, false).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let reply = list_reply(&shared, &call, &query);
    shared.answer(&call, reply)
}

fn list_reply(shared: &Shared, call: &Call, query: &HashMap<String, String>) -> Reply {
    let page_size = match query
        .get("page_size")
        .map(|size| size.trim().parse::<usize>())
    {
        None => DEFAULT_PAGE_SIZE,
        Some(Ok(size)) if (1..=MAX_PAGE_SIZE).contains(&size) => size,
        Some(Ok(size)) if size > MAX_PAGE_SIZE => return fail(1064001, "list"),
        Some(_) => return fail(1061002, "list"),
    };
    let mut state = shared.state();
    let requested = query.get("folder_token").map(String::as_str).unwrap_or("");
    // No folder_token lists the caller's root in one response, without paging (§3a).
    let (folder, paged) = if requested.is_empty() {
        (state.root_of(&call.user), false)
    } else {
        (requested.to_string(), true)
    };
    if state.folder(&folder).is_none() {
        return fail(1061003, "list");
    }
    // Nodes still inside their listing lag (or late commit) are not shown yet.
    let now = now_ms();
    let children: Vec<&super::state::Node> = state
        .children(&folder)
        .into_iter()
        .filter(|node| node.listed_from_ms <= now)
        .collect();
    if !paged {
        let files: Vec<Value> = children.iter().map(|node| entry_json(node)).collect();
        return ok(json!({"files": files, "has_more": false}));
    }
    let offset = match query.get("page_token").filter(|token| !token.is_empty()) {
        None => 0,
        Some(token) => match token
            .strip_prefix("pg")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(offset) => offset,
            None => return fail(1061002, "list"),
        },
    };
    let page: Vec<Value> = children
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|node| entry_json(node))
        .collect();
    let end = offset + page.len();
    if end < children.len() {
        ok(json!({"files": page, "has_more": true, "next_page_token": format!("pg{end}")}))
    } else {
        ok(json!({"files": page, "has_more": false}))
    }
}

/// Why a node cannot go into `parent`, as Feishu's code.
fn placement_error(shared: &Shared, parent: &str, adding_folder: bool) -> Option<i64> {
    let state = shared.state();
    let node = state.folder(parent)?;
    if node.children.len() >= MAX_CHILDREN {
        return Some(1062507);
    }
    if adding_folder && state.depth(parent) + 1 > MAX_DEPTH {
        return Some(1062506);
    }
    None
}

pub async fn create_folder(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let call = match shared.admit("create_folder", &headers, kill, true).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return shared.answer(&call, fail(1061002, "create_folder"));
    };
    let name = body["name"].as_str().unwrap_or_default().to_string();
    let Some(parent) = body["folder_token"].as_str() else {
        return shared.answer(&call, fail(1061002, "create_folder"));
    };
    // Names are 1–256 bytes, not characters (docs/feishu-api.md §5).
    if name.is_empty() || name.len() > MAX_FOLDER_NAME_BYTES {
        return shared.answer(&call, fail(1061002, "create_folder"));
    }
    if let Some(code) = shared.name_rule(&name) {
        return shared.answer(&call, fail(code, "create_folder"));
    }
    let parent = if parent.is_empty() {
        shared.state().root_of(&call.user)
    } else {
        parent.to_string()
    };
    // create_folder lists 1061003 "not found" for a bad parent (docs/feishu-api.md §5); 1061044 is
    // the upload endpoints' word for it.
    if shared.state().folder(&parent).is_none() {
        return shared.answer(&call, fail(1061003, "create_folder"));
    }
    if let Some(code) = placement_error(&shared, &parent, true) {
        return shared.answer(&call, fail(code, "create_folder"));
    }
    let token = shared
        .state()
        .add_node(&parent, &name, NodeKind::Folder, &call.user, 0, 1);
    let url = format!("https://sandbox.feishu.invalid/drive/folder/{token}");
    let empty = json!({"token": "", "url": ""});
    finish_create(
        &shared,
        &call,
        &token,
        ok(json!({"token": token, "url": url})),
        empty,
        true,
    )
    .await
}

/// After a create call stored `token`: the world's faults for creates (`--late-commit`,
/// `--error-after-store`, `--empty-token`), the listing lag, then the usual answer (which
/// `--drop-after` may still lose). An overwrite in place (`new_node` false) is already listed:
/// its late commit only loses the answer.
async fn finish_create(
    shared: &Shared,
    call: &Call,
    token: &str,
    reply: Reply,
    empty_data: Value,
    new_node: bool,
) -> Response {
    let options = &shared.options;
    let mut listed_from = now_ms() + options.listing_lag_ms as i64;
    let late = shared.faults.roll(options.late_commit);
    if late {
        listed_from += options.commit_delay_ms as i64;
    }
    if new_node {
        if let Some(node) = shared.state().nodes.get_mut(token) {
            node.listed_from_ms = listed_from;
        }
    }
    if late {
        shared.log(call, 0, "dropped, committed late");
        call.kill.drop_connection().await;
    }
    if shared.faults.roll(options.error_after_store) {
        return shared.answer(call, fail(1061001, call.endpoint));
    }
    if shared.faults.roll(options.empty_token) {
        return shared.answer(call, ok(empty_data));
    }
    shared.finish(call, reply).await
}

/// Holds a request body to `--link-rate`: called with the bytes read so far, it sleeps until
/// that many bytes would have crossed the link.
struct Link {
    rate: u64,
    started: std::time::Instant,
}

impl Link {
    fn new(rate: u64) -> Link {
        Link {
            rate,
            started: std::time::Instant::now(),
        }
    }

    async fn pace(&self, bytes_so_far: u64) {
        if self.rate == 0 {
            return;
        }
        let due = std::time::Duration::from_secs_f64(bytes_so_far as f64 / self.rate as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }
}

/// A multipart form: text fields, and the `file` part with its length and Adler-32.
struct Form {
    fields: HashMap<String, String>,
    file: Option<FilePart>,
}

struct FilePart {
    bytes: FileBytes,
    len: u64,
    adler32: u32,
}

/// Where a `file` part's bytes went: upload_all's (up to 20 MiB) stream to a temporary file;
/// a block (at most one block_size) is held until it is checked, then written in place.
enum FileBytes {
    Disk(tempfile::TempPath),
    Memory(AlignedBlock),
}

/// Direct I/O wants buffer, offset and length aligned to the device's block; 4 KiB covers
/// the usual ones.
const DIRECT_ALIGN: usize = 4096;

/// A block's bytes in a buffer whose start is `DIRECT_ALIGN`-aligned, so it can go to disk
/// without the page cache (see `write_block`).
struct AlignedBlock {
    buffer: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBlock {
    fn with_capacity(capacity: usize) -> AlignedBlock {
        let buffer = vec![0u8; capacity + DIRECT_ALIGN];
        let start = buffer.as_ptr().align_offset(DIRECT_ALIGN);
        AlignedBlock {
            buffer,
            start,
            len: 0,
        }
    }

    fn extend(&mut self, chunk: &[u8]) {
        let end = self.start + self.len;
        if end + chunk.len() > self.buffer.len() {
            self.buffer.resize(end + chunk.len(), 0);
        }
        self.buffer[end..end + chunk.len()].copy_from_slice(chunk);
        self.len += chunk.len();
    }

    fn bytes(&self) -> &[u8] {
        &self.buffer[self.start..self.start + self.len]
    }
}

/// Reads the form with the `file` part spooled to a temporary file in `spool_dir` when given,
/// else held in memory; over `max_file` bytes is refused. Field order, a missing part filename
/// or content type, and unknown fields are all accepted (§12, the SDKs' habits).
async fn read_form(
    request: Request,
    spool_dir: Option<&Path>,
    max_file: u64,
    link_rate: u64,
) -> Result<Form, i64> {
    let link = Link::new(link_rate);
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| 1061002)?;
    let mut form = Form {
        fields: HashMap::new(),
        file: None,
    };
    while let Some(mut field) = multipart.next_field().await.map_err(|_| 1061002)? {
        let name = field.name().unwrap_or_default().to_string();
        if name != "file" {
            let text = field.text().await.map_err(|_| 1061002)?;
            form.fields.insert(name, text);
            continue;
        }
        let mut hasher = adler2::Adler32::new();
        let mut len = 0u64;
        let mut accept = |chunk: &[u8]| {
            len += chunk.len() as u64;
            hasher.write_slice(chunk);
            if len > max_file {
                Err(1061002)
            } else {
                Ok(())
            }
        };
        let bytes = if let Some(dir) = spool_dir {
            tokio::fs::create_dir_all(dir).await.map_err(|_| 1061001)?;
            let temp = tempfile::NamedTempFile::new_in(dir).map_err(|_| 1061001)?;
            let (std_file, path) = temp.into_parts();
            // Chunks from the socket are small; a 1 MiB buffer keeps the blocking writes few.
            let mut file =
                tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(std_file));
            let mut read = 0u64;
            while let Some(chunk) = field.chunk().await.map_err(|_| 1061002)? {
                accept(&chunk)?;
                file.write_all(&chunk).await.map_err(|_| 1061001)?;
                read += chunk.len() as u64;
                link.pace(read).await;
            }
            file.flush().await.map_err(|_| 1061001)?;
            FileBytes::Disk(path)
        } else {
            let mut block = AlignedBlock::with_capacity(max_file as usize);
            let mut read = 0u64;
            while let Some(chunk) = field.chunk().await.map_err(|_| 1061002)? {
                accept(&chunk)?;
                block.extend(&chunk);
                read += chunk.len() as u64;
                link.pace(read).await;
            }
            FileBytes::Memory(block)
        };
        form.file = Some(FilePart {
            bytes,
            len,
            adler32: hasher.checksum(),
        });
    }
    Ok(form)
}

/// `size` as Feishu reads it: digits only, no trailing space (docs/feishu-api.md §1).
fn parse_size(text: Option<&String>) -> Option<u64> {
    let text = text?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The optional checksum; an empty part (the Python SDK sends one when unset) means absent.
fn checksum_matches(text: Option<&String>, actual: u32) -> Result<(), i64> {
    match text.map(|text| text.trim()).filter(|text| !text.is_empty()) {
        None => Ok(()),
        Some(text) => match text.parse::<u64>() {
            Ok(value) if value == u64::from(actual) => Ok(()),
            _ => Err(1062008),
        },
    }
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// Checks an upload's target folder and name; the code Feishu would answer, if any.
fn upload_target_error(shared: &Shared, call: &Call, name: &str, parent: &str) -> Option<i64> {
    if name.is_empty() || name.chars().count() > MAX_FILE_NAME_CHARS {
        return Some(1061002);
    }
    if let Some(code) = shared.name_rule(name) {
        return Some(code);
    }
    let state = shared.state();
    match state.folder(parent) {
        None => Some(1061044),
        Some(node) if node.owner != call.user => Some(1061004),
        Some(_) => None,
    }
}

fn resolve_parent(shared: &Shared, call: &Call, parent: &str) -> String {
    // larksuite/cli sends "" for the caller's root (docs/feishu-api.md §1).
    if parent.is_empty() {
        shared.state().root_of(&call.user)
    } else {
        parent.to_string()
    }
}

/// Feishu's gateway buffers a whole request before its backend answers (docs/feishu-api.md §12), so
/// a refusal (expired token, throttle) reaches the client only after its body was sent.
async fn after_the_body(request: Request, response: Response) -> Response {
    use futures_util::StreamExt;
    let mut body = request.into_body().into_data_stream();
    while let Some(chunk) = body.next().await {
        if chunk.is_err() {
            break;
        }
    }
    response
}

pub async fn upload_all(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let call = match shared.admit("upload_all", &headers, kill, true).await {
        Ok(call) => call,
        Err(response) => return after_the_body(request, response).await,
    };
    if !is_multipart(&headers) {
        return shared.answer(&call, fail(1061002, "upload_all"));
    }
    let dir = shared.state().data_dir.join("incoming");
    let form = match read_form(
        request,
        Some(&dir),
        UPLOAD_ALL_MAX,
        shared.options.link_rate,
    )
    .await
    {
        Ok(form) => form,
        Err(code) => return shared.answer(&call, fail(code, "upload_all")),
    };
    match store_upload_all(&shared, &call, form) {
        Ok(Stored { token, version }) => {
            let new_node = version.is_none();
            let mut data = json!({"file_token": token});
            if let Some(version) = version {
                data["version"] = json!(version);
            }
            let empty = json!({"file_token": ""});
            finish_create(&shared, &call, &token, ok(data), empty, new_node).await
        }
        Err(code) => shared.answer(&call, fail(code, "upload_all")),
    }
}

/// What an upload stored: a new node (no version), or an overwrite in place and its version.
struct Stored {
    token: String,
    version: Option<String>,
}

/// The token an upload asks to overwrite, when this tenant honours it (docs/feishu-api.md §13):
/// `--overwrite not-rolled-out` ignores the field, as a tenant without the rollout does. An
/// empty value counts as absent.
fn overwrite_target<'a>(shared: &Shared, value: Option<&'a str>) -> Option<&'a str> {
    let value = value.filter(|token| !token.is_empty())?;
    (shared.options.overwrite == Overwrite::RolledOut).then_some(value)
}

/// Whether `token` is a file of this caller in `parent`, which an overwrite may replace.
/// Otherwise: 1061002. No page documents this refusal (UNCONFIRMED); larksuite/cli reads
/// 1061002 on an overwrite as a wrong `file_token` (§13).
fn check_replaceable(shared: &Shared, call: &Call, token: &str, parent: &str) -> Result<(), i64> {
    let state = shared.state();
    match state.nodes.get(token) {
        Some(node)
            if node.kind == NodeKind::File
                && node.parent.as_deref() == Some(parent)
                && node.owner == call.user =>
        {
            Ok(())
        }
        _ => Err(1061002),
    }
}

/// New bytes for `token`, already on disk: size, checksum and modified_time follow, the token,
/// name and created_time stay (whether Drive renames to the `file_name` sent is UNCONFIRMED;
/// larkup sends the same name). Answers the node's new version.
fn replaced(shared: &Shared, token: &str, size: u64, adler32: u32) -> String {
    let mut state = shared.state();
    let version = state.next_version();
    state.touch(token);
    if let Some(node) = state.nodes.get_mut(token) {
        node.size = size;
        node.adler32 = adler32;
        node.version = Some(version.clone());
    }
    version
}

fn store_upload_all(shared: &Shared, call: &Call, form: Form) -> Result<Stored, i64> {
    let name = form.fields.get("file_name").cloned().unwrap_or_default();
    if form.fields.get("parent_type").map(String::as_str) != Some("explorer") {
        return Err(1061002);
    }
    let parent = resolve_parent(
        shared,
        call,
        form.fields.get("parent_node").map_or("", String::as_str),
    );
    let size = parse_size(form.fields.get("size")).ok_or(1061002)?;
    if size == 0 || size > UPLOAD_ALL_MAX {
        return Err(1061002);
    }
    let FilePart {
        bytes: FileBytes::Disk(temp),
        len: received,
        adler32,
    } = form.file.ok_or(1061002)?
    else {
        return Err(1061001);
    };
    if let Some(code) = upload_target_error(shared, call, &name, &parent) {
        return Err(code);
    }
    if received != size {
        return Err(1062009);
    }
    checksum_matches(form.fields.get("checksum"), adler32)?;
    if let Some(token) = overwrite_target(shared, form.fields.get("file_token").map(String::as_str))
    {
        check_replaceable(shared, call, token, &parent)?;
        let target = shared.state().file_path(token);
        persist(temp, &target)?;
        let version = replaced(shared, token, size, adler32);
        return Ok(Stored {
            token: token.to_string(),
            version: Some(version),
        });
    }
    if let Some(code) = placement_error(shared, &parent, false) {
        return Err(code);
    }
    let token = shared
        .state()
        .add_node(&parent, &name, NodeKind::File, &call.user, size, adler32);
    let target = shared.state().file_path(&token);
    persist(temp, &target)?;
    Ok(Stored {
        token,
        version: None,
    })
}

fn persist(temp: tempfile::TempPath, target: &Path) -> Result<(), i64> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|_| 1061001)?;
    }
    temp.persist(target).map(|_| ()).map_err(|_| 1061001)
}

pub async fn upload_prepare(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let call = match shared.admit("upload_prepare", &headers, kill, true).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let reply = prepare_reply(&shared, &call, &body);
    shared.answer(&call, reply)
}

fn prepare_reply(shared: &Shared, call: &Call, body: &[u8]) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return fail(1061002, "upload_prepare");
    };
    let name = body["file_name"].as_str().unwrap_or_default().to_string();
    // Prepare wants the key present; "" is the root (docs/feishu-api.md §2a).
    let (Some(parent), Some("explorer"), Some(size)) = (
        body["parent_node"].as_str(),
        body["parent_type"].as_str(),
        body["size"].as_u64(),
    ) else {
        return fail(1061002, "upload_prepare");
    };
    if size == 0 {
        return fail(1061002, "upload_prepare");
    }
    if shared.options.max_file_size.is_some_and(|max| size > max) {
        return fail(1061043, "upload_prepare");
    }
    let parent = resolve_parent(shared, call, parent);
    if let Some(code) = upload_target_error(shared, call, &name, &parent) {
        return fail(code, "upload_prepare");
    }
    let replaces = overwrite_target(shared, body["file_token"].as_str()).map(str::to_string);
    if let Some(token) = &replaces {
        if let Err(code) = check_replaceable(shared, call, token, &parent) {
            return fail(code, "upload_prepare");
        }
    } else if let Some(code) = placement_error(shared, &parent, false) {
        return fail(code, "upload_prepare");
    }
    let block_num = size.div_ceil(BLOCK_SIZE);
    let upload_id = new_upload_id();
    shared.state().uploads.insert(
        upload_id.clone(),
        Upload {
            owner: call.user.clone(),
            parent,
            name,
            size,
            block_num,
            created_ms: now_ms(),
            blocks: Default::default(),
            replaces,
        },
    );
    ok(json!({"upload_id": upload_id, "block_size": BLOCK_SIZE, "block_num": block_num}))
}

/// The upload, or the code for why it cannot be used by this caller.
fn live_upload(shared: &Shared, call: &Call, upload_id: &str) -> Result<Upload, i64> {
    let state = shared.state();
    let upload = state.uploads.get(upload_id).ok_or(1061021)?;
    if now_ms() - upload.created_ms >= shared.options.upload_ttl.saturating_mul(1000) as i64 {
        return Err(1061021);
    }
    if upload.owner != call.user {
        return Err(1062007);
    }
    Ok(upload.clone())
}

pub async fn upload_part(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let mut call = match shared.admit("upload_part", &headers, kill, true).await {
        Ok(call) => call,
        Err(response) => return after_the_body(request, response).await,
    };
    if !is_multipart(&headers) {
        return shared.answer(&call, fail(1061002, "upload_part"));
    }
    let form = match read_form(request, None, BLOCK_SIZE, shared.options.link_rate).await {
        Ok(form) => form,
        Err(code) => return shared.answer(&call, fail(code, "upload_part")),
    };
    call.upload_id = form.fields.get("upload_id").cloned();
    call.seq = form
        .fields
        .get("seq")
        .and_then(|seq| seq.trim().parse().ok());
    let reply = match store_part(&shared, &call, form).await {
        Ok(()) => ok(json!({})),
        Err(code) => fail(code, "upload_part"),
    };
    shared.finish(&call, reply).await
}

async fn store_part(shared: &Shared, call: &Call, form: Form) -> Result<(), i64> {
    let upload_id = call
        .upload_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or(1061002)?;
    let seq = parse_size(form.fields.get("seq")).ok_or(1061002)?;
    let size = parse_size(form.fields.get("size")).ok_or(1061002)?;
    let upload = live_upload(shared, call, &upload_id)?;
    if seq >= upload.block_num {
        return Err(1062011);
    }
    let FilePart {
        bytes: FileBytes::Memory(bytes),
        len: received,
        adler32,
    } = form.file.ok_or(1061002)?
    else {
        return Err(1061001);
    };
    // Every block is block_size bytes except the last (docs/feishu-api.md §2b).
    let expected = BLOCK_SIZE.min(upload.size - seq * BLOCK_SIZE);
    if received != size || size != expected {
        return Err(1062009);
    }
    checksum_matches(form.fields.get("checksum"), adler32)?;
    // Checked before it is written, so a bad resend never spoils a block already accepted;
    // a block sent again overwrites the first (idempotent by seq).
    let path = shared.state().upload_path(&upload_id);
    tokio::task::spawn_blocking(move || write_block(&path, seq * BLOCK_SIZE, &bytes))
        .await
        .map_err(|_| 1061001)?
        .map_err(|_| 1061001)?;
    if let Some(upload) = shared.state().uploads.get_mut(&upload_id) {
        upload.blocks.insert(seq, adler32);
    }
    Ok(())
}

/// Writes a block at its offset. On Linux the aligned part goes with O_DIRECT: this machine
/// class copies into the page cache at a quarter of the disk's direct speed
/// (docs/benchmarks.md), and the sandbox must not be what a benchmark measures. Where direct I/O is
/// refused (tmpfs, other systems) everything goes through the page cache.
fn write_block(path: &Path, offset: u64, block: &AlignedBlock) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(false);
    let bytes = block.bytes();
    let mut written = 0;
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let aligned = bytes.len() / DIRECT_ALIGN * DIRECT_ALIGN;
        if aligned > 0 && offset.is_multiple_of(DIRECT_ALIGN as u64) {
            let direct = options
                .clone()
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .and_then(|file| file.write_all_at(&bytes[..aligned], offset));
            if direct.is_ok() {
                written = aligned;
            }
        }
    }
    if written < bytes.len() {
        let mut file = options.open(path)?;
        file.seek(SeekFrom::Start(offset + written as u64))?;
        file.write_all(&bytes[written..])?;
    }
    Ok(())
}

pub async fn upload_finish(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut call = match shared.admit("upload_finish", &headers, kill, true).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    call.upload_id = body["upload_id"].as_str().map(str::to_string);
    match finish_upload(&shared, &call, &body).await {
        // An overwrite's finish carries no `version` (docs/feishu-api.md §13).
        Ok((token, new_node)) => {
            let reply = ok(json!({"file_token": token}));
            let empty = json!({"file_token": ""});
            finish_create(&shared, &call, &token, reply, empty, new_node).await
        }
        Err(code) => shared.finish(&call, fail(code, "upload_finish")).await,
    }
}

/// The finished file's token, and whether it is a new node (not an overwrite in place).
async fn finish_upload(shared: &Shared, call: &Call, body: &Value) -> Result<(String, bool), i64> {
    let upload_id = call
        .upload_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or(1061002)?;
    let block_num = body["block_num"].as_u64().ok_or(1061002)?;
    let upload = live_upload(shared, call, &upload_id)?;
    if block_num != upload.block_num {
        return Err(1061002);
    }
    if (0..upload.block_num).any(|seq| !upload.blocks.contains_key(&seq)) {
        return Err(1062010);
    }
    // Node limits are enforced at finish too (docs/feishu-api.md §2c).
    if shared.state().folder(&upload.parent).is_none() {
        return Err(1061044);
    }
    // The whole file's Adler-32 from the blocks' own, in order: nothing is read again.
    let adler32 = upload.blocks.iter().fold(1u32, |whole, (seq, block)| {
        let len = BLOCK_SIZE.min(upload.size - seq * BLOCK_SIZE);
        adler32_combine(whole, *block, len)
    });
    if let Some(token) = &upload.replaces {
        // The file may have gone since prepare: the same refusal as there (UNCONFIRMED).
        check_replaceable(shared, call, token, &upload.parent)?;
        let (source, target) = {
            let mut state = shared.state();
            state.uploads.remove(&upload_id);
            (state.upload_path(&upload_id), state.file_path(token))
        };
        std::fs::rename(source, target).map_err(|_| 1061001)?;
        replaced(shared, token, upload.size, adler32);
        return Ok((token.clone(), false));
    }
    if let Some(code) = placement_error(shared, &upload.parent, false) {
        return Err(code);
    }
    let token = {
        let mut state = shared.state();
        state.uploads.remove(&upload_id);
        state.add_node(
            &upload.parent,
            &upload.name,
            NodeKind::File,
            &call.user,
            upload.size,
            adler32,
        )
    };
    let (source, target) = {
        let state = shared.state();
        (state.upload_path(&upload_id), state.file_path(&token))
    };
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|_| 1061001)?;
    }
    std::fs::rename(source, target).map_err(|_| 1061001)?;
    Ok((token, true))
}

/// The Adler-32 of `A ++ B` from adler(A), adler(B) and B's length (zlib's adler32_combine).
fn adler32_combine(first: u32, second: u32, second_len: u64) -> u32 {
    const BASE: u64 = 65521;
    let rem = second_len % BASE;
    let a1 = u64::from(first & 0xffff);
    let b1 = u64::from(first >> 16);
    let a2 = u64::from(second & 0xffff);
    let b2 = u64::from(second >> 16);
    let a = (a1 + a2 + BASE - 1) % BASE;
    let b = (rem * a1 + b1 + b2 + BASE - rem) % BASE;
    ((b << 16) | a) as u32
}

/// GET /__sandbox/state: what is stored and every call answered (no auth; loopback only).
pub async fn inspect(AxState(shared): Ctx) -> Json<super::state::Inspection> {
    Json(shared.state().inspect())
}

#[cfg(test)]
mod tests {
    use super::adler32_combine;

    fn adler(bytes: &[u8]) -> u32 {
        adler2::adler32_slice(bytes)
    }

    #[test]
    fn combined_block_checksums_equal_the_whole_files() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for split in [0, 1, 65_520, 65_521, 65_522, 100_000, 200_000] {
            let (head, tail) = data.split_at(split);
            assert_eq!(
                adler32_combine(adler(head), adler(tail), tail.len() as u64),
                adler(&data),
                "split at {split}"
            );
        }
    }
}
