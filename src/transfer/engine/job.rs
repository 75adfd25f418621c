//! One job's life, as named steps in their own places (issue 18), so replace, import and
//! download add steps here, not branches:
//!
//! 1. `plan`: the file as it is now (size, mtime, identity) and the journal's record of it;
//! 2. `claim_name`: what stands at the name in Drive — the journal's done checked against the
//!    listing, an interrupted create looked for, the conflict policy — and where a send starts
//!    (resumed only onto the same bytes);
//! 3. `send`: the bytes, started over once (and said on the row) if the file changes;
//! 4. `confirm`: the answer's token, or, when the answer was lost, the file looked for in the
//!    folder before anything is sent again;
//! 5. `record`: journal, listing and row.
//!
//! A replace (issue 20) adds `replaced`, between confirm and record: the old file's token is
//! journalled before the send; an answer with the same token replaced it in place; another
//! token is a new file, and the old one goes to the recycle bin only once the new one is
//! confirmed and that delete is journalled as owed (`recycle`), which a rerun finishes first
//! (`owed_recycle`): never two copies, never none.
//!
//! The runner holds the name's turn across all five, so same-name jobs into one folder go one
//! after another. A job that waits — its outcome looked for, its turn, the user's answer to a
//! conflict — is parked: it gives up its place among the workers (`Slot`), so the other files
//! keep the law's slots (issue 18 #11), and takes a place again before it sends.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;

use super::{job_key, lock, JobOutcome, JobSpec, Owner, Shared, Slot, RECENT_DONE_MS};
use crate::feishu::{DriveEntry, Error, UploadPlan};
use crate::transfer::events::{ConflictChoice, Event, Failure, Replaced};
use crate::transfer::journal::{self, JobKey, JobRecord, JobState};
use crate::transfer::pacer::{outcome_unknown, Idempotence};
use crate::transfer::plan;
use crate::transfer::reconcile::Kind;
use crate::transfer::send::{self, ChunkedProgress, SendObserver, Source};

pub(super) async fn run_job(shared: &Shared, spec: &JobSpec, slot: &Slot) -> JobOutcome {
    shared.emit(Event::Started { job: spec.id });
    let key = job_key(shared, spec);
    let job = Job {
        shared,
        spec,
        // The same source into the same folder under the same name (added again in this
        // process) is this job: what an earlier one claimed is its own.
        owner: Owner::Job(key.clone()),
        key,
        slot,
    };
    // Same-name jobs into one folder go one after another, in queue order (the turn is FIFO).
    // One that must wait for its turn is parked meanwhile: only its own name waits.
    let turn = shared.name_turn(&spec.parent_token, spec.file.name());
    let _turn = match turn.try_lock() {
        Ok(turn) => turn,
        Err(_) => job.parked(turn.lock()).await,
    };
    let end = job.life().await;
    job.record(end).await
}

/// One job and what its steps share.
struct Job<'a> {
    shared: &'a Shared,
    spec: &'a JobSpec,
    key: JobKey,
    owner: Owner,
    slot: &'a Slot,
}

/// What `plan` found.
struct Plan {
    size: u64,
    mtime: i128,
    file_id: String,
    /// The journal's record, begun for this version of the file (None without a journal).
    record: Option<JobRecord>,
    /// Said on the row when an interrupted upload of another version is started over.
    restart_note: Option<String>,
}

/// Where `claim_name` left the job.
enum Claimed {
    /// Settled without sending: already there, found after an interrupted upload, skipped.
    End(JobEnd),
    Send(Box<Attempt>),
}

/// What a send needs, carried from one try to the next.
struct Attempt {
    source: Source,
    mtime: i128,
    /// Same-name files in the folder before the first create call: never taken for ours.
    preexisting: Vec<String>,
    resume: Option<ChunkedProgress>,
    /// The block this run went on from, for the row's note.
    resumed_at: Option<u64>,
    /// Why a done row is uploaded again.
    again_note: Option<String>,
    /// Why the upload started over.
    restart_note: Option<String>,
    /// Starts over after the file changed mid-upload (at most one).
    changed_restarts: u32,
    /// Create calls whose outcome stayed unknown.
    creates: u32,
    /// Said on the row of a replace when several files held the name.
    replace_note: Option<String>,
}

/// A send that did not fail.
enum Sent {
    /// The server answered with the new file's token.
    Token(String),
    /// The create call went out and no usable answer came back (its error, when there was one).
    Unknown(Option<Error>),
}

enum JobEnd {
    Uploaded {
        token: String,
        note: Option<String>,
    },
    /// A replace's new file is confirmed and the old one is gone (`how`).
    Replaced {
        token: String,
        how: Replaced,
        note: Option<String>,
    },
    AlreadyThere(String),
    Skipped(String),
}

impl Job<'_> {
    async fn life(&self) -> Result<JobEnd, Failure> {
        let plan = self.plan().await?;
        if let Some(end) = self.owed_recycle(&plan).await? {
            return Ok(end);
        }
        // What an interrupted replace was sending over.
        let replaced = plan
            .record
            .as_ref()
            .and_then(|record| record.replaces.clone());
        let mut attempt = match self.claim_name(plan).await? {
            Claimed::End(end) => return self.replaced(end, replaced.as_deref(), None).await,
            Claimed::Send(attempt) => *attempt,
        };
        loop {
            let sent = self.send(&mut attempt).await?;
            if let Some(end) = self.confirm(&mut attempt, sent).await? {
                let old = attempt.source.replaces.clone();
                let note = attempt.replace_note.take();
                return self.replaced(end, old.as_deref(), note).await;
            }
        }
    }

    /// A replace's end: the new file's token against the old one's. The same token is the
    /// old file replaced in place (whether or not the answer carried a version: deleting it
    /// would delete the new bytes); another is a new file, and the old one goes to the
    /// recycle bin, owed in the journal first.
    async fn replaced(
        &self,
        end: JobEnd,
        old: Option<&str>,
        note: Option<String>,
    ) -> Result<JobEnd, Failure> {
        let (JobEnd::Uploaded { token, note: row }, Some(old)) = (&end, old) else {
            return Ok(end);
        };
        let note = join_notes(&[row.clone(), note]);
        if token == old {
            return Ok(JobEnd::Replaced {
                token: token.clone(),
                how: Replaced::InPlace,
                note,
            });
        }
        let (key, new, owed) = (self.key.clone(), token.clone(), old.to_string());
        self.shared
            .journal_wait(move |journal| journal.set_done_recycling(&key, &new, &owed))
            .await;
        self.recycle(old).await?;
        Ok(JobEnd::Replaced {
            token: token.clone(),
            how: Replaced::Recycled,
            note,
        })
    }

    /// A delete an earlier run owed (its new file was confirmed, the old one's delete never
    /// answered or never went): done before anything else. When the journal's new file is
    /// this version's, the job ends there.
    async fn owed_recycle(&self, plan: &Plan) -> Result<Option<JobEnd>, Failure> {
        let Some(record) = plan.record.as_ref() else {
            return Ok(None);
        };
        let Some(old) = record.recycle.as_deref() else {
            return Ok(None);
        };
        // Under the folder's lock, as every write into it is.
        self.shared
            .named(self.parent(), self.name())
            .await
            .map_err(|err| Failure::from_error(&err))?;
        self.recycle(old).await?;
        let token = record.file_token.clone().filter(|token| !token.is_empty());
        Ok(token.map(|token| JobEnd::Replaced {
            token,
            how: Replaced::Recycled,
            note: Some("the interrupted replace was finished from the journal".to_string()),
        }))
    }

    /// `old` to the recycle bin (docs/feishu-api.md §6b), through the write law. An answer
    /// that did not come is looked for in the listing before deleting again; 1061007 (already
    /// in the bin) is done. A refusal leaves the delete owed in the journal for the rerun.
    async fn recycle(&self, old: &str) -> Result<(), Failure> {
        let shared = self.shared;
        // A write takes a place among the workers, as a send does.
        shared.unpark(self.slot).await;
        let mut tries = 0;
        loop {
            tries += 1;
            let deleted = shared
                .writes
                .call(Idempotence::CreatesSomething, || {
                    shared.drive.delete_file(old, "file")
                })
                .await;
            let err = match deleted {
                Ok(()) => break,
                Err(err) if err.api().is_some_and(|api| api.code == ALREADY_DELETED) => break,
                Err(err) => err,
            };
            if !outcome_unknown(&err) || tries >= shared.create_attempts {
                return Err(owed(&err));
            }
            match shared.fresh_listing(self.parent()).await {
                Ok(entries) if !entries.iter().any(|entry| entry.token == old) => break,
                Ok(_) => continue,
                Err(_) => return Err(owed(&err)),
            }
        }
        shared.forget(self.parent(), old).await;
        let key = self.key.clone();
        shared
            .journal_wait(move |journal| journal.clear_recycle(&key))
            .await;
        Ok(())
    }

    /// Waits for `wait` parked: this job's place among the workers goes to another job
    /// meanwhile; `send` takes one again.
    async fn parked<T>(&self, wait: impl Future<Output = T>) -> T {
        self.shared.park(self.slot);
        wait.await
    }

    fn parent(&self) -> &str {
        &self.spec.parent_token
    }

    fn name(&self) -> &str {
        self.spec.file.name()
    }

    /// Step 1: the file as it is now and the journal's record of it.
    async fn plan(&self) -> Result<Plan, Failure> {
        let local = &self.spec.file.local;
        let metadata = tokio::fs::metadata(local)
            .await
            .map_err(|err| Failure::local(format!("{}: {err}", local.display())))?;
        let (size, mtime) = (metadata.len(), plan::mtime_ns(&metadata));
        let file_id = journal::file_id(&metadata);
        let (key, id, destination) = (
            self.key.clone(),
            file_id.clone(),
            self.spec.destination.to_string(),
        );
        let (previous, record) = self
            .shared
            .journal_wait(move |journal| {
                let previous = journal.get(&key).ok().flatten();
                let record = journal.begin(&key, size, mtime, &id, &destination).ok();
                Ok((previous, record))
            })
            .await
            .unwrap_or((None, None));
        let restart_note = previous
            .as_ref()
            .filter(|previous| {
                matches!(previous.state, JobState::Uploading | JobState::Creating)
                    && !journal::same_version(previous, size, mtime, &file_id)
            })
            .map(|_| "the file changed since the interrupted upload; started over".to_string());
        Ok(Plan {
            size,
            mtime,
            file_id,
            record,
            restart_note,
        })
    }

    /// Step 2: what stands at this name in the folder, and where a send would start.
    async fn claim_name(&self, plan: Plan) -> Result<Claimed, Failure> {
        let shared = self.shared;
        let entries = shared
            .named(self.parent(), self.name())
            .await
            .map_err(|err| Failure::from_error(&err))?;
        let mut again_note = None;

        // The journal's done is a cache: it counts only while Drive still lists that file.
        if let Some(record) = plan.record.as_ref().filter(|r| r.state == JobState::Done) {
            if let Some(token) = record.file_token.as_deref().filter(|t| !t.is_empty()) {
                let mut listed = entries.iter().any(|entry| entry.token == token);
                if !listed && journal::now_ms() - record.updated_at_ms < RECENT_DONE_MS {
                    // Just uploaded, maybe by another process: the listing may lag its writes.
                    listed = self
                        .parked(shared.looks().find_token(self.parent(), token))
                        .await;
                }
                if listed && shared.claim(token, &self.owner) {
                    return Ok(Claimed::End(JobEnd::AlreadyThere(token.to_string())));
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
        if let Some(record) = plan
            .record
            .as_ref()
            .filter(|r| r.state == JobState::Creating)
        {
            let found = shared.reconcile(
                self.parent(),
                self.name(),
                Kind::File,
                &record.preexisting_tokens,
                &self.owner,
            );
            if let Some(token) = self.parked(found).await {
                return Ok(Claimed::End(JobEnd::Uploaded {
                    token,
                    note: Some("found in Drive after an interrupted upload".to_string()),
                }));
            }
        }

        let ours_in_flight = plan
            .record
            .as_ref()
            .is_some_and(|record| matches!(record.state, JobState::Uploading | JobState::Creating));
        let preexisting = match &plan.record {
            // Tokens seen before our first create call stay the reference across restarts.
            Some(record) if ours_in_flight && record.state == JobState::Creating => {
                record.preexisting_tokens.clone()
            }
            _ => plan::same_name_files(&entries, self.name()),
        };
        // A send of ours in flight goes on over the file it was replacing.
        let mut replaces = plan
            .record
            .as_ref()
            .filter(|_| ours_in_flight)
            .and_then(|record| record.replaces.clone());
        let mut replace_note = None;
        if !preexisting.is_empty() && !ours_in_flight {
            let policy = *lock(&shared.policy);
            let choice = match plan::conflict_choice(policy) {
                Some(choice) => choice,
                None => self.parked(self.ask_conflict()).await,
            };
            if choice == ConflictChoice::Skip {
                return Ok(Claimed::End(JobEnd::Skipped(format!(
                    "{:?} already exists in the destination folder",
                    self.name()
                ))));
            }
            if choice == ConflictChoice::Replace {
                replaces = newest(&entries, self.name());
                if preexisting.len() > 1 {
                    replace_note = Some(format!(
                        "{} files had that name; the newest was replaced",
                        preexisting.len()
                    ));
                }
            }
        }
        if let Some(old) = &replaces {
            // Committed before the send: a crash after it knows what the new file replaces.
            let (key, old) = (self.key.clone(), old.clone());
            shared
                .journal_wait(move |journal| journal.set_replaces(&key, &old))
                .await;
        }
        let mut attempt = Attempt {
            source: Source {
                path: self.spec.file.local.to_path_buf(),
                name: self.name().to_string(),
                size: plan.size,
                replaces,
            },
            mtime: plan.mtime,
            preexisting,
            resume: None,
            resumed_at: None,
            again_note,
            restart_note: plan.restart_note.clone(),
            changed_restarts: 0,
            creates: 0,
            replace_note,
        };
        self.resume_point(&plan, &mut attempt).await;
        Ok(Claimed::Send(Box::new(attempt)))
    }

    /// Where the send starts: an earlier run's chunked upload goes on only onto the same
    /// version of the file and the same bytes; else it starts over, and the row says why.
    async fn resume_point(&self, plan: &Plan, attempt: &mut Attempt) {
        let upload = plan
            .record
            .as_ref()
            .and_then(|record| record.upload.as_ref());
        if let (Some(upload), Some(record)) = (upload, plan.record.as_ref()) {
            let (size, now) = (plan.size, journal::now_ms());
            if !journal::can_resume(record, size, plan.mtime, &plan.file_id, now) {
                attempt.restart_note.get_or_insert_with(|| {
                    "the interrupted upload could not go on (file or upload id changed); started over"
                        .to_string()
                });
            } else if !confirmed_blocks_match(&self.spec.file.local, upload, size).await {
                attempt.restart_note =
                    Some("blocks sent earlier no longer match the file; started over".to_string());
            } else {
                attempt.resume = Some(ChunkedProgress {
                    plan: upload.plan.clone(),
                    next_seq: upload.next_seq,
                });
            }
        }
        attempt.resumed_at = attempt.resume.as_ref().map(|progress| progress.next_seq);
        match &attempt.resume {
            Some(progress) => {
                let (offset, len) = progress
                    .plan
                    .block_range(progress.next_seq.saturating_sub(1), plan.size);
                if progress.next_seq > 0 {
                    self.shared.emit(Event::Resumed {
                        job: self.spec.id,
                        bytes_done: offset + len,
                    });
                }
            }
            None => self
                .shared
                .journal(|journal| journal.clear_upload(&self.key)),
        }
    }

    /// Step 3: the bytes, from `attempt`'s resume point; a file that changed while it was
    /// sent starts over once.
    async fn send(&self, attempt: &mut Attempt) -> Result<Sent, Failure> {
        let shared = self.shared;
        loop {
            shared.unpark(self.slot).await;
            let observer = JobObserver {
                shared,
                key: &self.key,
                job: self.spec.id,
                preexisting: &attempt.preexisting,
                source: &attempt.source,
                mtime: attempt.mtime,
                create_sent: AtomicBool::new(false),
            };
            let sent = send::send_file(
                &shared.drive,
                &shared.writes,
                self.parent(),
                &attempt.source,
                attempt.resume.take(),
                &observer,
            )
            .await;
            let create_sent = observer.create_sent.load(Ordering::SeqCst);
            // A success answer without a token is not success: the outcome is unknown.
            let err = match sent {
                Ok(token) if !token.trim().is_empty() => return Ok(Sent::Token(token)),
                Ok(_) => None,
                Err(err) => Some(err),
            };
            if create_sent && err.as_ref().is_none_or(outcome_unknown) {
                return Ok(Sent::Unknown(err));
            }
            let Some(err) = err else {
                return Err(Failure::local("the upload ended without an answer"));
            };
            let now = tokio::fs::metadata(&attempt.source.path).await;
            if !changed(&attempt.source, attempt.mtime, now) {
                return Err(Failure::from_error(&err));
            }
            self.start_over(attempt).await?;
        }
    }

    /// The file changed while it was sent: start over once with it as it is now, and say so
    /// on the row.
    async fn start_over(&self, attempt: &mut Attempt) -> Result<(), Failure> {
        let local = &self.spec.file.local;
        if attempt.changed_restarts > 0 {
            return Err(Failure::local(format!(
                "{}: the file keeps changing while it uploads; stop what writes to it, then retry",
                local.display()
            )));
        }
        attempt.changed_restarts += 1;
        let now = tokio::fs::metadata(local)
            .await
            .map_err(|err| Failure::local(format!("{}: {err}", local.display())))?;
        attempt.source.size = now.len();
        attempt.mtime = plan::mtime_ns(&now);
        let (key, size, mtime, id, destination) = (
            self.key.clone(),
            attempt.source.size,
            attempt.mtime,
            journal::file_id(&now),
            self.spec.destination.to_string(),
        );
        self.shared
            .journal_wait(move |journal| journal.begin(&key, size, mtime, &id, &destination))
            .await;
        self.shared
            .journal(|journal| journal.clear_upload(&self.key));
        attempt.restart_note = Some(format!("{}; started over", send::FILE_CHANGED));
        Ok(())
    }

    /// Step 4: the answer's token settles the job; a lost answer is looked for in the folder,
    /// parked, before anything is sent again. None: send again.
    async fn confirm(&self, attempt: &mut Attempt, sent: Sent) -> Result<Option<JobEnd>, Failure> {
        let shared = self.shared;
        let err = match sent {
            Sent::Token(token) => {
                shared.claim(&token, &self.owner);
                let resumed = attempt
                    .resumed_at
                    .filter(|seq| *seq > 0)
                    .map(|seq| format!("resumed at block {seq}"));
                return Ok(Some(JobEnd::Uploaded {
                    token,
                    note: join_notes(&[
                        attempt.again_note.take(),
                        attempt.restart_note.take(),
                        resumed,
                    ]),
                }));
            }
            Sent::Unknown(err) => err,
        };
        attempt.creates += 1;
        let found = shared.reconcile(
            self.parent(),
            self.name(),
            Kind::File,
            &attempt.preexisting,
            &self.owner,
        );
        if let Some(token) = self.parked(found).await {
            // This run sent the whole file; only its answer was lost.
            shared.emit(Event::Progress {
                job: self.spec.id,
                bytes_done: attempt.source.size,
            });
            return Ok(Some(JobEnd::Uploaded {
                token,
                note: join_notes(&[
                    Some("confirmed in Drive after its answer was lost".to_string()),
                    attempt.again_note.take(),
                    attempt.restart_note.take(),
                ]),
            }));
        }
        if attempt.creates >= shared.create_attempts {
            return Err(match err {
                Some(err) => Failure::from_error(&err),
                None => Failure::local(
                    "the server answered without a file token, and the file is not in the folder",
                ),
            });
        }
        // Not there after the whole window, so the call created nothing. A chunked upload's
        // confirmed blocks stand; only what is missing is sent again.
        let key = self.key.clone();
        attempt.resume = shared
            .journal_wait(move |journal| journal.get(&key))
            .await
            .flatten()
            .and_then(|record| record.upload)
            .map(|upload| ChunkedProgress {
                plan: upload.plan,
                next_seq: upload.next_seq,
            });
        Ok(None)
    }

    /// The folder's cached listing learns the file this job stored under `token`.
    async fn remember_stored(&self, token: &str) {
        self.shared
            .remember(
                self.parent(),
                DriveEntry {
                    token: token.to_string(),
                    name: self.name().to_string(),
                    kind: "file".to_string(),
                    parent_token: self.parent().to_string(),
                    url: String::new(),
                    created_time: None,
                    modified_time: None,
                },
            )
            .await;
    }

    /// Step 5: the journal, the folder's listing and the row learn how the job ended.
    async fn record(&self, end: Result<JobEnd, Failure>) -> JobOutcome {
        let (shared, key, job) = (self.shared, &self.key, self.spec.id);
        match end {
            Ok(JobEnd::Uploaded { token, note }) => {
                shared.journal(|journal| journal.set_done(key, &token));
                self.remember_stored(&token).await;
                shared.emit(Event::Done {
                    job,
                    file_token: token,
                    note,
                    replaced: None,
                });
                JobOutcome::Done
            }
            Ok(JobEnd::Replaced { token, how, note }) => {
                if how == Replaced::InPlace {
                    shared.journal(|journal| journal.set_done(key, &token));
                } else {
                    // The listing already dropped the old file (`recycle`); add the new one.
                    self.remember_stored(&token).await;
                }
                shared.emit(Event::Done {
                    job,
                    file_token: token,
                    note: join_notes(&[Some(how.said().to_string()), note]),
                    replaced: Some(how),
                });
                JobOutcome::Done
            }
            Ok(JobEnd::AlreadyThere(token)) => {
                shared.emit(Event::AlreadyThere {
                    job,
                    file_token: token,
                });
                JobOutcome::Done
            }
            Ok(JobEnd::Skipped(reason)) => {
                shared.journal(|journal| journal.set_skipped(key, &reason));
                shared.emit(Event::Skipped { job, reason });
                JobOutcome::Skipped
            }
            Err(failure) => {
                let text = match failure.code {
                    Some(code) => format!("{code} {}", failure.message),
                    None => failure.message.clone(),
                };
                shared.journal(|journal| journal.set_failed(key, &text));
                shared.emit(Event::Failed { job, failure });
                JobOutcome::Failed
            }
        }
    }

    async fn ask_conflict(&self) -> ConflictChoice {
        let (answer_tx, answer_rx) = oneshot::channel();
        lock(&self.shared.pending_conflicts).insert(self.spec.id, answer_tx);
        self.shared.emit(Event::Conflict {
            job: self.spec.id,
            name: self.name().to_string(),
        });
        // A front end that leaves without answering gets the safe default.
        answer_rx.await.unwrap_or(ConflictChoice::Skip)
    }
}

/// Feishu's "already deleted": the node is in the recycle bin (docs/feishu-api.md §6b).
const ALREADY_DELETED: i64 = 1061007;

/// A delete that did not go through: the new file is in Drive, the old one still beside it,
/// and the journal owes its delete to the next run.
fn owed(err: &Error) -> Failure {
    let mut failure = Failure::from_error(err);
    failure.message = format!(
        "the new file is uploaded, but the old one could not go to the recycle bin ({}); a rerun deletes it",
        failure.message
    );
    failure
}

/// The newest file of `name` in `entries` (modified, else created time; the last listed on
/// a tie): the one a replace acts on.
fn newest(entries: &[DriveEntry], name: &str) -> Option<String> {
    entries
        .iter()
        .filter(|entry| entry.kind == "file" && entry.name == name)
        .max_by_key(|entry| entry.modified_time.or(entry.created_time))
        .map(|entry| entry.token.clone())
}

fn join_notes(notes: &[Option<String>]) -> Option<String> {
    let notes: Vec<&str> = notes.iter().flatten().map(String::as_str).collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// Size or mtime moved since the file was planned (or last restarted); gone counts as moved.
fn changed(source: &Source, mtime: i128, now: std::io::Result<std::fs::Metadata>) -> bool {
    match now {
        Ok(now) => now.len() != source.size || plan::mtime_ns(&now) != mtime,
        Err(_) => true,
    }
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

/// Runs `wait` (a journal call that waits for its commit, from one of `send`'s sync hooks)
/// so that the async worker's other tasks move on meanwhile (issue 18 #3): `block_in_place`
/// on the multi-threaded runtime both front ends use; as it is on any other.
fn off_worker<T>(wait: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

/// Journal and screen follow a send through this.
struct JobObserver<'a> {
    shared: &'a Shared,
    key: &'a JobKey,
    job: crate::transfer::events::JobId,
    preexisting: &'a [String],
    source: &'a Source,
    mtime: i128,
    /// Set when the call that creates the file went out: from then on an error is an unknown
    /// outcome, before it the file cannot exist.
    create_sent: AtomicBool,
}

impl SendObserver for JobObserver<'_> {
    fn prepared(&self, plan: &UploadPlan) {
        let now = journal::now_ms();
        self.shared
            .journal(|journal| journal.set_prepared(self.key, plan, now));
    }

    fn block_confirmed(&self, seq: u64, bytes_done: u64, adler32: Option<u32>) {
        if let Some(adler32) = adler32 {
            off_worker(|| {
                self.shared
                    .journal(|journal| journal.set_confirmed(self.key, seq, adler32))
            });
        }
        self.shared.emit(Event::Progress {
            job: self.job,
            bytes_done,
        });
    }

    fn creating(&self) -> Result<(), Error> {
        // Blocks read from two versions of a file would pass their checksums and store a
        // mix: never create the file from a source that moved.
        let now = off_worker(|| std::fs::metadata(&self.source.path));
        if changed(self.source, self.mtime, now) {
            return Err(send::local_error(
                &self.source.path,
                std::io::Error::other(send::FILE_CHANGED),
            ));
        }
        // Committed before the create call goes out: a crash after it finds "creating".
        off_worker(|| {
            self.shared
                .journal(|journal| journal.set_creating(self.key, self.preexisting))
        });
        self.create_sent.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(token: &str, name: &str, kind: &str, modified: Option<i64>) -> DriveEntry {
        DriveEntry {
            token: token.to_string(),
            name: name.to_string(),
            kind: kind.to_string(),
            parent_token: "fld".to_string(),
            url: String::new(),
            created_time: Some(1),
            modified_time: modified,
        }
    }

    #[test]
    fn a_replace_acts_on_the_newest_file_of_that_name() {
        let entries = [
            entry("boxOld", "a.txt", "file", Some(100)),
            entry("boxNew", "a.txt", "file", Some(300)),
            entry("boxMid", "a.txt", "file", Some(200)),
            entry("fldSame", "a.txt", "folder", Some(900)),
            entry("boxOther", "b.txt", "file", Some(999)),
        ];
        assert_eq!(newest(&entries, "a.txt").as_deref(), Some("boxNew"));
        assert_eq!(newest(&entries, "c.txt"), None);
    }
}
