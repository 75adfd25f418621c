//! Carries out what `App::update` asks for (`Effect`s): listings, folder creation, engine
//! commands, saving bookmarks, the login flows, the clipboard. Results come back to the loop as
//! `Action`s; nothing here changes the app's state.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{listers, login, send, terminal, Msg};
use crate::app::{Action, App, Effect};
use crate::config::Settings;
use crate::feishu::Drive;
use crate::session::SessionOptions;
use crate::transfer::engine::Command;
use crate::transfer::reconcile::{self, CreateError};
use crate::transfer::{Idempotence, Pacer};

/// What the loop holds to reach the outside world once there is a session.
pub(super) struct Backend {
    /// The demo's tokens mean nothing outside its sandbox: its bookmarks are not saved.
    pub(super) demo: bool,
    pub(super) drive: Drive,
    /// The write family's pacer, shared with the engine (docs/feishu-api.md §0, §5).
    pub(super) pacer: Arc<Pacer>,
    /// Listing's pacer, with the same token refresher.
    pub(super) reads: Arc<Pacer>,
    pub(super) commands: mpsc::UnboundedSender<Command>,
}

pub(super) fn run_effects(
    effects: Vec<Effect>,
    app: &App,
    backend: Option<&Backend>,
    options: &SessionOptions,
    tx: &mpsc::UnboundedSender<Msg>,
) {
    let lang = app.lang;
    for effect in effects {
        match effect {
            Effect::ListLocal { dir, generation } => {
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || listers::list_local(&dir, generation, &tx));
            }
            Effect::LoadDriveRoot => {
                let Some(backend) = backend else { continue };
                listers::load_drive_root(
                    backend.drive.clone(),
                    backend.reads.clone(),
                    lang,
                    tx.clone(),
                );
            }
            Effect::ListDrive {
                folder,
                page_token,
                generation,
            } => {
                let Some(backend) = backend else { continue };
                listers::list_drive_page(
                    backend.drive.clone(),
                    backend.reads.clone(),
                    lang,
                    tx.clone(),
                    folder,
                    page_token,
                    generation,
                );
            }
            Effect::CreateFolder { parent, name } => {
                let Some(backend) = backend else { continue };
                let (drive, pacer, reads, tx) = (
                    backend.drive.clone(),
                    backend.pacer.clone(),
                    backend.reads.clone(),
                    tx.clone(),
                );
                // create_folder is in the write family (docs/feishu-api.md §5): one pacer with the
                // uploads, so it waits while they are paused (the status line says so). A lost
                // answer is looked for before creating again, as `larkup mkdir` does, so Enter
                // after an error cannot make the folder twice (issue 18 #2).
                tokio::spawn(async move {
                    let result = new_folder(&drive, &pacer, &reads, &parent, &name)
                        .await
                        .map_err(|err| err.describe(lang));
                    send(
                        &tx,
                        Action::FolderCreated {
                            parent,
                            name,
                            result,
                        },
                    );
                });
            }
            Effect::Engine(command) => {
                let sent = backend.map(|backend| backend.commands.send(command));
                if !matches!(sent, Some(Ok(()))) {
                    send(
                        tx,
                        Action::Report("the upload engine is not running".to_string()),
                    );
                }
            }
            Effect::SaveBookmarks(_) if backend.is_some_and(|backend| backend.demo) => {}
            Effect::SaveBookmarks(bookmarks) => save_bookmarks(bookmarks, tx.clone()),
            Effect::StartLogin {
                app_id,
                secret,
                flow,
            } => login::start(
                options.resolved_base_url(),
                options.profile.clone(),
                app_id,
                secret,
                flow,
                lang,
                tx.clone(),
            ),
            Effect::CopyToClipboard(text) => {
                if let Err(err) = terminal::copy_to_clipboard(&text) {
                    send(tx, Action::Report(format!("cannot copy: {err}")));
                }
            }
        }
    }
}

/// Writes the bookmarks off the event loop (file I/O would freeze keys and drawing). Saves
/// run one at a time, and one overtaken by a newer save writes nothing, so the file ends with
/// the latest list whatever order the blocking pool runs them in.
fn save_bookmarks(bookmarks: Vec<crate::config::Bookmark>, tx: mpsc::UnboundedSender<Msg>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static ASKED: AtomicU64 = AtomicU64::new(0);
    static WRITTEN: std::sync::Mutex<u64> = std::sync::Mutex::new(0);
    let this = ASKED.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::task::spawn_blocking(move || {
        let mut written = WRITTEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *written > this {
            return;
        }
        *written = this;
        if let Err(err) = Settings::update(|settings| settings.bookmarks = bookmarks) {
            send(&tx, Action::Report(format!("bookmark not saved: {err}")));
        }
    });
}

/// One new folder named `name` in `parent` through `transfer::reconcile`: the folders of that
/// name listed first, so one found after a lost answer is known to be this call's.
async fn new_folder(
    drive: &Drive,
    writes: &Pacer,
    reads: &Pacer,
    parent: &str,
    name: &str,
) -> Result<String, CreateError> {
    let listed = reads
        .call(Idempotence::Safe, || drive.list_folder(parent))
        .await
        .map_err(CreateError::Refused)?;
    reconcile::create_unclaimed_folder(drive, reads, writes, parent, name, &listed).await
}
