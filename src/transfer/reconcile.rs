//! Unknown outcomes (issue 11): a create call (upload_all, upload_finish, create_folder) went out
//! and no usable answer came back, so the node may exist now or show a moment later. Look for
//! it with backoff before creating again; `--retries` bounds the create calls. The engine's
//! files and folders and `larkup mkdir` all come through here, so "created exactly once" means
//! one thing everywhere.

use std::time::Duration;

use super::pacer::{outcome_unknown, Idempotence, Pacer};
use crate::feishu::{Drive, DriveEntry, Error, Lang};

/// Looks into the folder after an unknown outcome, in units of the base (1 s): immediately,
/// then 1, 2, 4 and 8 later — Drive's listing can lag its writes (docs/feishu-api.md §6b 1065200
/// "主从延迟", §12), and a gateway may still commit a request whose answer was lost.
const STEPS: [u64; 5] = [0, 1, 2, 4, 8];
/// Create calls per file or folder: `--retries` + 1.
pub fn create_attempts(writes: &Pacer) -> u32 {
    u32::try_from(writes.retry_law().max_retries)
        .unwrap_or(u32::MAX - 1)
        .saturating_add(1)
}

/// What a create call makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Folder,
}

impl Kind {
    fn is(self, entry: &DriveEntry) -> bool {
        match self {
            Kind::File => entry.kind == "file",
            Kind::Folder => entry.is_folder(),
        }
    }
}

/// The looks after an unknown outcome: where and how far apart.
#[derive(Clone)]
pub struct Looks<'a> {
    pub drive: &'a Drive,
    /// Listing's pacer.
    pub reads: &'a Pacer,
    pub base: Duration,
}

/// The looks' base for a server: 1 s, or the test knob `LARKUP_RECONCILE_BASE_MS` for one on
/// this machine (a shorter window against a real deployment would send again what is merely
/// committed late).
pub fn base_for(base_url: &str) -> Duration {
    crate::test_knobs::Knob::ReconcileBaseMs
        .value(base_url)
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

impl Looks<'_> {
    async fn listing(&self, parent: &str) -> Result<Vec<DriveEntry>, Error> {
        self.reads
            .call(Idempotence::Safe, || self.drive.list_folder(parent))
            .await
    }

    /// What an unanswered create call may have stored: a `kind` entry named `name` in
    /// `parent`, absent from `before` (the tokens listed before the first send), that `claim`
    /// accepts (no other job of this process has it; `claim` records it as taken).
    pub async fn find_new(
        &self,
        parent: &str,
        name: &str,
        kind: Kind,
        before: &[String],
        claim: impl Fn(&str) -> bool,
    ) -> Option<String> {
        for step in STEPS {
            tokio::time::sleep(self.base * step as u32).await;
            let Ok(entries) = self.listing(parent).await else {
                continue;
            };
            let found = entries.iter().find(|entry| {
                entry.name == name
                    && kind.is(entry)
                    && !before.contains(&entry.token)
                    && claim(&entry.token)
            });
            if let Some(entry) = found {
                return Some(entry.token.clone());
            }
        }
        None
    }

    /// Whether `parent`'s listing shows `token`, looking again with backoff (listing lag).
    pub async fn find_token(&self, parent: &str, token: &str) -> bool {
        for step in STEPS {
            tokio::time::sleep(self.base * step as u32).await;
            if let Ok(entries) = self.listing(parent).await {
                if entries.iter().any(|entry| entry.token == token) {
                    return true;
                }
            }
        }
        false
    }
}

/// Why a folder was not created.
#[derive(Debug)]
pub enum CreateError {
    /// The server refused: nothing was created.
    Refused(Error),
    /// Every attempt's outcome stayed unknown and the folder never showed: it may still
    /// appear (a later run looks for it before creating).
    NotFound(Option<Error>),
}

impl CreateError {
    /// The last call's error, when there was one.
    pub fn error(&self) -> Option<&Error> {
        match self {
            CreateError::Refused(err) | CreateError::NotFound(Some(err)) => Some(err),
            CreateError::NotFound(None) => None,
        }
    }

    pub fn describe(&self, lang: Lang) -> String {
        match self.error() {
            Some(err) => err.describe(lang),
            None => NO_TOKEN.to_string(),
        }
    }
}

const NO_TOKEN: &str =
    "the server answered without the new folder's token, and the folder is not there";

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.error() {
            Some(err) => err.fmt(f),
            None => f.write_str(NO_TOKEN),
        }
    }
}

/// One new folder named `name` in `parent` for a caller that alone claims what it makes
/// (`larkup mkdir`, the app's new folder). `listed` is the parent's listing taken before the
/// first create call: a folder of that name found after a lost answer and not in it is this
/// call's.
pub async fn create_unclaimed_folder(
    drive: &Drive,
    reads: &Pacer,
    writes: &Pacer,
    parent: &str,
    name: &str,
    listed: &[DriveEntry],
) -> Result<String, CreateError> {
    let before: Vec<String> = listed
        .iter()
        .filter(|entry| entry.name == name)
        .map(|entry| entry.token.clone())
        .collect();
    let looks = Looks {
        drive,
        reads,
        base: base_for(drive.client().base_url()),
    };
    create_folder(&looks, writes, parent, name, &before, |_| true).await
}

/// Creates folder `name` in `parent` once: the answer's token, or — when the outcome is
/// unknown — the folder found by `looks` (new since `before`, accepted by `claim`), before
/// creating again; at most `create_attempts(writes)` create calls. Always a new folder, even
/// beside one of the same name (Feishu allows that): merging is the caller's choice.
pub async fn create_folder(
    looks: &Looks<'_>,
    writes: &Pacer,
    parent: &str,
    name: &str,
    before: &[String],
    claim: impl Fn(&str) -> bool,
) -> Result<String, CreateError> {
    let attempts = create_attempts(writes);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let err = match writes
            .call(Idempotence::CreatesSomething, || {
                looks.drive.create_folder(parent, name)
            })
            .await
        {
            Ok(created) if !created.token.trim().is_empty() => {
                claim(&created.token);
                return Ok(created.token);
            }
            // Success without a token: it may exist, but not by any token we were told.
            Ok(_) => None,
            Err(err) if outcome_unknown(&err) => Some(err),
            Err(err) => return Err(CreateError::Refused(err)),
        };
        // The answer was lost: the folder may exist now. Look before creating again.
        if let Some(token) = looks
            .find_new(parent, name, Kind::Folder, before, &claim)
            .await
        {
            return Ok(token);
        }
        if attempt >= attempts {
            return Err(CreateError::NotFound(err));
        }
    }
}
