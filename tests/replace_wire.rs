//! The wire under issue 20 (replace and mirror), through larkup's own client against the
//! sandbox: delete into the recycle bin, the folder delete's task, `modified_time` moving with
//! each write, the `file_token` overwrite in both rollout modes, and per-token scopes
//! (docs/feishu-api.md §6b, §6c, §13, §17).

use std::time::{Duration, Instant};

use larkup::feishu::client::{Client, Credentials, Secret};
use larkup::feishu::{Drive, DriveEntry, Error, TaskStatus};
use larkup::sandbox::{Overwrite, Sandbox, SandboxOptions, DEFAULT_USER};
use serde_json::Value;

/// No throttle: these tests are about what each call does, not about pacing (one test below
/// is about pacing and sets its own).
fn unpaced() -> SandboxOptions {
    SandboxOptions {
        qps: 0,
        list_qps: 0,
        ..SandboxOptions::default()
    }
}

fn in_mode(overwrite: Overwrite) -> SandboxOptions {
    SandboxOptions {
        overwrite,
        ..unpaced()
    }
}

async fn sandbox(options: SandboxOptions) -> Sandbox {
    Sandbox::start(options).await.expect("sandbox starts")
}

fn drive_with(sandbox: &Sandbox, token: &str) -> Drive {
    let client =
        Client::new(&sandbox.base_url(), Credentials::new(Secret::new(token))).expect("client");
    Drive::new(client)
}

fn drive(sandbox: &Sandbox) -> Drive {
    drive_with(sandbox, &sandbox.access_token())
}

fn code(err: &Error) -> i64 {
    err.api().map_or(-1, |api| api.code)
}

async fn upload(drive: &Drive, parent: &str, name: &str, bytes: &[u8]) -> String {
    drive
        .upload_all(
            parent,
            name,
            std::io::Cursor::new(bytes.to_vec()),
            bytes.len() as u64,
            adler2::adler32_slice(bytes),
        )
        .await
        .expect("upload_all")
}

async fn replace_all(
    drive: &Drive,
    parent: &str,
    old: &str,
    name: &str,
    bytes: &[u8],
) -> Result<larkup::feishu::Uploaded, Error> {
    drive
        .upload_all_replacing(
            parent,
            old,
            name,
            std::io::Cursor::new(bytes.to_vec()),
            bytes.len() as u64,
            adler2::adler32_slice(bytes),
        )
        .await
}

/// prepare (over `old`), one part, finish: the chunked path's token.
async fn replace_chunked(
    drive: &Drive,
    parent: &str,
    old: &str,
    name: &str,
    bytes: &[u8],
) -> Result<String, Error> {
    let size = bytes.len() as u64;
    let plan = drive
        .upload_prepare_replacing(parent, name, size, old)
        .await?;
    assert_eq!(plan.block_num, 1, "a small file is one block");
    drive
        .upload_part(
            &plan.upload_id,
            0,
            bytes::Bytes::from(bytes.to_vec()),
            adler2::adler32_slice(bytes),
        )
        .await?;
    drive.upload_finish(&plan.upload_id, plan.block_num).await
}

fn stored(sandbox: &Sandbox, token: &str) -> Vec<u8> {
    std::fs::read(sandbox.stored_path(token).expect("a stored file")).expect("readable")
}

fn named<'a>(entries: &'a [DriveEntry], name: &str) -> Vec<&'a DriveEntry> {
    entries.iter().filter(|entry| entry.name == name).collect()
}

/// Waits (bounded) until `check` holds on the folder's listing.
async fn until_listing(drive: &Drive, folder: &str, check: impl Fn(&[DriveEntry]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let entries = drive.list_folder(folder).await.expect("listing");
        if check(&entries) {
            return;
        }
        assert!(Instant::now() < deadline, "the listing never changed");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_deleted_file_leaves_the_listing_for_the_recycle_bin() {
    let sandbox = sandbox(unpaced()).await;
    let drive = drive(&sandbox);
    let root = sandbox.root_token();
    let keep = upload(&drive, &root, "keep.txt", b"keep").await;
    let gone = upload(&drive, &root, "gone.txt", b"gone").await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;

    drive.delete_file(&gone, "file").await.expect("deleted");

    let names: Vec<String> = drive
        .list_folder(&root)
        .await
        .expect("listing")
        .into_iter()
        .map(|entry| entry.name)
        .collect();
    assert_eq!(names, ["keep.txt"]);
    // The state endpoint itself (not only the Rust accessor) shows the bin: when and by whom.
    let state: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http")
        .get(format!("{}/__sandbox/state", sandbox.base_url()))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let bin = state["recycle_bin"].as_array().expect("a recycle bin");
    assert_eq!(bin.len(), 1, "{bin:?}");
    assert_eq!(bin[0]["token"], gone.as_str());
    assert_eq!(bin[0]["name"], "gone.txt");
    assert_eq!(bin[0]["deleted_by"], DEFAULT_USER);
    assert!(bin[0]["deleted_at_ms"].as_i64().expect("ms") >= before - 1000);
    assert!(sandbox
        .inspect()
        .files
        .iter()
        .all(|file| file.token != gone));
    assert!(sandbox
        .inspect()
        .files
        .iter()
        .any(|file| file.token == keep));

    // Deleted again: 1061007 "file has been delete." with HTTP 404 (docs/feishu-api.md §6b).
    let again = drive.delete_file(&gone, "file").await.expect_err("gone");
    assert_eq!(code(&again), 1061007);
    assert_eq!(again.api().map(|api| api.http_status), Some(404));
    // A token never seen: 1061003; the wrong `type` for a live token: 1061003 (UNCONFIRMED);
    // a `type` the API does not know: 1061002.
    let unknown = drive.delete_file("boxcnNoSuchFile", "file").await;
    assert_eq!(unknown.as_ref().map_err(code).err(), Some(1061003));
    let mismatched = drive.delete_file(&keep, "folder").await;
    assert_eq!(mismatched.as_ref().map_err(code).err(), Some(1061003));
    let bogus = drive.delete_file(&keep, "pdf").await;
    assert_eq!(bogus.as_ref().map_err(code).err(), Some(1061002));
    assert_eq!(drive.list_folder(&root).await.expect("listing").len(), 1);
}

#[tokio::test]
async fn a_folder_delete_is_a_task_that_takes_its_subtree_when_it_finishes() {
    let sandbox = sandbox(SandboxOptions {
        delete_task_polls: 2,
        ..unpaced()
    })
    .await;
    let drive = drive(&sandbox);
    let root = sandbox.root_token();
    let folder = drive
        .create_folder(&root, "old")
        .await
        .expect("folder")
        .token;
    let inner = drive
        .create_folder(&folder, "inner")
        .await
        .expect("inner")
        .token;
    let file = upload(&drive, &inner, "deep.txt", b"deep").await;

    let task = drive.delete_folder(&folder).await.expect("a task");
    // Asked again before it finished (as after a lost answer): the same task (UNCONFIRMED).
    assert_eq!(drive.delete_folder(&folder).await.expect("task"), task);
    for _ in 0..2 {
        assert_eq!(
            drive.task_check(&task).await.expect("status"),
            TaskStatus::Process
        );
        let listed = drive.list_folder(&root).await.expect("listing");
        assert_eq!(
            named(&listed, "old").len(),
            1,
            "still there while the task runs"
        );
    }
    assert_eq!(
        drive.task_check(&task).await.expect("status"),
        TaskStatus::Success
    );
    assert!(drive.list_folder(&root).await.expect("listing").is_empty());
    let listing = drive
        .list_folder(&folder)
        .await
        .expect_err("the folder is gone");
    assert_eq!(code(&listing), 1061003);
    let inspection = sandbox.inspect();
    assert!(inspection.folders.is_empty() && inspection.files.is_empty());
    for member in [&inner, &file] {
        let entry = inspection.binned(member).expect("in the bin");
        assert_eq!(entry.with_folder.as_deref(), Some(folder.as_str()));
    }
    assert_eq!(
        inspection.binned(&folder).map(|e| e.with_folder.clone()),
        Some(None)
    );
    // The finished task keeps saying so; a second delete is told the folder is gone.
    assert_eq!(
        drive.task_check(&task).await.expect("status"),
        TaskStatus::Success
    );
    assert_eq!(
        code(&drive.delete_folder(&folder).await.expect_err("gone")),
        1061007
    );
    let unknown = drive
        .task_check("7000000000000000000")
        .await
        .expect_err("no such task");
    assert_eq!(code(&unknown), 1061003);
}

#[tokio::test]
async fn delete_meets_the_write_law_and_its_faults() {
    // One write a second: a delete right after an upload is refused with 1061045 (§0).
    let paced = sandbox(SandboxOptions {
        qps: 1,
        list_qps: 0,
        ..SandboxOptions::default()
    })
    .await;
    let drive_paced = drive(&paced);
    let token = upload(&drive_paced, &paced.root_token(), "a.txt", b"a").await;
    let refused = drive_paced
        .delete_file(&token, "file")
        .await
        .expect_err("throttled");
    assert_eq!(code(&refused), 1061045);
    assert_eq!(
        paced.inspect().files.len(),
        1,
        "a refused delete does nothing"
    );

    // Injected codes reach delete as any write.
    let faulty = sandbox(SandboxOptions {
        fault: vec!["1061001=1.0".to_string()],
        ..unpaced()
    })
    .await;
    let root = faulty.root_token();
    let file = faulty.seed_file(&root, "f.txt", b"f").expect("seeded");
    let failed = drive(&faulty)
        .delete_file(&file, "file")
        .await
        .expect_err("fault");
    assert_eq!(code(&failed), 1061001);
    assert_eq!(
        failed.api().map(|api| api.http_status),
        Some(400),
        "delete's 1061001"
    );
    assert!(faulty.inspect().binned(&file).is_none());

    // A connection lost before the server acted: nothing deleted.
    let before = sandbox(SandboxOptions {
        drop_before: 1.0,
        ..unpaced()
    })
    .await;
    let file = before
        .seed_file(&before.root_token(), "f.txt", b"f")
        .expect("seeded");
    let lost = drive(&before)
        .delete_file(&file, "file")
        .await
        .expect_err("dropped");
    assert!(lost.api().is_none(), "{lost}");
    assert_eq!(before.inspect().files.len(), 1);
    assert!(before.inspect().recycle_bin.is_empty());
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_answers_1061007_when_sent_again() {
    let sandbox = sandbox(SandboxOptions {
        drop_after: 1.0,
        ..unpaced()
    })
    .await;
    let drive = drive(&sandbox);
    let root = sandbox.root_token();
    let file = sandbox.seed_file(&root, "f.txt", b"f").expect("seeded");
    let lost = drive.delete_file(&file, "file").await.expect_err("dropped");
    assert!(lost.api().is_none(), "the answer never came: {lost}");
    assert!(lost.server_may_have_acted(), "{lost}");
    assert!(
        sandbox.inspect().binned(&file).is_some(),
        "the delete happened"
    );
    // The rerun's delete: 1061007, "already deleted", which larksuite/cli counts as done
    // (docs/feishu-api.md §6b). Refusals are answered, never dropped.
    let again = drive.delete_file(&file, "file").await.expect_err("already");
    assert_eq!(code(&again), 1061007);
    assert!(drive.list_folder(&root).await.expect("listing").is_empty());

    // A folder's lost answer: its task runs anyway, and the delete sent again names it.
    let folder = sandbox.seed_folder(&root, "dir", 1);
    let lost = drive.delete_folder(&folder).await.expect_err("dropped");
    assert!(lost.api().is_none(), "{lost}");
    let tasks = sandbox.inspect().delete_tasks;
    assert_eq!(tasks.len(), 1);
    // The repeat's answer is dropped too (drop_after on every success); the task is the same.
    let _ = drive.delete_folder(&folder).await;
    assert_eq!(sandbox.inspect().delete_tasks, tasks);
    let task = tasks[0].task_id.clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    while drive.task_check(&task).await.expect("status") != TaskStatus::Success {
        assert!(Instant::now() < deadline, "the task never finished");
    }
    assert!(drive.list_folder(&root).await.expect("listing").is_empty());
}

#[tokio::test]
async fn a_late_committed_delete_still_happens_after_the_client_gave_up() {
    let sandbox = sandbox(SandboxOptions {
        late_commit: 1.0,
        commit_delay_ms: 1500,
        ..unpaced()
    })
    .await;
    let drive = drive(&sandbox);
    let root = sandbox.root_token();
    let file = sandbox.seed_file(&root, "f.txt", b"f").expect("seeded");
    let lost = drive.delete_file(&file, "file").await.expect_err("dropped");
    assert!(lost.api().is_none(), "{lost}");
    until_listing(&drive, &root, |entries| entries.is_empty()).await;
    let entry = sandbox
        .inspect()
        .binned(&file)
        .cloned()
        .expect("in the bin");
    assert_eq!(entry.deleted_by, DEFAULT_USER);
    let call = sandbox
        .inspect()
        .calls
        .into_iter()
        .find(|call| call.endpoint == "delete");
    assert_eq!(
        call.map(|call| call.outcome),
        Some("dropped, committed late".to_string())
    );
}

#[tokio::test]
async fn rolled_out_overwrite_keeps_the_token_and_answers_a_rising_version() {
    let sandbox = sandbox(in_mode(Overwrite::RolledOut)).await;
    let drive = drive(&sandbox);
    let root = sandbox.root_token();
    let token = upload(&drive, &root, "report.txt", b"first").await;
    let listed = drive.list_folder(&root).await.expect("listing");
    let (created, modified) = (listed[0].created_time, listed[0].modified_time);
    assert!(created.is_some() && modified.is_some());

    let one = replace_all(&drive, &root, &token, "report.txt", b"second, longer")
        .await
        .expect("overwritten");
    assert_eq!(one.file_token, token, "in place: the same token");
    let v1: u64 = one
        .version
        .as_deref()
        .expect("a version")
        .parse()
        .expect("numeric");
    assert_eq!(stored(&sandbox, &token), b"second, longer");
    let listed = drive.list_folder(&root).await.expect("listing");
    assert_eq!(
        named(&listed, "report.txt").len(),
        1,
        "one file of that name"
    );
    assert_eq!(listed[0].created_time, created, "created_time stays");
    let m1 = listed[0].modified_time;
    assert!(
        m1 > modified,
        "modified_time moves: {m1:?} after {modified:?}"
    );
    let file = sandbox
        .inspect()
        .files
        .into_iter()
        .next()
        .expect("the file");
    assert_eq!(file.size, 14);
    assert_eq!(file.adler32, adler2::adler32_slice(b"second, longer"));

    let two = replace_all(&drive, &root, &token, "report.txt", b"third")
        .await
        .expect("overwritten");
    let v2: u64 = two
        .version
        .as_deref()
        .expect("a version")
        .parse()
        .expect("numeric");
    assert!(v2 > v1, "each overwrite a new, higher version");
    let m2 = drive.list_folder(&root).await.expect("listing")[0].modified_time;
    assert!(m2 > m1);

    // The chunked path: same token, new bytes; its finish answers no version (§13), the node
    // has a new one.
    let finished = replace_chunked(&drive, &root, &token, "report.txt", b"fourth")
        .await
        .expect("finished");
    assert_eq!(finished, token);
    assert_eq!(stored(&sandbox, &token), b"fourth");
    let inspection = sandbox.inspect();
    assert_eq!(inspection.files.len(), 1);
    let v3: u64 = inspection.files[0]
        .version
        .as_deref()
        .expect("version")
        .parse()
        .expect("numeric");
    assert!(v3 > v2);
    let m3 = drive.list_folder(&root).await.expect("listing")[0].modified_time;
    assert!(m3 > m2);
}

#[tokio::test]
async fn without_the_rollout_an_overwrite_makes_a_second_file_and_no_version() {
    let sandbox = sandbox(in_mode(Overwrite::NotRolledOut)).await;
    let drive = drive(&sandbox);
    let root = sandbox.root_token();
    let old = upload(&drive, &root, "report.txt", b"first").await;

    let answer = replace_all(&drive, &root, &old, "report.txt", b"second")
        .await
        .expect("code 0");
    assert_eq!(answer.version, None);
    assert_ne!(answer.file_token, old, "a new node beside the old");
    let listed = drive.list_folder(&root).await.expect("listing");
    assert_eq!(named(&listed, "report.txt").len(), 2);
    assert_eq!(
        stored(&sandbox, &old),
        b"first",
        "the old bytes are untouched"
    );
    assert_eq!(stored(&sandbox, &answer.file_token), b"second");

    // The client's second step: the old one to the recycle bin; one file of the name is left.
    drive.delete_file(&old, "file").await.expect("deleted");
    let listed = drive.list_folder(&root).await.expect("listing");
    assert_eq!(named(&listed, "report.txt").len(), 1);
    assert_eq!(listed[0].token, answer.file_token);

    // The chunked path ignores the key too.
    let chunked = replace_chunked(&drive, &root, &answer.file_token, "report.txt", b"third")
        .await
        .expect("finished");
    assert_ne!(chunked, answer.file_token);
    assert_eq!(stored(&sandbox, &chunked), b"third");
    assert_eq!(
        named(&drive.list_folder(&root).await.expect("l"), "report.txt").len(),
        2
    );
    // And a token that is no file here is not even looked at.
    let folder = drive
        .create_folder(&root, "sub")
        .await
        .expect("folder")
        .token;
    let ignored = replace_all(&drive, &root, &folder, "x.txt", b"x")
        .await
        .expect("code 0");
    assert_eq!(ignored.version, None);
}

#[tokio::test]
async fn overwriting_what_is_not_a_file_in_that_folder_is_refused() {
    let sandbox = sandbox(in_mode(Overwrite::RolledOut)).await;
    let drive = drive(&sandbox);
    let root = sandbox.root_token();
    let sub = drive
        .create_folder(&root, "sub")
        .await
        .expect("folder")
        .token;
    let elsewhere = upload(&drive, &sub, "a.txt", b"a").await;
    let here = upload(&drive, &root, "a.txt", b"a").await;
    drive.delete_file(&here, "file").await.expect("deleted");
    // A file in another folder, a folder, a deleted file, a token never seen: 1061002
    // (UNCONFIRMED, the code larksuite/cli reads as a wrong file_token, §13).
    for target in [
        elsewhere.as_str(),
        sub.as_str(),
        here.as_str(),
        "boxcnNoSuch",
    ] {
        let all = replace_all(&drive, &root, target, "a.txt", b"b").await;
        assert_eq!(
            all.map_err(|err| code(&err)).err(),
            Some(1061002),
            "{target}"
        );
        let chunked = drive
            .upload_prepare_replacing(&root, "a.txt", 1, target)
            .await;
        assert_eq!(
            chunked.map_err(|err| code(&err)).err(),
            Some(1061002),
            "{target}"
        );
    }
    assert!(drive
        .list_folder(&root)
        .await
        .expect("l")
        .iter()
        .all(|e| e.is_folder()));
    assert_eq!(stored(&sandbox, &elsewhere), b"a");
}

#[tokio::test]
async fn a_token_without_the_delete_scope_is_refused_naming_it() {
    let sandbox = sandbox(unpaced()).await;
    let root = sandbox.root_token();
    let file = sandbox.seed_file(&root, "f.txt", b"f").expect("seeded");
    // What larkup's login asks today (src/feishu/auth.rs USER_SCOPES): no delete among them.
    let narrow = sandbox.issue_token_with_scopes(
        DEFAULT_USER,
        3600,
        &[
            "drive:file:upload",
            "space:folder:create",
            "drive:drive:readonly",
            "drive:drive.metadata:readonly",
            "offline_access",
        ],
    );
    let drive = drive_with(&sandbox, &narrow);
    // Today's calls still work with it.
    assert_eq!(drive.list_folder(&root).await.expect("listing").len(), 1);
    drive.root_folder().await.expect("root meta");
    upload(&drive, &root, "g.txt", b"g").await;
    let refused = drive
        .delete_file(&file, "file")
        .await
        .expect_err("no scope");
    // The app has the scope enabled, the user's token lacks it: 99991679 (§17).
    assert_eq!(code(&refused), 99991679);
    let msg = refused.api().map(|api| api.msg.clone()).unwrap_or_default();
    assert!(
        msg.contains("space:document:delete") && msg.contains("drive:drive"),
        "{msg}"
    );
    assert!(sandbox.inspect().binned(&file).is_none(), "nothing deleted");

    // The body names it in error.permission_violations too (raw, as a server would send it).
    let raw: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http")
        .delete(format!(
            "{}/open-apis/drive/v1/files/{file}",
            sandbox.base_url()
        ))
        .query(&[("type", "file")])
        .header("Authorization", format!("Bearer {narrow}"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(raw["code"], 99991679);
    let subjects: Vec<&str> = raw["error"]["permission_violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|violation| violation["subject"].as_str())
        .collect();
    assert!(subjects.contains(&"space:document:delete"), "{subjects:?}");
    assert_eq!(
        raw["error"]["permission_violations"][0]["type"],
        "action_privilege_required"
    );

    // With the scope, the same call goes through.
    let wide = sandbox.issue_token_with_scopes(DEFAULT_USER, 3600, &["space:document:delete"]);
    drive_with(&sandbox, &wide)
        .delete_file(&file, "file")
        .await
        .expect("deleted");
    // A token made for the tests (or pasted) carries every enabled scope.
    let scopes = sandbox
        .token_scopes(&sandbox.access_token())
        .expect("issued");
    assert!(scopes.iter().any(|scope| scope == "space:document:delete"));
}

#[tokio::test]
async fn a_scope_the_app_never_enabled_is_99991672_with_a_console_link() {
    let sandbox = sandbox(SandboxOptions {
        app_scope: vec!["drive:file:upload".into(), "drive:drive:readonly".into()],
        ..unpaced()
    })
    .await;
    let root = sandbox.root_token();
    let file = sandbox.seed_file(&root, "f.txt", b"f").expect("seeded");
    let drive = drive(&sandbox);
    drive
        .list_folder(&root)
        .await
        .expect("an enabled scope works");
    let refused = drive
        .delete_file(&file, "file")
        .await
        .expect_err("no scope");
    assert_eq!(code(&refused), 99991672);
    let msg = refused.api().map(|api| api.msg.clone()).unwrap_or_default();
    assert!(
        msg.starts_with("Access denied. One of the following scopes is required"),
        "{msg}"
    );
    assert!(msg.contains("space:document:delete"), "{msg}");
    let folder = drive
        .create_folder(&root, "x")
        .await
        .expect_err("not enabled either");
    assert_eq!(code(&folder), 99991672);
    assert!(sandbox.inspect().folders.is_empty());
}
