//! Issue 12: hostile networks. The real binary against the sandbox's `--hostile` modes and
//! against loopback listeners that refuse, stall or swallow; every wait must end with one clear
//! message. Only 127.0.0.1 is ever contacted.

mod common;

use std::time::Duration;

use common::{closed_port, Harness, Run};
use larkup::feishu::client::Timeouts;
use larkup::feishu::{AnswerWait, Client, Credentials, Drive, Secret};
use larkup::sandbox::{Hostile, SandboxOptions};
use tokio::io::AsyncReadExt;

/// Short waits so a silent server costs seconds (hidden variables, client.rs `Timeouts`).
fn quick(command: &mut tokio::process::Command) -> &mut tokio::process::Command {
    command
        .env("LARKUP_STALL_TIMEOUT_MS", "1000")
        .env("LARKUP_ANSWER_TIMEOUT_MS", "2000")
        .env("LARKUP_CONNECT_TIMEOUT_MS", "2000")
        .env("LARKUP_ANSWER_NOTICE_MS", "600")
}

async fn hostile(mode: Hostile) -> Harness {
    Harness::start(SandboxOptions {
        hostile: Some(mode),
        ..SandboxOptions::default()
    })
    .await
}

/// `larkup ARGS` (quick waits) against a sandbox answering in `mode`: it must fail with
/// exit 1 and say `says` on stderr. The run, for any further check.
async fn fails_saying(mode: Hostile, args: &[&str], says: &str) -> Run {
    let h = hostile(mode).await;
    let run = run_quick(&h, args).await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.stderr.contains(says), "{}", run.all());
    run
}

async fn run_quick(h: &Harness, args: &[&str]) -> Run {
    let output = quick(&mut h.command())
        .args(args)
        .output()
        .await
        .expect("larkup runs");
    Run::from(output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_is_named_once_says_it_retries_and_gives_up_early() {
    let h = Harness::start(SandboxOptions::default()).await;
    let port = closed_port();
    let output = h
        .command()
        .env("LARKUP_BASE_URL", format!("http://127.0.0.1:{port}"))
        .args(["ls"])
        .output()
        .await
        .expect("larkup runs");
    let run = Run::from(output);
    assert_eq!(run.code, Some(1), "{}", run.all());
    let host = format!("127.0.0.1:{port}");
    let notices: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.contains("; retry "))
        .collect();
    assert!(
        notices.first().is_some_and(|line| line.contains(&format!(
            "cannot reach {host} (connection refused); retry 1/8 in"
        ))),
        "{}",
        run.all()
    );
    // Nothing of the run ever reached the host: it gives up long before the eighth retry.
    assert!(notices.len() < 8, "{}", run.all());
    let last = run.stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("larkup: cannot list the folder: cannot reach {host} (connection refused)"),
        "{}",
        run.all()
    );
    assert_eq!(last.matches(&host).count(), 1, "the host once: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_given_up_with_a_clear_message() {
    let run = fails_saying(
        Hostile::Stall,
        &["--retries", "1", "ls", "fldcnX"],
        "no answer within 2 s",
    )
    .await;
    assert!(run.stderr.contains("retry 1/1"), "{}", run.all());
    // Said while it waits, not only when the wait is over.
    let first_wait = run
        .stderr
        .find("larkup: no answer from 127.0.0.1:")
        .unwrap_or_else(|| panic!("no waiting notice: {}", run.all()));
    let given_up = run.stderr.find("retry 1/1").unwrap_or(0);
    assert!(first_wait < given_up, "{}", run.all());
    assert!(run.stderr.contains("(gives up after 2 s)"), "{}", run.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripping_answer_ends_at_the_answer_deadline() {
    fails_saying(
        Hostile::Drip,
        &["--retries", "0", "ls", "fldcnX"],
        "the answer did not finish within 2 s",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_cut_at_the_cap() {
    fails_saying(
        Hostile::Flood,
        &["--retries", "0", "ls", "fldcnX"],
        "an answer larger than 4 MiB",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_whose_page_tokens_loop_is_an_error() {
    fails_saying(
        Hostile::PageLoop,
        &["ls", "fldcnX"],
        "repeats an earlier page",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_page_on_every_call_is_retried_aloud_then_reported() {
    let run = fails_saying(
        Hostile::Html502,
        &["--retries", "2", "ls", "fldcnX"],
        "retry 1/2 in",
    )
    .await;
    assert!(run.stderr.contains("retry 2/2 in"), "{}", run.all());
    assert!(
        run.stderr.contains("HTTP 502") && run.stderr.contains("not Feishu's JSON"),
        "{}",
        run.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_control_characters_are_stored_and_printed_escaped() {
    let h = Harness::start(SandboxOptions::default()).await;
    let evil = "evil\u{1b}]0;pwned\u{7}\r\nuploaded /etc/passwd";
    let made = h.run(&["mkdir", evil]).await;
    assert_eq!(made.code, Some(0), "{}", made.all());
    let file = h.file("bad\u{1b}[2Jname\n.txt", b"hello");
    let up = h.run(&["upload", &file.display().to_string()]).await;
    assert_eq!(up.code, Some(0), "{}", up.all());
    let ls = h.run(&["ls"]).await;
    assert_eq!(ls.code, Some(0), "{}", ls.all());
    for run in [&made, &up, &ls] {
        assert!(
            !run.stdout.contains(['\u{1b}', '\u{7}', '\r']) && !run.stderr.contains('\u{1b}'),
            "raw control characters printed:\n{}",
            run.all()
        );
    }
    assert!(
        ls.stdout
            .contains("evil\\e]0;pwned\\u{7}\\r\\nuploaded /etc/passwd"),
        "{}",
        ls.all()
    );
    assert!(ls.stdout.contains("bad\\e[2Jname\\n.txt"), "{}", ls.all());
    assert_eq!(
        ls.stdout.lines().count(),
        2,
        "one line per entry:\n{}",
        ls.stdout
    );
    assert!(
        up.stdout.lines().count() == 1 && up.stdout.contains("bad\\e[2Jname\\n.txt"),
        "{}",
        up.all()
    );
    // --json stays JSON, the encoder escapes.
    let json = h.run(&["ls", "--json"]).await;
    let listing: serde_json::Value =
        serde_json::from_str(json.stdout.trim()).expect("one JSON object");
    let names: Vec<String> = listing["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(names.contains(&evil.to_string()), "{names:?}");
}

/// A loopback server that accepts connections and either never reads (`read: false`) or reads
/// everything and never answers.
async fn swallowing_server(read: bool) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            if read {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                });
            } else {
                held.push(socket);
            }
        }
    });
    (url, task)
}

type Heard = std::sync::Arc<std::sync::Mutex<Vec<AnswerWait>>>;

/// A hook that keeps every `AnswerWait` it hears.
fn wait_listener() -> (larkup::feishu::WaitHook, Heard) {
    let heard = Heard::default();
    let keep = heard.clone();
    let hook: larkup::feishu::WaitHook = std::sync::Arc::new(move |wait: &AnswerWait| {
        keep.lock().expect("not poisoned").push(wait.clone());
    });
    (hook, heard)
}

fn heard_all(heard: &Heard) -> Vec<AnswerWait> {
    heard.lock().expect("not poisoned").clone()
}

fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        stall: Duration::from_millis(800),
        answer: Duration::from_millis(1500),
        notice: Duration::from_millis(400),
    }
}

/// 24 MiB cannot fit in loopback socket buffers, so a server that never reads stalls the body.
const BIG: usize = 24 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_before_it_is_sent_created_nothing() {
    let (url, _server) = swallowing_server(false).await;
    let client = Client::new(&url, Credentials::new(Secret::new("t")))
        .and_then(|client| client.with_timeouts(short_timeouts()))
        .expect("client");
    let (waits, heard) = wait_listener();
    client.on_answer_wait(waits);
    let drive = Drive::new(client);
    let err = drive
        .upload_part("u1", 0, bytes::Bytes::from(vec![7u8; BIG]), 1)
        .await
        .expect_err("nobody reads");
    assert!(err.to_string().contains("the upload stalled"), "{err}");
    assert!(!err.server_may_have_acted(), "{err}");
    // A body that does not move is not a wait for an answer.
    assert!(heard_all(&heard).is_empty(), "{:?}", heard_all(&heard));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_in_full_and_then_unanswered_may_have_acted() {
    let (url, _server) = swallowing_server(true).await;
    let client = Client::new(&url, Credentials::new(Secret::new("t")))
        .and_then(|client| client.with_timeouts(short_timeouts()))
        .expect("client");
    let (waits, heard) = wait_listener();
    client.on_answer_wait(waits);
    let drive = Drive::new(client);
    let err = drive
        .upload_part("u1", 0, bytes::Bytes::from(vec![7u8; 1024 * 1024]), 1)
        .await
        .expect_err("nobody answers");
    assert!(err.to_string().contains("no answer within"), "{err}");
    assert!(err.server_may_have_acted(), "{err}");
    // Heard while it waited (every 400 ms of the 1.5 s), then that the wait ended.
    let heard = heard_all(&heard);
    let waiting: Vec<&AnswerWait> = heard
        .iter()
        .filter(|wait| matches!(wait, AnswerWait::Waiting { .. }))
        .collect();
    assert!(!waiting.is_empty(), "{heard:?}");
    assert!(waiting.iter().all(|wait| matches!(wait, AnswerWait::Waiting { host, limit, .. } if host.starts_with("127.0.0.1:") && *limit == Duration::from_millis(1500))), "{heard:?}");
    assert_eq!(heard.last(), Some(&AnswerWait::Ended), "{heard:?}");
}
