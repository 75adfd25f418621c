//! One job: the journal's cache checked against Drive, the conflict policy, resume only onto
//! the same bytes, the send, and an unknown outcome looked for before anything is sent again.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;

use super::{job_key, lock, JobOutcome, JobSpec, Owner, Shared, RECENT_DONE_MS};
use crate::feishu::{DriveEntry, Error, UploadPlan};
use crate::transfer::events::{ConflictChoice, Event, Failure, JobId};
use crate::transfer::journal::{self, JobKey, JobRecord, JobState};
use crate::transfer::pacer::outcome_unknown;
use crate::transfer::plan;
use crate::transfer::reconcile::Kind;
use crate::transfer::send::{self, ChunkedProgress, SendObserver, Source};

/// Journal and screen follow a send through this.
struct JobObserver<'a> {
    shared: &'a Shared,
    key: JobKey,
    job: JobId,
    preexisting: Vec<String>,
    source: Source,
    mtime: i128,
    /// Set when the call that creates the file went out: from then on an error is an unknown
    /// outcome, before it the file cannot exist.
    create_sent: AtomicBool,
}

impl JobObserver<'_> {
    /// Size or mtime moved since the file was planned (or last restarted).
    fn source_changed(&self) -> bool {
        match std::fs::metadata(&self.source.path) {
            Ok(now) => now.len() != self.source.size || plan::mtime_ns(&now) != self.mtime,
            Err(_) => true,
        }
    }
}

impl SendObserver for JobObserver<'_> {
    fn prepared(&self, plan: &UploadPlan) {
        let now = journal::now_ms();
        self.shared
            .journal(|journal| journal.set_prepared(&self.key, plan, now));
    }

    fn block_confirmed(&self, seq: u64, bytes_done: u64, adler32: Option<u32>) {
        if let Some(adler32) = adler32 {
            self.shared
                .journal(|journal| journal.set_confirmed(&self.key, seq, adler32));
        }
        self.shared.emit(Event::Progress {
            job: self.job,
            bytes_done,
        });
    }

    fn creating(&self) -> Result<(), Error> {
        // Blocks read from two versions of a file would pass their checksums and store a
        // mix: never create the file from a source that moved.
        if self.source_changed() {
            return Err(send::local_error(
                &self.source.path,
                std::io::Error::other(send::FILE_CHANGED),
            ));
        }
        self.shared
            .journal(|journal| journal.set_creating(&self.key, &self.preexisting));
        self.create_sent.store(true, Ordering::SeqCst);
        Ok(())
    }
}

pub(super) async fn run_job(shared: &Shared, spec: &JobSpec) -> JobOutcome {
    shared.emit(Event::Started { job: spec.id });
    let key = job_key(shared, spec);
    // Same-name jobs into one folder go one after another, in queue order (the turn is FIFO).
    let turn = shared.name_turn(&spec.parent_token, spec.file.name());
    let _turn = turn.lock().await;
    match upload_job(shared, spec, &key).await {
        Ok(JobEnd::Uploaded { token, note }) => {
            shared.journal(|journal| journal.set_done(&key, &token));
            shared
                .remember(
                    &spec.parent_token,
                    DriveEntry {
                        token: token.clone(),
                        name: spec.file.name().to_string(),
                        kind: "file".to_string(),
                        parent_token: spec.parent_token.to_string(),
                        url: String::new(),
                        created_time: None,
                        modified_time: None,
                    },
                )
                .await;
            shared.emit(Event::Done {
                job: spec.id,
                file_token: token,
                note,
            });
            JobOutcome::Done
        }
        Ok(JobEnd::AlreadyThere(token)) => {
            shared.emit(Event::AlreadyThere {
                job: spec.id,
                file_token: token,
            });
            JobOutcome::Done
        }
        Ok(JobEnd::Skipped(reason)) => {
            shared.journal(|journal| journal.set_skipped(&key, &reason));
            shared.emit(Event::Skipped {
                job: spec.id,
                reason,
            });
            JobOutcome::Skipped
        }
        Err(failure) => {
            let text = match failure.code {
                Some(code) => format!("{code} {}", failure.message),
                None => failure.message.clone(),
            };
            shared.journal(|journal| journal.set_failed(&key, &text));
            shared.emit(Event::Failed {
                job: spec.id,
                failure,
            });
            JobOutcome::Failed
        }
    }
}

enum JobEnd {
    Uploaded { token: String, note: Option<String> },
    AlreadyThere(String),
    Skipped(String),
}

fn join_notes(notes: &[Option<String>]) -> Option<String> {
    let notes: Vec<&str> = notes.iter().flatten().map(String::as_str).collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// Whether the blocks an earlier run confirmed still hold what was sent: read again (far
/// cheaper than sending) and compared with the journalled Adler-32s.
async fn confirmed_blocks_match(
    path: &std::path::Path,
    upload: &journal::StoredUpload,
    size: u64,
) -> bool {
    let (path, upload) = (path.to_path_buf(), upload.clone());
    tokio::task::spawn_blocking(move || {
        let Ok(file) = std::fs::File::open(&path) else {
            return false;
        };
        (0..upload.next_seq).all(|seq| {
            crate::transfer::blocks::read_block(&file, &upload.plan, size, seq)
                .is_ok_and(|block| upload.block_sums.get(seq as usize) == Some(&block.adler32))
        })
    })
    .await
    .unwrap_or(false)
}

async fn upload_job(shared: &Shared, spec: &JobSpec, key: &JobKey) -> Result<JobEnd, Failure> {
    let local = &spec.file.local;
    let metadata = std::fs::metadata(local)
        .map_err(|err| Failure::local(format!("{}: {err}", local.display())))?;
    let (size, mtime) = (metadata.len(), plan::mtime_ns(&metadata));
    let file_id = journal::file_id(&metadata);
    let previous: Option<JobRecord> = shared
        .journal
        .as_ref()
        .and_then(|journal| journal.get(key).ok().flatten());
    let record: Option<JobRecord> = match &shared.journal {
        Some(journal) => journal
            .begin(key, size, mtime, &file_id, &spec.destination)
            .ok(),
        None => None,
    };
    let mut restart_note = previous
        .as_ref()
        .filter(|previous| {
            matches!(previous.state, JobState::Uploading | JobState::Creating)
                && !journal::same_version(previous, size, mtime, &file_id)
        })
        .map(|_| "the file changed since the interrupted upload; started over".to_string());

    let entries = shared
        .named(&spec.parent_token, spec.file.name())
        .await
        .map_err(|err| Failure::from_error(&err))?;
    let mut again_note = None;
    // The same source into the same folder under the same name (added again in this process)
    // is this job: what an earlier one claimed is its own.
    let owner = Owner::Job(key.clone());

    // The journal's done is a cache: it counts only while Drive still lists that file.
    if let Some(record) = record.as_ref().filter(|r| r.state == JobState::Done) {
        if let Some(token) = record.file_token.as_deref().filter(|t| !t.is_empty()) {
            let mut listed = entries.iter().any(|entry| entry.token == token);
            if !listed && journal::now_ms() - record.updated_at_ms < RECENT_DONE_MS {
                // Just uploaded, maybe by another process: the listing may lag its writes.
                listed = shared.looks().find_token(&spec.parent_token, token).await;
            }
            if listed && shared.claim(token, &owner) {
                return Ok(JobEnd::AlreadyThere(token.to_string()));
            }
            again_note = Some(if listed {
                // Only an old journal could give two sources one token: trust neither.
                "its recorded file belongs to another row; uploaded again".to_string()
            } else {
                "was no longer in Drive; uploaded again".to_string()
            });
        }
    }

    // A previous run died after its create call went out: the file may be there.
    if let Some(record) = record.as_ref().filter(|r| r.state == JobState::Creating) {
        if let Some(token) = shared
            .reconcile(
                &spec.parent_token,
                spec.file.name(),
                Kind::File,
                &record.preexisting_tokens,
                &owner,
            )
            .await
        {
            return Ok(JobEnd::Uploaded {
                token,
                note: Some("found in Drive after an interrupted upload".to_string()),
            });
        }
    }

    let ours_in_flight = record
        .as_ref()
        .is_some_and(|record| matches!(record.state, JobState::Uploading | JobState::Creating));
    let preexisting = match &record {
        // Tokens seen before our first create call stay the reference across restarts.
        Some(record) if ours_in_flight && record.state == JobState::Creating => {
            record.preexisting_tokens.clone()
        }
        _ => plan::same_name_files(&entries, spec.file.name()),
    };
    if !preexisting.is_empty() && !ours_in_flight {
        let policy = *lock(&shared.policy);
        let choice = match plan::conflict_choice(policy) {
            Some(choice) => choice,
            None => ask_conflict(shared, spec).await,
        };
        if choice == ConflictChoice::Skip {
            return Ok(JobEnd::Skipped(format!(
                "{:?} already exists in the destination folder",
                spec.file.name()
            )));
        }
    }

    let mut resume = None;
    if let Some(upload) = record.as_ref().and_then(|record| record.upload.as_ref()) {
        let usable = record.as_ref().is_some_and(|record| {
            journal::can_resume(record, size, mtime, &file_id, journal::now_ms())
        });
        if !usable {
            restart_note.get_or_insert_with(|| {
                "the interrupted upload could not go on (file or upload id changed); started over"
                    .to_string()
            });
        } else if !confirmed_blocks_match(local, upload, size).await {
            restart_note =
                Some("blocks sent earlier no longer match the file; started over".to_string());
        } else {
            resume = Some(ChunkedProgress {
                plan: upload.plan.clone(),
                next_seq: upload.next_seq,
            });
        }
    }
    let resumed_at = resume.as_ref().map(|progress| progress.next_seq);
    if let Some(progress) = &resume {
        let (offset, len) = progress
            .plan
            .block_range(progress.next_seq.saturating_sub(1), size);
        if progress.next_seq > 0 {
            shared.emit(Event::Resumed {
                job: spec.id,
                bytes_done: offset + len,
            });
        }
    } else {
        shared.journal(|journal| journal.clear_upload(key));
    }
    let mut observer = JobObserver {
        shared,
        key: key.clone(),
        job: spec.id,
        preexisting: preexisting.clone(),
        source: Source {
            path: local.to_path_buf(),
            name: spec.file.name().to_string(),
            size,
        },
        mtime,
        create_sent: AtomicBool::new(false),
    };
    let mut changed_restarts = 0;
    let mut creates = 0;
    loop {
        observer.create_sent.store(false, Ordering::SeqCst);
        let sent = send::send_file(
            &shared.drive,
            &shared.writes,
            &spec.parent_token,
            &observer.source,
            resume.take(),
            &observer,
        )
        .await;
        let create_sent = observer.create_sent.load(Ordering::SeqCst);
        // A success answer without a token is not success: the outcome is unknown.
        let err = match sent {
            Ok(token) if !token.trim().is_empty() => {
                shared.claim(&token, &owner);
                let resumed = resumed_at
                    .filter(|seq| *seq > 0)
                    .map(|seq| format!("resumed at block {seq}"));
                return Ok(JobEnd::Uploaded {
                    token,
                    note: join_notes(&[again_note, restart_note, resumed]),
                });
            }
            Ok(_) => None,
            Err(err) => Some(err),
        };
        if !create_sent || err.as_ref().is_some_and(|err| !outcome_unknown(err)) {
            let Some(err) = err else {
                return Err(Failure::local("the upload ended without an answer"));
            };
            if observer.source_changed() {
                if changed_restarts > 0 {
                    return Err(Failure::local(format!(
                        "{}: the file keeps changing while it uploads; stop what writes to it, then retry",
                        local.display()
                    )));
                }
                // Start over once with the file as it is now.
                changed_restarts += 1;
                let now = std::fs::metadata(local)
                    .map_err(|err| Failure::local(format!("{}: {err}", local.display())))?;
                observer.source.size = now.len();
                observer.mtime = plan::mtime_ns(&now);
                let (size, mtime, id) =
                    (observer.source.size, observer.mtime, journal::file_id(&now));
                shared.journal(|journal| journal.begin(key, size, mtime, &id, &spec.destination));
                shared.journal(|journal| journal.clear_upload(key));
                continue;
            }
            return Err(Failure::from_error(&err));
        }
        // The create call went out and its outcome is unknown: look before sending again.
        creates += 1;
        if let Some(token) = shared
            .reconcile(
                &spec.parent_token,
                spec.file.name(),
                Kind::File,
                &preexisting,
                &owner,
            )
            .await
        {
            // This run sent the whole file; only its answer was lost.
            shared.emit(Event::Progress {
                job: spec.id,
                bytes_done: observer.source.size,
            });
            return Ok(JobEnd::Uploaded {
                token,
                note: join_notes(&[
                    Some("confirmed in Drive after its answer was lost".to_string()),
                    again_note,
                    restart_note,
                ]),
            });
        }
        if creates >= shared.create_attempts {
            return Err(match err {
                Some(err) => Failure::from_error(&err),
                None => Failure::local(
                    "the server answered without a file token, and the file is not in the folder",
                ),
            });
        }
        // Not there after the whole window, so the call created nothing. A chunked upload's
        // confirmed blocks stand; only what is missing is sent again.
        resume = shared
            .journal
            .as_ref()
            .and_then(|journal| journal.get(key).ok().flatten())
            .and_then(|record| record.upload)
            .map(|upload| ChunkedProgress {
                plan: upload.plan,
                next_seq: upload.next_seq,
            });
    }
}

async fn ask_conflict(shared: &Shared, spec: &JobSpec) -> ConflictChoice {
    let (answer_tx, answer_rx) = oneshot::channel();
    lock(&shared.pending_conflicts).insert(spec.id, answer_tx);
    shared.emit(Event::Conflict {
        job: spec.id,
        name: spec.file.name().to_string(),
    });
    // A front end that leaves without answering gets the safe default.
    answer_rx.await.unwrap_or(ConflictChoice::Skip)
}
