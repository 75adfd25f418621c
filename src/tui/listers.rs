//! Background listings: a local directory read in chunks on a blocking thread, and Drive
//! folders paged in through the session's read pacer and client (the client holds the refresher,
//! so an expired token is renewed instead of showing as an error in the pane).

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{send, Msg};
use crate::app::local::LocalEntry;
use crate::app::{Action, DrivePage};
use crate::feishu::{Drive, Lang};
use crate::transfer::{Idempotence, Pacer};

/// The first chunk of a listing is small so the first screen draws at once; later chunks are
/// bigger so a 100k-entry folder does not re-sort for every few entries.
pub(super) const FIRST_CHUNK: usize = 256;
const CHUNK: usize = 8192;

/// My Space's root token (docs/feishu-api.md §4a).
pub(super) fn load_drive_root(
    drive: Drive,
    reads: Arc<Pacer>,
    lang: Lang,
    tx: mpsc::UnboundedSender<Msg>,
) {
    tokio::spawn(async move {
        let result = reads
            .call(Idempotence::Safe, || drive.root_folder())
            .await
            .map(|root| root.token)
            .map_err(|err| format!("cannot open My Space: {}", err.describe(lang)));
        send(&tx, Action::DriveRoot(result));
    });
}

/// One page of a Drive folder (docs/feishu-api.md §3a).
pub(super) fn list_drive_page(
    drive: Drive,
    reads: Arc<Pacer>,
    lang: Lang,
    tx: mpsc::UnboundedSender<Msg>,
    folder: String,
    page_token: Option<String>,
    generation: u64,
) {
    tokio::spawn(async move {
        let result = reads
            .call(Idempotence::Safe, || {
                drive.list_page(&folder, page_token.as_deref())
            })
            .await
            .map(|page| DrivePage {
                entries: page.files,
                next_page: page
                    .next_page_token
                    .filter(|next| page.has_more && !next.is_empty()),
            })
            .map_err(|err| format!("cannot list the folder: {}", err.describe(lang)));
        send(&tx, Action::DrivePage { generation, result });
    });
}

/// Reads a directory in chunks on a blocking thread; the first chunk goes out at once so a
/// huge folder shows its first screen while the rest is still being read.
pub(super) fn list_local(dir: &Path, generation: u64, tx: &mpsc::UnboundedSender<Msg>) {
    let reader = match std::fs::read_dir(dir) {
        Ok(reader) => reader,
        Err(err) => {
            send(
                tx,
                Action::LocalListed {
                    generation,
                    entries: Vec::new(),
                    seen: 0,
                    done: true,
                    error: Some(format!("cannot read {}: {err}", dir.display())),
                },
            );
            return;
        }
    };
    let mut chunk = Vec::new();
    let mut seen = 0u64;
    let mut limit = FIRST_CHUNK;
    for item in reader {
        let Ok(item) = item else { continue };
        let path = item.path();
        // Follow symlinks for size and kind; a dangling link still shows, with no size.
        let meta = std::fs::metadata(&path).or_else(|_| item.metadata());
        let (is_dir, size, mtime) = match &meta {
            Ok(meta) => (
                meta.is_dir(),
                meta.len(),
                meta.modified()
                    .ok()
                    .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|since| since.as_secs() as i64),
            ),
            Err(_) => (false, 0, None),
        };
        chunk.push(LocalEntry {
            name: item.file_name().to_string_lossy().into_owned(),
            path,
            is_dir,
            size: if is_dir { 0 } else { size },
            mtime,
        });
        seen += 1;
        if chunk.len() >= limit {
            limit = CHUNK;
            let entries = std::mem::take(&mut chunk);
            send(
                tx,
                Action::LocalListed {
                    generation,
                    entries,
                    seen,
                    done: false,
                    error: None,
                },
            );
        }
    }
    send(
        tx,
        Action::LocalListed {
            generation,
            entries: chunk,
            seen,
            done: true,
            error: None,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_sends_a_small_first_chunk_then_the_rest() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        for i in 0..1000 {
            std::fs::write(dir.path().join(format!("f{i}")), b"x").expect("file");
        }
        std::fs::create_dir(dir.path().join("sub")).expect("dir");
        let (tx, mut rx) = mpsc::unbounded_channel();
        list_local(dir.path(), 7, &tx);
        let mut chunks = Vec::new();
        while let Ok(Msg::Action(Action::LocalListed {
            generation,
            entries,
            done,
            seen,
            ..
        })) = rx.try_recv()
        {
            assert_eq!(generation, 7);
            chunks.push((entries, done, seen));
        }
        assert_eq!(
            chunks[0].0.len(),
            FIRST_CHUNK,
            "the first screen comes early"
        );
        assert!(!chunks[0].1);
        let last = chunks.last().expect("a last chunk");
        assert!(last.1);
        assert_eq!(last.2, 1001);
        let all: Vec<&LocalEntry> = chunks.iter().flat_map(|c| c.0.iter()).collect();
        assert_eq!(all.len(), 1001);
        assert!(all.iter().any(|e| e.is_dir && e.name == "sub"));
    }

    #[test]
    fn an_unreadable_directory_names_itself_and_the_reason() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        list_local(Path::new("/no/such/dir"), 1, &tx);
        match rx.try_recv() {
            Ok(Msg::Action(Action::LocalListed {
                error: Some(error),
                done: true,
                ..
            })) => assert!(error.contains("/no/such/dir"), "{error}"),
            _ => panic!("expected a finished listing with an error"),
        }
    }
}
