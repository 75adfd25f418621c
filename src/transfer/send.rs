//! Sending one local file to a Drive folder: upload_all up to 20 MiB, prepare / part / finish
//! above (docs/feishu-api.md §1, §2), every call through the shared pacer.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::AsyncReadExt;

use super::blocks::{self, BlockStream};
use super::pacer::{Idempotence, Pacer};
use super::plan;
use crate::feishu::drive::UPLOAD_ALL_MAX_BYTES;
use crate::feishu::{Drive, Error, RetryClass, UploadPlan};

/// How many times one file's chunked upload may start over after 1061021 (upload id expired).
const MAX_UPLOAD_RESTARTS: u32 = 2;

/// A local file about to be sent.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    /// The name it gets in Drive.
    pub name: String,
    pub size: u64,
    /// The Drive file this upload goes over (`file_token`, docs/feishu-api.md §13), for a
    /// replace; the answer's token says whether Drive replaced it in place.
    pub replaces: Option<String>,
}

/// Where a chunked upload stands: the server's plan and how many blocks it has confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedProgress {
    pub plan: UploadPlan,
    pub next_seq: u64,
}

/// Hears what a send does, so the journal and the screen can follow it.
pub trait SendObserver: Send + Sync {
    /// A chunked upload got a (new) upload id.
    fn prepared(&self, _plan: &UploadPlan) {}
    /// The server confirmed a block; `bytes_done` counts all confirmed bytes of the file, and
    /// `adler32` is the block's checksum (None for upload_all's whole file).
    fn block_confirmed(&self, _seq: u64, _bytes_done: u64, _adler32: Option<u32>) {}
    /// About to send a call that creates the file (upload_all or upload_finish): after this,
    /// a broken connection may have left the file in Drive. An error here stops the send.
    fn creating(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// Observes nothing.
pub struct Unobserved;
impl SendObserver for Unobserved {}

/// A local failure of `path`, its cause kept as the error's source.
pub fn local_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn open(source: &Source) -> Result<File, Error> {
    File::open(&source.path).map_err(|err| local_error(&source.path, err))
}

/// Uploads `source` into `parent_token` and returns the new file's token. A chunked upload
/// continues from `resume` when given (after a crash), else starts with prepare.
pub async fn send_file(
    drive: &Drive,
    pacer: &Pacer,
    parent_token: &str,
    source: &Source,
    resume: Option<ChunkedProgress>,
    observer: &dyn SendObserver,
) -> Result<String, Error> {
    if source.size <= UPLOAD_ALL_MAX_BYTES {
        return send_whole(drive, pacer, parent_token, source, observer).await;
    }
    let mut resume = resume;
    let mut restarts = 0;
    loop {
        match send_chunked(drive, pacer, parent_token, source, resume.take(), observer).await {
            Err(err)
                if err.retry_class() == RetryClass::RestartUpload
                    && restarts < MAX_UPLOAD_RESTARTS =>
            {
                restarts += 1;
            }
            other => return other,
        }
    }
}

async fn send_whole(
    drive: &Drive,
    pacer: &Pacer,
    parent_token: &str,
    source: &Source,
    observer: &dyn SendObserver,
) -> Result<String, Error> {
    let file = open(source)?;
    // What the checksum reads; the body must end on the same version of the file.
    let read_as = file
        .metadata()
        .map(|metadata| Version::of(&metadata))
        .map_err(|err| local_error(&source.path, err))?;
    let size = source.size;
    let adler32 = tokio::task::spawn_blocking(move || blocks::adler32_of(&file, size))
        .await
        .map_err(|err| local_error(&source.path, std::io::Error::other(err)))?
        .map_err(|err| local_error(&source.path, err))?;
    observer.creating()?;
    let token = pacer
        .call(Idempotence::CreatesSomething, || async {
            // Each attempt streams the file afresh from disk, checked before its last bytes go.
            let file = tokio::fs::File::open(&source.path)
                .await
                .map_err(|err| local_error(&source.path, err))?;
            let changed = Arc::new(AtomicBool::new(false));
            let body = checked_body(file, source, read_as, changed.clone());
            let sent = match &source.replaces {
                Some(old) => drive
                    .upload_all_replacing(parent_token, old, &source.name, body, size, adler32)
                    .await
                    .map(|uploaded| uploaded.file_token),
                None => {
                    drive
                        .upload_all(parent_token, &source.name, body, size, adler32)
                        .await
                }
            };
            // The body broke off before its end, so nothing was stored: a local failure,
            // which the job answers by starting over with the file as it is now.
            match sent {
                Err(_) if changed.load(Ordering::SeqCst) => Err(local_error(
                    &source.path,
                    std::io::Error::other(FILE_CHANGED),
                )),
                other => other,
            }
        })
        .await?;
    observer.block_confirmed(0, size, None);
    Ok(token)
}

/// Why a send stopped when its source moved under it.
pub const FILE_CHANGED: &str = "the file changed while it was uploading";

/// A file's size and modification time: what tells one version of it from the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    len: u64,
    mtime_ns: i128,
}

impl Version {
    fn of(metadata: &std::fs::Metadata) -> Version {
        Version {
            len: metadata.len(),
            mtime_ns: plan::mtime_ns(metadata),
        }
    }
}

/// upload_all's body: the first `source.size` bytes of `file`, as the big path's blocks are,
/// except that its last chunk goes only once the file is still the version `read_as` — a file
/// that grew or changed while it was sent would otherwise be stored cut to its old size (or
/// mixed) and reported done (issue 18 #10). When it did change, `changed` is set and the body
/// fails instead of ending, so the server never sees a whole request and stores nothing.
fn checked_body(
    file: tokio::fs::File,
    source: &Source,
    read_as: Version,
    changed: Arc<AtomicBool>,
) -> impl tokio::io::AsyncRead + Send + 'static {
    const CHUNK: usize = 64 * 1024;
    let state = (file, 0u64, source.size, source.path.clone(), changed);
    let chunks = futures_util::stream::try_unfold(
        state,
        move |(mut file, sent, size, path, changed)| async move {
            if sent == size {
                return Ok(None);
            }
            let want = (size - sent).min(CHUNK as u64) as usize;
            let mut chunk = vec![0; want];
            let read = file.read(&mut chunk).await?;
            chunk.truncate(read);
            let sent = sent + read as u64;
            let stopped = read == 0;
            if stopped || sent == size {
                let now = tokio::fs::metadata(&path)
                    .await
                    .map(|now| Version::of(&now));
                if stopped || now.ok() != Some(read_as) {
                    changed.store(true, Ordering::SeqCst);
                    return Err(std::io::Error::other(FILE_CHANGED));
                }
            }
            Ok(Some((
                bytes::Bytes::from(chunk),
                (file, sent, size, path, changed),
            )))
        },
    );
    tokio_util::io::StreamReader::new(chunks)
}

async fn send_chunked(
    drive: &Drive,
    pacer: &Pacer,
    parent_token: &str,
    source: &Source,
    resume: Option<ChunkedProgress>,
    observer: &dyn SendObserver,
) -> Result<String, Error> {
    let progress = match resume {
        Some(progress) => progress,
        None => {
            let plan = pacer
                .call(Idempotence::Safe, || async {
                    match &source.replaces {
                        Some(old) => {
                            drive
                                .upload_prepare_replacing(
                                    parent_token,
                                    &source.name,
                                    source.size,
                                    old,
                                )
                                .await
                        }
                        None => {
                            drive
                                .upload_prepare(parent_token, &source.name, source.size)
                                .await
                        }
                    }
                })
                .await?;
            observer.prepared(&plan);
            ChunkedProgress { plan, next_seq: 0 }
        }
    };
    let plan = progress.plan;
    let mut blocks = BlockStream::new(open(source)?, plan.clone(), source.size, progress.next_seq);
    while let Some(block) = blocks.next().await {
        let block = block.map_err(|err| local_error(&source.path, err))?;
        // A block is safe to send again: the same seq overwrites (docs/feishu-api.md §2b).
        pacer
            .call(Idempotence::Safe, || {
                drive.upload_part(
                    &plan.upload_id,
                    block.seq,
                    block.bytes.clone(),
                    block.adler32,
                )
            })
            .await?;
        let (offset, len) = plan.block_range(block.seq, source.size);
        observer.block_confirmed(block.seq, offset + len, Some(block.adler32));
    }
    observer.creating()?;
    pacer
        .call(Idempotence::CreatesSomething, || {
            drive.upload_finish(&plan.upload_id, plan.block_num)
        })
        .await
}
