//! The engine under Feishu's weather (issue 4 "Fault soak"): 60+ files of mixed sizes, some in
//! folders three deep and three past upload_all's 20 MiB, with the sandbox refusing 10% of
//! writes with 1061045 and 5% with 1061001, dropping 3% of connections before and 3% after it
//! acted, and the user token expiring mid-run. Every file must land exactly once, byte-equal.
//! Issue 11 adds late commits, a lagging listing and same-name pairs into one folder: every
//! row's reported token must hold that row's own bytes.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::pattern;
use larkup::feishu::{Client, Credentials, Drive, Secret};
use larkup::sandbox::{Sandbox, SandboxOptions, DEFAULT_USER};
use larkup::transfer::engine::{self, Command, ConflictPolicy, Event, Selection};
use larkup::transfer::journal::Journal;
use larkup::transfer::Pacer;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_lands_once_through_faults_drops_and_an_expired_token() {
    let sandbox = Arc::new(
        Sandbox::start(SandboxOptions {
            fault: vec!["1061045=0.10".into(), "1061001=0.05".into()],
            drop_before: 0.03,
            drop_after: 0.03,
            late_commit: 0.05,
            // Late by more than the first looks (25, 50, 100 ms apart), within the window.
            commit_delay_ms: 150,
            listing_lag_ms: 50,
            // Ten times Feishu's pace (the client matches it below), so the soak takes seconds.
            qps: 50,
            seed: Some(20261125),
            ..SandboxOptions::default()
        })
        .await
        .expect("sandbox starts"),
    );
    let work = tempfile::tempdir().expect("work dir");
    let top = work.path().join("soak");
    let mut sources: HashMap<String, Vec<u8>> = HashMap::new();
    for index in 0..57 {
        let rel = match index % 4 {
            0 => format!("f{index}.bin"),
            1 => format!("a/f{index}.bin"),
            2 => format!("a/b/f{index}.bin"),
            _ => format!("a/b/c/文件{index}.bin"),
        };
        let size = match index % 10 {
            0 => 3 * MIB + index * 1000,
            _ => 1 + index * 7 * KIB,
        };
        sources.insert(rel, pattern(size, index as u64));
    }
    for (index, size) in [(100, 21 * MIB), (101, 20 * MIB + 1), (102, 26 * MIB + 123)] {
        sources.insert(format!("a/big{index}.bin"), pattern(size, index));
    }
    for (rel, bytes) in &sources {
        let path = top.join(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("dirs");
        std::fs::write(&path, bytes).expect("write source");
    }
    std::fs::create_dir_all(top.join("empty/inner")).expect("empty folders");
    // Same-name pairs from two local folders into one Drive folder (the root).
    let mut pairs = Vec::new();
    for index in 0..8 {
        for (side, seed) in [("x", 500), ("y", 600)] {
            let path = work.path().join(format!("pairs/{side}/same{index}.bin"));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
            std::fs::write(&path, pattern(4000 + index, seed + index as u64)).expect("write");
            pairs.push(path);
        }
    }

    let credentials = Credentials::new(Secret::new(sandbox.access_token()));
    // The client refreshes (issue 12: one client, one refresher); count what it asks for.
    let refreshes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (refresher_sandbox, refresher_credentials, counter) =
        (sandbox.clone(), credentials.clone(), refreshes.clone());
    credentials.set_refresher(Arc::new(move |_stale| {
        let (sandbox, credentials) = (refresher_sandbox.clone(), refresher_credentials.clone());
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            let fresh = Secret::new(sandbox.issue_token(DEFAULT_USER, 3600));
            credentials.replace(fresh.clone()).await;
            Ok(fresh)
        })
    }));
    let client = Client::new(&sandbox.base_url(), credentials.clone()).expect("client");
    // The law's delays are the pacer's unit tests' business (on paused time); here they only
    // have to be short, so the soak's retries take milliseconds instead of seconds.
    let pacer = Arc::new(Pacer::new(
        50,
        larkup::transfer::RetryLaw {
            min_delay: std::time::Duration::from_millis(20),
            max_delay: std::time::Duration::from_millis(500),
            ..larkup::transfer::RetryLaw::default()
        },
    ));
    // Before the engine starts, while this test is the process's only thread using env.
    std::env::set_var("LARKUP_RECONCILE_BASE_MS", "25");
    let journal = Journal::open_in_memory().expect("journal");
    let mut handle = engine::spawn(
        Drive::new(client),
        pacer.clone(),
        Some(journal),
        ConflictPolicy::Skip,
        "test".to_string(),
    );
    handle
        .commands
        .send(Command::Add(Selection {
            paths: vec![top.clone()],
            destination: sandbox.root_token(),
            destination_depth: Some(0),
            exclude: Default::default(),
        }))
        .expect("engine listens");
    handle
        .commands
        .send(Command::Add(Selection {
            paths: pairs.clone(),
            destination: sandbox.root_token(),
            destination_depth: Some(0),
            exclude: Default::default(),
        }))
        .expect("engine listens");

    let mut failures = Vec::new();
    let mut queued: HashMap<u64, std::path::PathBuf> = HashMap::new();
    let mut rows: Vec<(std::path::PathBuf, String)> = Vec::new();
    let mut pair_skips = 0;
    // The user token expires mid-run: after the tenth row is done, whatever the pace.
    let first_token = sandbox.access_token();
    while let Some(event) = handle.events.recv().await {
        match event {
            Event::Queued { job, path, .. } => {
                queued.insert(job, path.to_path_buf());
            }
            Event::Failed { failure, .. } => failures.push(failure),
            Event::Skipped { job, reason } => {
                if queued.get(&job).is_some_and(|path| pairs.contains(path)) {
                    pair_skips += 1;
                } else {
                    failures.push(larkup::transfer::events::Failure {
                        code: None,
                        message: format!("skipped: {reason}"),
                        log_id: None,
                    });
                }
            }
            Event::Done {
                job, file_token, ..
            } => {
                rows.push((queued[&job].clone(), file_token));
                if rows.len() == 10 {
                    sandbox.expire_token(&first_token);
                }
            }
            Event::Idle => break,
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Under skip, one of each pair is uploaded and the other finds it there.
    assert_eq!(pair_skips, 8);
    assert_eq!(rows.len(), sources.len() + 8);
    for (path, token) in &rows {
        let stored = std::fs::read(sandbox.stored_path(token).expect("stored")).expect("bytes");
        assert!(
            stored == std::fs::read(path).expect("source"),
            "{} reported as {token}, which holds other bytes",
            path.display()
        );
    }

    let inspection = sandbox.inspect();
    let stats = pacer.stats();
    assert!(
        refreshes.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the token expired mid-run: {stats:?}"
    );
    for code in [1061045, 1061001] {
        assert!(
            inspection.calls_with_code(code) > 0,
            "the sandbox injected {code}"
        );
    }
    assert!(
        inspection
            .calls
            .iter()
            .any(|call| call.outcome == "dropped after acting"),
        "some answers were lost after the server acted"
    );
    assert!(
        inspection
            .calls
            .iter()
            .any(|call| call.outcome == "dropped, committed late"),
        "some creates committed after their answer was lost"
    );

    // Remote paths: folder names up the parent chain.
    let folders: HashMap<String, (String, String)> = inspection
        .folders
        .iter()
        .map(|f| (f.token.clone(), (f.name.clone(), f.parent_token.clone())))
        .collect();
    let path_of = |parent: &str, name: &str| {
        let mut parts = vec![name.to_string()];
        let mut parent = parent.to_string();
        while let Some((folder, up)) = folders.get(&parent) {
            parts.push(folder.clone());
            parent = up.clone();
        }
        parts.reverse();
        parts.join("/")
    };
    let mut folder_paths: Vec<String> = inspection
        .folders
        .iter()
        .map(|f| path_of(&f.parent_token, &f.name))
        .collect();
    folder_paths.sort();
    let mut unique = folder_paths.clone();
    unique.dedup();
    assert_eq!(folder_paths, unique, "a folder was created twice");
    for expected in ["soak/empty", "soak/empty/inner", "soak/a/b/c"] {
        assert!(folder_paths.iter().any(|p| p == expected), "{expected}");
    }

    let mut stored: HashMap<String, usize> = HashMap::new();
    for file in &inspection.files {
        if file.parent_token == sandbox.root_token() {
            *stored.entry(file.name.clone()).or_default() += 1;
            continue; // a pair's file, checked by its row above
        }
        let rel = path_of(&file.parent_token, &file.name);
        *stored.entry(rel.clone()).or_default() += 1;
        let rel = rel.strip_prefix("soak/").unwrap_or(&rel).to_string();
        let expected = sources
            .get(&rel)
            .unwrap_or_else(|| panic!("{rel} was not in the selection"));
        let bytes = std::fs::read(&file.path).expect("stored bytes");
        assert!(&bytes == expected, "{rel}: stored bytes differ");
    }
    let doubled: Vec<_> = stored.iter().filter(|(_, count)| **count > 1).collect();
    assert!(doubled.is_empty(), "stored twice: {doubled:?}");
    assert_eq!(stored.len(), sources.len() + 8, "every file stored");
}
