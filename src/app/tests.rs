//! `App::update`, one test (or more) per `Action`, without a terminal or a network.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;
use crate::feishu::DriveEntry;
use crate::transfer::events::{ConflictChoice, Failure};

fn local(name: &str, is_dir: bool, size: u64, mtime: i64) -> LocalEntry {
    LocalEntry {
        name: name.to_string(),
        path: PathBuf::from("/data").join(name),
        is_dir,
        size,
        mtime: Some(mtime),
    }
}

fn remote(name: &str, token: &str, kind: &str) -> DriveEntry {
    DriveEntry {
        token: token.to_string(),
        name: name.to_string(),
        kind: kind.to_string(),
        parent_token: String::new(),
        url: String::new(),
        created_time: None,
        modified_time: None,
    }
}

/// An app with /data listed and My Space open.
fn app() -> App {
    let mut app = App::new(
        PathBuf::from("/data"),
        "Ada".to_string(),
        "open.feishu.cn".to_string(),
        Lang::En,
    );
    app.update(Action::Resize {
        width: 120,
        height: 40,
    });
    let effects = app.start();
    assert!(matches!(
        effects[0],
        Effect::ListLocal { generation: 1, .. }
    ));
    assert!(matches!(effects[1], Effect::LoadDriveRoot));
    app.update(Action::LocalListed {
        generation: 1,
        entries: vec![
            local("b.txt", false, 20, 200),
            local("a.txt", false, 10, 300),
            local("docs", true, 0, 100),
            local(".env", false, 5, 400),
        ],
        seen: 4,
        done: true,
        error: None,
    });
    let effects = app.update(Action::DriveRoot(Ok("root".to_string())));
    assert!(matches!(
        &effects[..],
        [Effect::ListDrive { folder, page_token: None, generation: 1 }] if folder == "root"
    ));
    app.update(Action::DrivePage {
        generation: 1,
        result: Ok(DrivePage {
            entries: vec![
                remote("notes.docx", "doc1", "docx"),
                remote("Projects", "fld1", "folder"),
            ],
            next_page: None,
        }),
    });
    app
}

fn names(app: &App) -> Vec<String> {
    app.local
        .visible
        .iter()
        .map(|&i| app.local.entries[i].name.clone())
        .collect()
}

fn t0() -> Instant {
    Instant::now()
}

fn queued(job: u64, name: &str, size: u64) -> Event {
    Event::Queued {
        job,
        path: PathBuf::from("/data").join(name).into(),
        size,
        folder: "".into(),
    }
}

#[test]
fn listing_sorts_dirs_first_and_hides_dotfiles() {
    let app = app();
    assert_eq!(names(&app), ["docs", "a.txt", "b.txt"]);
    assert_eq!(app.local.loading, None);
    // Folders first in the picker too.
    assert_eq!(app.drive.entries[0].name, "Projects");
}

#[test]
fn local_listed_from_an_old_listing_is_dropped_and_chunks_keep_loading() {
    let mut app = app();
    app.update(Action::LocalListed {
        generation: 0,
        entries: vec![local("stale", false, 1, 1)],
        seen: 1,
        done: true,
        error: None,
    });
    assert!(!names(&app).contains(&"stale".to_string()));
    app.update(Action::Enter); // into docs
    let gen = app.local.generation;
    app.update(Action::LocalListed {
        generation: gen,
        entries: vec![local("x", false, 1, 1)],
        seen: 1,
        done: false,
        error: None,
    });
    assert_eq!(app.local.loading, Some(1));
    app.update(Action::LocalListed {
        generation: gen,
        entries: vec![],
        seen: 1,
        done: true,
        error: Some("cannot read /data/docs: denied".to_string()),
    });
    assert_eq!(app.local.loading, None);
    assert!(app.local.error.is_some());
}

#[test]
fn up_down_page_top_bottom_move_the_cursor() {
    let mut app = app();
    app.update(Action::Down);
    assert_eq!(app.local.cursor, 1);
    app.update(Action::Up);
    app.update(Action::Up);
    assert_eq!(app.local.cursor, 0);
    app.update(Action::PageDown);
    assert_eq!(app.local.cursor, 2);
    app.update(Action::PageUp);
    assert_eq!(app.local.cursor, 0);
    app.update(Action::Bottom);
    assert_eq!(app.local.cursor, 2);
    app.update(Action::Top);
    assert_eq!(app.local.cursor, 0);
}

#[test]
fn enter_and_back_walk_local_directories() {
    let mut app = app();
    let effects = app.update(Action::Enter);
    assert!(
        matches!(&effects[..], [Effect::ListLocal { dir, generation: 2 }] if dir == &PathBuf::from("/data/docs"))
    );
    let effects = app.update(Action::Back);
    assert!(
        matches!(&effects[..], [Effect::ListLocal { dir, .. }] if dir == &PathBuf::from("/data"))
    );
    // The cursor goes back onto the directory we came from.
    let gen = app.local.generation;
    app.update(Action::LocalListed {
        generation: gen,
        entries: vec![
            local("a.txt", false, 1, 1),
            local("docs", true, 0, 1),
            local("z", true, 0, 1),
        ],
        seen: 3,
        done: true,
        error: None,
    });
    assert_eq!(app.local.selected().map(|e| e.name.as_str()), Some("docs"));
}

#[test]
fn enter_and_back_walk_drive_folders_and_set_the_destination() {
    let mut app = app();
    app.update(Action::Focus(Pane::Drive));
    let effects = app.update(Action::Enter);
    assert!(matches!(&effects[..], [Effect::ListDrive { folder, .. }] if folder == "fld1"));
    assert_eq!(app.drive.breadcrumb(), "My Space / Projects");
    assert_eq!(app.drive.destination_path(), "/Projects");
    let effects = app.update(Action::Back);
    assert!(matches!(&effects[..], [Effect::ListDrive { folder, .. }] if folder == "root"));
    assert!(
        app.update(Action::Back).is_empty(),
        "My Space has no parent"
    );
}

#[test]
fn drive_pages_load_as_the_cursor_nears_the_end() {
    let mut app = app();
    app.update(Action::Focus(Pane::Drive));
    app.update(Action::Refresh);
    let gen = app.drive.generation;
    let page: Vec<DriveEntry> = (0..50)
        .map(|i| remote(&format!("f{i:02}"), &format!("t{i}"), "folder"))
        .collect();
    let effects = app.update(Action::DrivePage {
        generation: gen,
        result: Ok(DrivePage {
            entries: page,
            next_page: Some("pg50".to_string()),
        }),
    });
    assert!(effects.is_empty(), "the first page fills the pane");
    app.update(Action::Bottom);
    assert!(app.drive.loading);
    let effects = app.update(Action::Down);
    assert!(effects.is_empty(), "one page request at a time");
    let effects = app.update(Action::DrivePage {
        generation: gen,
        result: Err("cannot list the folder: 99991400".to_string()),
    });
    assert!(effects.is_empty());
    assert!(app.drive.error.is_some());
}

#[test]
fn a_page_token_handed_out_twice_ends_the_listing() {
    let mut app = app();
    app.update(Action::Focus(Pane::Drive));
    app.update(Action::Refresh);
    let gen = app.drive.generation;
    let page = |first: usize| DrivePage {
        entries: (first..first + 3)
            .map(|i| remote(&format!("f{i:02}"), &format!("t{i}"), "file"))
            .collect(),
        next_page: Some(if first == 0 { "pgA" } else { "pgB" }.to_string()),
    };
    // Short pages ask for more at once: A, then B, then A again from a looping server.
    let effects = app.update(Action::DrivePage {
        generation: gen,
        result: Ok(page(0)),
    });
    assert!(
        matches!(effects.as_slice(), [Effect::ListDrive { page_token: Some(t), .. }] if t == "pgA")
    );
    let effects = app.update(Action::DrivePage {
        generation: gen,
        result: Ok(page(3)),
    });
    assert!(
        matches!(effects.as_slice(), [Effect::ListDrive { page_token: Some(t), .. }] if t == "pgB")
    );
    let mut looped = page(6);
    looped.next_page = Some("pgA".to_string());
    let effects = app.update(Action::DrivePage {
        generation: gen,
        result: Ok(looped),
    });
    assert!(effects.is_empty(), "no request for a page already followed");
    assert!(app
        .drive
        .error
        .as_deref()
        .is_some_and(|e| e.contains("repeated a page token")));
    assert_eq!(app.drive.entries.len(), 9);
}

#[test]
fn focus_next_cycles_and_focus_sets() {
    let mut app = app();
    app.update(Action::FocusNext);
    assert_eq!(app.focus, Pane::Drive);
    app.update(Action::FocusNext);
    assert_eq!(app.focus, Pane::Queue);
    app.update(Action::FocusNext);
    assert_eq!(app.focus, Pane::Local);
    app.update(Action::Focus(Pane::Queue));
    assert_eq!(app.focus, Pane::Queue);
}

#[test]
fn marks_toggle_mark_all_and_survive_directory_changes() {
    let mut app = app();
    app.update(Action::Down);
    app.update(Action::ToggleMark); // a.txt, cursor moves to b.txt
    assert!(app.marks.contains(&PathBuf::from("/data/a.txt")));
    assert_eq!(app.local.cursor, 2);
    app.update(Action::ToggleMark);
    assert_eq!(app.marks.len(), 2);
    app.update(Action::Top);
    app.update(Action::Enter);
    assert_eq!(
        app.marks.len(),
        2,
        "marks survive moving between directories"
    );
    app.update(Action::Back);
    let gen = app.local.generation;
    app.update(Action::LocalListed {
        generation: gen,
        entries: vec![local("a.txt", false, 10, 1), local("b.txt", false, 20, 1)],
        seen: 2,
        done: true,
        error: None,
    });
    app.update(Action::MarkAll);
    assert!(
        app.marks.is_empty(),
        "all shown were marked: MarkAll unmarks them"
    );
    app.update(Action::MarkAll);
    assert_eq!(app.marks.len(), 2);
}

#[test]
fn hidden_toggle_and_sort_cycle() {
    let mut app = app();
    app.update(Action::ToggleHidden);
    assert_eq!(names(&app), ["docs", ".env", "a.txt", "b.txt"]);
    app.update(Action::ToggleHidden);
    app.update(Action::CycleSort);
    assert_eq!(
        names(&app),
        ["docs", "b.txt", "a.txt"],
        "size: largest first"
    );
    app.update(Action::CycleSort);
    assert_eq!(
        names(&app),
        ["docs", "a.txt", "b.txt"],
        "time: newest first"
    );
    app.update(Action::CycleSort);
    assert_eq!(app.local.sort, local::SortKey::Name);
}

#[test]
fn filter_as_you_type_with_input_delete_submit_cancel() {
    let mut app = app();
    app.update(Action::StartFilter);
    assert_eq!(app.mode, Mode::Filter);
    app.update(Action::Input('B'));
    assert_eq!(names(&app), ["b.txt"]);
    app.update(Action::DeleteChar);
    assert_eq!(names(&app).len(), 3);
    app.update(Action::Input('a'));
    app.update(Action::Submit);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(names(&app), ["a.txt"], "the filter stays after Enter");
    app.update(Action::StartFilter);
    app.update(Action::Cancel);
    assert_eq!(names(&app).len(), 3, "Esc clears it");
}

#[test]
fn new_folder_prompt_creates_and_shows_errors_with_the_name_kept() {
    let mut app = app();
    app.update(Action::Focus(Pane::Drive));
    app.update(Action::NewFolder);
    for c in "Q3".chars() {
        app.update(Action::Input(c));
    }
    let effects = app.update(Action::Submit);
    assert!(
        matches!(&effects[..], [Effect::CreateFolder { parent, name }] if parent == "root" && name == "Q3")
    );
    app.update(Action::FolderCreated {
        parent: "root".to_string(),
        name: "Q3".to_string(),
        result: Err("1062507 parent node out of sibling num.\nhint".to_string()),
    });
    assert!(
        matches!(&app.mode, Mode::NewFolder { name, error: Some(e) } if name == "Q3" && e.contains("1062507"))
    );
    app.update(Action::Cancel);
    assert_eq!(app.mode, Mode::Normal);
    let effects = app.update(Action::FolderCreated {
        parent: "root".to_string(),
        name: "Q3".to_string(),
        result: Ok("fldQ3".to_string()),
    });
    assert!(
        matches!(&effects[..], [Effect::ListDrive { .. }]),
        "the open folder reloads"
    );
    // An empty name is refused in place.
    app.update(Action::NewFolder);
    assert!(app.update(Action::Submit).is_empty());
    assert!(matches!(&app.mode, Mode::NewFolder { error: Some(_), .. }));
}

#[test]
fn bookmarks_add_and_jump() {
    let mut app = app();
    app.update(Action::OpenBookmarks);
    assert_eq!(app.mode, Mode::Normal, "nothing to open yet");
    app.update(Action::Focus(Pane::Drive));
    app.update(Action::Enter);
    let effects = app.update(Action::AddBookmark);
    assert!(
        matches!(&effects[..], [Effect::SaveBookmarks(marks)] if marks[0].token == "fld1" && marks[0].name == "/Projects")
    );
    assert!(app.update(Action::AddBookmark).is_empty(), "no duplicates");
    app.update(Action::Back);
    app.update(Action::OpenBookmarks);
    assert_eq!(app.mode, Mode::Bookmarks { cursor: 0 });
    let effects = app.update(Action::Submit);
    assert!(matches!(&effects[..], [Effect::ListDrive { folder, .. }] if folder == "fld1"));
    assert_eq!(app.drive.breadcrumb(), "My Space / Projects");
    app.update(Action::OpenBookmarks);
    let effects = app.update(Action::RemoveBookmark);
    assert!(matches!(&effects[..], [Effect::SaveBookmarks(marks)] if marks.is_empty()));
    assert_eq!(app.mode, Mode::Normal, "the list closes when it is empty");
}

#[test]
fn upload_sends_the_marks_to_the_open_folder() {
    let mut app = app();
    app.update(Action::Down);
    app.update(Action::ToggleMark);
    app.update(Action::ToggleMark);
    let effects = app.update(Action::Upload);
    match &effects[..] {
        [Effect::Engine(Command::Add(selection))] => {
            assert_eq!(selection.destination, "root");
            assert_eq!(selection.destination_depth, Some(0));
            assert_eq!(
                selection.paths,
                [PathBuf::from("/data/a.txt"), PathBuf::from("/data/b.txt")]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(app.marks.is_empty());
    assert!(app.queue.running());
}

#[test]
fn upload_without_a_destination_says_so() {
    let mut app = App::new(
        PathBuf::from("/data"),
        String::new(),
        String::new(),
        Lang::En,
    );
    assert!(app.update(Action::Upload).is_empty());
    assert!(app.status.as_ref().is_some_and(|s| s.error));
}

#[test]
fn engine_events_build_rows_totals_and_hints() {
    let mut app = app();
    let t = t0();
    app.update(Action::Engine(queued(1, "a.txt", 1000), t));
    app.update(Action::Engine(queued(2, "b.iso", 500), t));
    app.update(Action::Engine(Event::Started { job: 1 }, t));
    app.update(Action::Engine(
        Event::Progress {
            job: 1,
            bytes_done: 500,
        },
        t + Duration::from_secs(1),
    ));
    assert_eq!(app.queue.rows[0].state, RowState::Running);
    assert_eq!(app.queue.speed(app.queue.rows[0].job), Some(500.0));
    app.update(Action::Engine(
        Event::Done {
            job: 1,
            file_token: "boxA".to_string(),
            note: None,
            replaced: None,
        },
        t + Duration::from_secs(2),
    ));
    app.update(Action::Engine(
        Event::Failed {
            job: 2,
            failure: Failure {
                code: Some(1061101),
                message: "file quota exceeded.".to_string(),
                log_id: None,
            },
        },
        t + Duration::from_secs(2),
    ));
    assert_eq!(app.queue.totals.files_done, 1);
    assert_eq!(app.queue.totals.files_failed, 1);
    assert_eq!(app.queue.totals.finished(), 2);
    app.status = Some(Status {
        text: "uploading 2 items to /".to_string(),
        error: false,
    });
    let effects = app.update(Action::Engine(Event::Idle, t + Duration::from_secs(2)));
    assert!(!app.queue.running());
    assert_eq!(
        app.status.as_ref().map(|status| status.text.as_str()),
        Some("finished: 1 uploaded, 0 already there, 0 skipped, 1 failed")
    );
    assert!(
        matches!(&effects[..], [Effect::ListDrive { .. }]),
        "the folder shows the new files"
    );
    app.update(Action::Engine(Event::Paused { paused: true }, t));
    assert!(app.queue.paused);
}

#[test]
fn pause_resume_cancel_retry_clear() {
    let mut app = app();
    app.update(Action::Focus(Pane::Queue));
    let t = t0();
    assert!(matches!(
        &app.update(Action::PauseResume)[..],
        [Effect::Engine(Command::Pause)]
    ));
    app.update(Action::Engine(Event::Paused { paused: true }, t));
    assert!(matches!(
        &app.update(Action::PauseResume)[..],
        [Effect::Engine(Command::Resume)]
    ));

    app.update(Action::Engine(queued(1, "a.txt", 10), t));
    app.update(Action::Engine(queued(2, "b.txt", 10), t));
    app.update(Action::Focus(Pane::Queue));
    assert!(matches!(
        &app.update(Action::CancelRow)[..],
        [Effect::Engine(Command::Cancel(1))]
    ));
    app.update(Action::Engine(
        Event::Skipped {
            job: 1,
            reason: "cancelled".to_string(),
        },
        t,
    ));
    assert!(
        app.update(Action::CancelRow).is_empty(),
        "a finished row cannot be cancelled"
    );

    assert!(
        app.update(Action::RetryFailed).is_empty(),
        "nothing failed yet"
    );
    app.update(Action::Engine(
        Event::Failed {
            job: 2,
            failure: Failure::local("unreadable"),
        },
        t,
    ));
    assert!(matches!(
        &app.update(Action::RetryFailed)[..],
        [Effect::Engine(Command::RetryFailed)]
    ));
    app.update(Action::Engine(queued(2, "b.txt", 10), t));
    assert_eq!(app.queue.rows[1].state, RowState::Queued);
    assert_eq!(app.queue.totals.files_failed, 0);

    app.update(Action::ClearFinished);
    assert_eq!(
        app.queue.rows.len(),
        1,
        "the cancelled row is cleared, the queued one stays"
    );
}

#[test]
fn conflicts_open_a_modal_resolved_one_by_one_or_all_at_once() {
    let mut app = app();
    let t = t0();
    for job in 1..=3 {
        app.update(Action::Engine(
            Event::Conflict {
                job,
                name: format!("f{job}"),
            },
            t,
        ));
    }
    assert!(
        app.update(Action::Upload).is_empty(),
        "other keys wait for the answer"
    );
    let effects = app.update(Action::Resolve {
        choice: ConflictChoice::Skip,
        apply_to_all: false,
    });
    assert!(matches!(
        &effects[..],
        [Effect::Engine(Command::ResolveConflict {
            job: 1,
            choice: ConflictChoice::Skip,
            apply_to_all: false
        })]
    ));
    let effects = app.update(Action::Resolve {
        choice: ConflictChoice::KeepBoth,
        apply_to_all: true,
    });
    assert!(matches!(
        &effects[..],
        [Effect::Engine(Command::ResolveConflict {
            job: 2,
            apply_to_all: true,
            ..
        })]
    ));
    assert!(app.queue.conflicts.is_empty());
}

#[test]
fn lang_toggle_help_and_report() {
    let mut app = app();
    app.update(Action::ToggleLang);
    assert_eq!(app.lang, Lang::Zh);
    app.update(Action::ToggleLang);
    assert_eq!(app.lang, Lang::En);
    app.update(Action::ToggleHelp);
    assert_eq!(app.mode, Mode::Help { scroll: 0 });
    app.update(Action::Down);
    assert_eq!(app.mode, Mode::Help { scroll: 0 });
    app.update(Action::HelpScroll(7));
    assert_eq!(app.mode, Mode::Help { scroll: 7 });
    app.update(Action::ToggleHelp);
    assert_eq!(app.mode, Mode::Normal);
    app.update(Action::Report("bookmark not saved".to_string()));
    assert!(app.status.as_ref().is_some_and(|s| s.error));
    app.update(Action::Cancel);
    assert!(app.status.is_none());
}

#[test]
fn quit_asks_while_uploads_run() {
    let mut app = app();
    app.update(Action::Engine(queued(1, "a.txt", 10), t0()));
    assert!(app.update(Action::Quit).is_empty());
    assert_eq!(app.mode, Mode::ConfirmQuit);
    app.update(Action::Cancel);
    assert_eq!(app.mode, Mode::Normal);
    app.update(Action::Quit);
    assert!(app.update(Action::Submit).is_empty());
    assert!(app.should_quit);

    let mut idle = self::app();
    idle.update(Action::Quit);
    assert!(idle.should_quit, "nothing running: quits at once");
}

#[test]
fn mouse_click_selects_and_focuses_wheel_scrolls() {
    let mut app = app();
    // Wide layout: local on the left from row 1; its first entry is on row 2.
    app.update(Action::Click { column: 5, row: 4 });
    assert_eq!(app.focus, Pane::Local);
    assert_eq!(app.local.cursor, 2);
    app.update(Action::Click { column: 70, row: 2 });
    assert_eq!(app.focus, Pane::Drive);
    assert_eq!(app.drive.cursor, 0);
    let effects = app.update(Action::Click { column: 70, row: 2 });
    assert!(
        matches!(&effects[..], [Effect::ListDrive { folder, .. }] if folder == "fld1"),
        "a second click opens the folder"
    );
    app.update(Action::Scroll {
        column: 5,
        row: 5,
        down: true,
    });
    assert_eq!(app.focus, Pane::Local);
    assert_eq!(app.local.cursor, 2, "clamped to the last entry");
    app.update(Action::Scroll {
        column: 5,
        row: 5,
        down: false,
    });
    assert_eq!(app.local.cursor, 0);
}

#[test]
fn resize_below_100_columns_stacks_the_panes() {
    let mut app = app();
    app.update(Action::Resize {
        width: 60,
        height: 30,
    });
    let areas = layout::areas(app.width, app.height);
    assert_eq!(areas.local.width, 60);
    assert!(areas.drive.y > areas.local.y);
}

#[test]
fn login_screen_collects_the_app_and_runs_the_device_flow() {
    let mut app = App::new(
        PathBuf::from("/data"),
        String::new(),
        "h".to_string(),
        Lang::En,
    );
    app.require_login(LoginScreen::new(
        "https://open.feishu.cn".to_string(),
        None,
        "not logged in".to_string(),
    ));
    assert!(app
        .start()
        .iter()
        .all(|e| !matches!(e, Effect::LoadDriveRoot)));
    app.update(Action::Submit);
    assert!(
        app.login.as_ref().is_some_and(|l| l.error.is_some()),
        "an app id is required"
    );
    for c in "cli_x".chars() {
        app.update(Action::Input(c));
    }
    app.update(Action::DeleteChar);
    app.update(Action::Input('1'));
    app.update(Action::Submit);
    app.update(Action::Input('s'));
    assert!(
        !format!("{:?}", app.login).contains("secret: \"s\""),
        "Debug hides the secret"
    );
    app.update(Action::FocusNext);
    assert_eq!(
        app.login.as_ref().map(|l| l.flow),
        Some(login::LoginFlow::Browser)
    );
    app.update(Action::FocusNext);
    let effects = app.update(Action::Submit);
    assert!(matches!(
        &effects[..],
        [Effect::StartLogin { app_id, flow: login::LoginFlow::Device, .. }] if app_id == "cli_1"
    ));
    assert_eq!(
        app.login.as_ref().map(|l| l.secret.len()),
        Some(0),
        "the secret leaves the state"
    );
    app.update(Action::LoginCode {
        user_code: Some("ABCD-EFGH".to_string()),
        link: "https://example/verify".to_string(),
    });
    assert!(matches!(
        app.login.as_ref().map(|l| &l.step),
        Some(LoginStep::Waiting { .. })
    ));
    app.update(Action::LoginFailed("expired".to_string()));
    assert_eq!(
        app.login.as_ref().map(|l| &l.step),
        Some(&LoginStep::Secret)
    );
    let effects = app.update(Action::LoggedIn {
        who: "Ada".to_string(),
        host: "open.feishu.cn".to_string(),
    });
    assert!(matches!(&effects[..], [Effect::LoadDriveRoot]));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.who, "Ada");
}

#[test]
fn retry_after_the_batch_settled_counts_the_row_again() {
    let mut app = app();
    let t = t0();
    app.update(Action::Engine(queued(1, "a.txt", 10), t));
    app.update(Action::Engine(
        Event::Failed {
            job: 1,
            failure: Failure::local("unreadable"),
        },
        t,
    ));
    app.update(Action::Engine(Event::Idle, t));
    app.update(Action::Engine(queued(1, "a.txt", 10), t));
    assert_eq!(app.queue.totals.files_total, 1);
    assert_eq!(app.queue.totals.files_failed, 0);
    assert_eq!(app.queue.totals.bytes_total, 10);
    // The next `u` after that starts a new batch.
    app.update(Action::Engine(
        Event::Done {
            job: 1,
            file_token: "box1".to_string(),
            note: None,
            replaced: None,
        },
        t,
    ));
    app.update(Action::Engine(Event::Idle, t));
    app.update(Action::Upload);
    app.update(Action::Engine(queued(2, "b.txt", 20), t));
    assert_eq!(app.queue.totals.files_total, 1);
    assert_eq!(app.queue.rows.len(), 2);
}

#[test]
fn a_drive_reload_keeps_the_cursor_on_the_same_folder() {
    let mut app = app();
    app.update(Action::Focus(Pane::Drive));
    app.update(Action::Down);
    assert_eq!(app.drive.selected().map(|e| e.token.as_str()), Some("doc1"));
    app.update(Action::Refresh);
    let gen = app.drive.generation;
    app.update(Action::DrivePage {
        generation: gen,
        result: Ok(DrivePage {
            entries: vec![
                remote("New", "fld2", "folder"),
                remote("notes.docx", "doc1", "docx"),
                remote("Projects", "fld1", "folder"),
            ],
            next_page: None,
        }),
    });
    assert_eq!(app.drive.selected().map(|e| e.token.as_str()), Some("doc1"));
}

#[test]
fn a_big_listing_in_chunks_shows_progress_and_keeps_the_cursor() {
    let mut app = app();
    app.update(Action::Enter); // docs/
    let gen = app.local.generation;
    let chunk = |from: usize, to: usize| -> Vec<LocalEntry> {
        (from..to)
            .map(|i| local(&format!("f{i:06}"), false, i as u64, 0))
            .collect()
    };
    app.update(Action::LocalListed {
        generation: gen,
        entries: chunk(50_000, 50_256),
        seen: 256,
        done: false,
        error: None,
    });
    assert_eq!(app.local.loading, Some(256));
    app.update(Action::Down);
    let before = app.local.selected().map(|e| e.name.clone());
    for start in (0..100_000).step_by(10_000).filter(|s| *s != 50_000) {
        app.update(Action::LocalListed {
            generation: gen,
            entries: chunk(start, start + 10_000),
            seen: 0,
            done: false,
            error: None,
        });
    }
    app.update(Action::LocalListed {
        generation: gen,
        entries: chunk(50_256, 60_000),
        seen: 100_000,
        done: true,
        error: None,
    });
    assert_eq!(app.local.visible.len(), 100_000);
    assert_eq!(app.local.loading, None);
    assert_eq!(
        app.local.selected().map(|e| e.name.clone()),
        before,
        "later chunks do not move the cursor off its entry"
    );
}

fn quota_failure() -> Failure {
    Failure {
        code: Some(1061101),
        message: "file quota exceeded.".to_string(),
        log_id: None,
    }
}

/// The queue's lines from its offset down to the end of the cursor's row (its hint included)
/// all fit in the pane: the selection and its hint are on screen.
fn cursor_block_shows(app: &App) -> bool {
    let columns = usize::from(app.areas().queue.width - 2);
    let lines: usize = (app.queue.offset..=app.queue.cursor)
        .map(|at| app.queue_row_height(at, columns))
        .sum();
    app.queue.cursor >= app.queue.offset && lines <= app.queue_rows()
}

#[test]
fn queue_keys_keep_the_selection_and_its_hint_on_screen() {
    let mut app = app();
    let t = t0();
    // 60 rows, every fifth failed with a two-line hint: row heights are not all one.
    for job in 0..60 {
        app.update(Action::Engine(
            queued(job, &format!("f{job:02}.txt"), 10),
            t,
        ));
    }
    for job in (0..60).step_by(5) {
        app.update(Action::Engine(
            Event::Failed {
                job,
                failure: quota_failure(),
            },
            t,
        ));
    }
    app.update(Action::Focus(Pane::Queue));
    app.update(Action::Top);
    assert!(
        app.queue_row_height(0, 118) > 1,
        "a failed row has hint lines"
    );
    for action in [
        Action::Bottom,
        Action::Top,
        Action::PageDown,
        Action::PageDown,
    ] {
        app.update(action.clone());
        assert!(
            cursor_block_shows(&app),
            "after {action:?}: {:?}",
            app.queue
        );
    }
    app.update(Action::Top);
    for step in 0..59 {
        app.update(Action::Down);
        assert_eq!(app.queue.cursor, step + 1);
        assert!(cursor_block_shows(&app), "after j to row {}", step + 1);
    }
    app.update(Action::Bottom);
    assert_eq!(app.queue.cursor, 59);
    assert!(cursor_block_shows(&app));
    // A smaller terminal keeps it in view too.
    app.update(Action::Resize {
        width: 80,
        height: 20,
    });
    assert!(cursor_block_shows(&app));
}

#[test]
fn a_new_failure_and_its_hint_come_into_view_after_a_long_batch() {
    let mut app = app();
    let t = t0();
    // A long first batch, all done.
    for job in 0..200 {
        app.update(Action::Engine(
            queued(job, &format!("a{job:03}.txt"), 10),
            t,
        ));
        app.update(Action::Engine(Event::Started { job }, t));
        app.update(Action::Engine(
            Event::Done {
                job,
                file_token: format!("box{job}"),
                note: None,
                replaced: None,
            },
            t,
        ));
    }
    app.update(Action::Engine(Event::Idle, t));
    // A second batch: its last row fails while the user is in the local pane.
    for job in 200..203 {
        app.update(Action::Engine(queued(job, &format!("b{job}.iso"), 10), t));
    }
    app.update(Action::Engine(Event::Started { job: 200 }, t));
    app.update(Action::Engine(
        Event::Failed {
            job: 202,
            failure: quota_failure(),
        },
        t,
    ));
    assert_eq!(app.queue.cursor, 202, "the failure takes the view");
    assert!(cursor_block_shows(&app), "the failed row and its hint show");
    // The next running row does not push it away.
    app.update(Action::Engine(Event::Started { job: 201 }, t));
    assert_eq!(app.queue.cursor, 202);
    assert!(cursor_block_shows(&app));
    // The next upload's work takes the view again.
    for job in [200, 201] {
        app.update(Action::Engine(
            Event::Done {
                job,
                file_token: format!("box{job}"),
                note: None,
                replaced: None,
            },
            t,
        ));
    }
    assert_eq!(app.queue.cursor, 202);
    app.marks.insert(PathBuf::from("/data/a.txt"));
    app.update(Action::Upload);
    app.update(Action::Engine(queued(203, "c.txt", 10), t));
    app.update(Action::Engine(Event::Started { job: 203 }, t));
    assert_eq!(app.queue.cursor, 203);
    assert!(cursor_block_shows(&app));
}

#[test]
fn a_failure_shows_in_the_focused_queue_when_the_cursor_can_stay() {
    let mut app = app();
    let t = t0();
    for job in 0..40 {
        app.update(Action::Engine(
            queued(job, &format!("f{job:02}.txt"), 10),
            t,
        ));
    }
    app.update(Action::Focus(Pane::Queue));
    app.update(Action::Top);
    for _ in 0..5 {
        app.update(Action::Down);
    }
    let rows = app.queue_rows();
    // Just below the last line: scrolled into view with the cursor still on screen.
    let near = rows;
    app.update(Action::Engine(
        Event::Failed {
            job: near as u64,
            failure: quota_failure(),
        },
        t,
    ));
    assert_eq!(app.queue.cursor, 5, "the user's selection stays");
    assert!(app.queue.offset > 0, "scrolled");
    assert!(cursor_block_shows(&app));
    let columns = usize::from(app.areas().queue.width - 2);
    let shown: usize = (app.queue.offset..=near)
        .map(|at| app.queue_row_height(at, columns))
        .sum();
    assert!(shown <= rows, "the failed row's hint is on screen too");
}

#[test]
fn paused_new_folder_says_it_waits() {
    let mut app = app();
    app.update(Action::Focus(Pane::Drive));
    app.update(Action::Engine(Event::Paused { paused: true }, t0()));
    app.update(Action::NewFolder);
    app.update(Action::Input('X'));
    let effects = app.update(Action::Submit);
    assert!(matches!(&effects[..], [Effect::CreateFolder { .. }]));
    let status = app
        .status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default();
    assert!(status.contains("resume"), "{status}");
}

#[test]
fn y_copies_the_open_folders_token_and_shows_it_whole() {
    let mut app = app();
    app.update(Action::Focus(Pane::Drive));
    let effects = app.update(Action::CopyFolder { link: false });
    assert!(matches!(&effects[..], [Effect::CopyToClipboard(token)] if token == "root"));
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("root")));
    // My Space has no link from Drive: said so, with the token instead.
    assert!(app.update(Action::CopyFolder { link: true }).is_empty());
    assert!(app.status.as_ref().is_some_and(|s| s.error));
    // A folder opened from a listing has one.
    app.update(Action::Focus(Pane::Drive));
    app.drive.entries[0].url = "https://example.feishu.cn/drive/folder/fld1".to_string();
    app.update(Action::Enter);
    let effects = app.update(Action::CopyFolder { link: true });
    assert!(
        matches!(&effects[..], [Effect::CopyToClipboard(url)] if url.ends_with("/folder/fld1"))
    );
}

#[test]
fn conflicts_are_one_mode_entered_and_left_by_update() {
    let mut app = app();
    let t = t0();
    app.update(Action::Engine(queued(1, "a.txt", 10), t));
    app.update(Action::ToggleHelp);
    app.update(Action::Engine(
        Event::Conflict {
            job: 1,
            name: "a.txt".to_string(),
        },
        t,
    ));
    assert!(matches!(app.mode, Mode::Help { .. }), "help stays open");
    app.update(Action::ToggleHelp);
    assert_eq!(app.mode, Mode::Conflict, "then the question shows");
    app.update(Action::Resolve {
        choice: ConflictChoice::Skip,
        apply_to_all: false,
    });
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn environment_and_login_come_through_update() {
    let mut app = app();
    app.update(Action::Environment(Environment {
        no_color: true,
        home: Some(PathBuf::from("/home/ada")),
        utc_offset: 3600,
        bookmarks: vec![Bookmark {
            name: "/Projects".to_string(),
            token: "fld1".to_string(),
        }],
    }));
    assert!(app.no_color);
    assert_eq!(app.utc_offset, 3600);
    assert_eq!(app.bookmarks.len(), 1);
}

#[test]
fn a_hundred_thousand_rows_fill_and_update_through_the_index() {
    let mut app = app();
    let t = t0();
    const ROWS: u64 = 100_000;
    for job in 0..ROWS {
        app.update(Action::Engine(queued(job, "f", 1), t));
    }
    for job in (0..ROWS).rev().step_by(1000) {
        app.update(Action::Engine(Event::Started { job }, t));
        app.update(Action::Engine(
            Event::Done {
                job,
                file_token: format!("box{job}"),
                note: None,
                replaced: None,
            },
            t,
        ));
    }
    assert_eq!(app.queue.rows.len(), ROWS as usize);
    assert_eq!(app.queue.totals.files_done, ROWS / 1000);
    let done = &app.queue.rows[ROWS as usize - 1];
    assert!(matches!(&done.state, RowState::Done { file_token, .. } if file_token == "box99999"));
    app.update(Action::Focus(Pane::Queue));
    app.update(Action::ClearFinished);
    assert_eq!(app.queue.rows.len(), (ROWS - ROWS / 1000) as usize);
    // The index follows the rows that moved up.
    app.update(Action::Engine(Event::Started { job: ROWS - 2 }, t));
    assert_eq!(app.queue.first_running(), app.queue.position(ROWS - 2));
    assert_eq!(
        app.queue.rows[app.queue.position(ROWS - 2).unwrap_or(0)].job,
        ROWS - 2
    );
}

#[test]
fn queue_counts_follow_every_state_change() {
    let t = t0();
    let mut queue = Queue::default();
    for job in 1..=3 {
        queue.apply(queued(job, &format!("f{job}"), 10), t);
    }
    queue.apply(Event::Idle, t); // busy ends; the rows still count
    assert!(queue.running(), "three queued");
    queue.apply(Event::Started { job: 2 }, t);
    queue.apply(Event::Started { job: 3 }, t);
    assert_eq!(queue.first_running(), Some(1));
    queue.apply(
        Event::Done {
            job: 2,
            file_token: "b".to_string(),
            note: None,
            replaced: None,
        },
        t,
    );
    assert_eq!(queue.first_running(), Some(2), "read before the next event");
    queue.apply(
        Event::Failed {
            job: 3,
            failure: Failure::local("gone"),
        },
        t,
    );
    assert_eq!(queue.first_running(), None);
    assert!(queue.running(), "job 1 still queued");
    queue.apply(
        Event::Skipped {
            job: 1,
            reason: "cancelled".to_string(),
        },
        t,
    );
    assert!(!queue.running(), "nothing queued or running");
    // A retry queues the failed row again under its id.
    queue.apply(queued(3, "f3", 10), t);
    queue.apply(Event::Idle, t);
    assert!(queue.running());
    queue.clear_finished();
    assert_eq!(queue.rows.len(), 1);
    queue.apply(Event::Started { job: 3 }, t);
    assert_eq!(
        queue.first_running(),
        Some(0),
        "positions follow the cleared rows"
    );
}

fn status_text(app: &App) -> String {
    app.status
        .as_ref()
        .map(|status| status.text.clone())
        .unwrap_or_default()
}

fn retrying(attempt: usize, secs: u64, uploads: bool) -> Action {
    Action::Retrying {
        notice: crate::transfer::pacer::RetryNotice {
            reason: "cannot reach open.feishu.cn (connection refused)".to_string(),
            attempt,
            of: 8,
            delay: Duration::from_secs(secs),
        },
        uploads,
    }
}

#[test]
fn a_retry_shows_on_the_status_line_until_a_call_succeeds() {
    let mut app = app();
    app.update(Action::Upload);
    let uploading = status_text(&app);
    assert!(uploading.starts_with("uploading"), "{uploading}");
    app.update(retrying(2, 4, true));
    assert_eq!(
        status_text(&app),
        "cannot reach open.feishu.cn (connection refused); retry 2/8 in 4.0 s"
    );
    assert!(app.status.as_ref().is_some_and(|status| status.error));
    app.update(retrying(3, 12, true));
    assert!(status_text(&app).ends_with("retry 3/8 in 12 s"));
    assert!(app.retrying_uploads(), "the running rows say they wait");
    // Queued and started say nothing about the network; a confirmed block does.
    let t = t0();
    app.update(Action::Engine(queued(1, "a.txt", 100), t));
    app.update(Action::Engine(Event::Started { job: 1 }, t));
    assert!(status_text(&app).contains("retry 3/8"));
    // An answer to one of the app's own listings says nothing about the uploads' calls.
    app.update(Action::DrivePage {
        generation: app.drive.generation,
        result: Ok(DrivePage::default()),
    });
    assert!(status_text(&app).contains("retry 3/8"));
    app.update(Action::Engine(
        Event::Progress {
            job: 1,
            bytes_done: 50,
        },
        t,
    ));
    assert_eq!(
        status_text(&app),
        uploading,
        "what the notice covered is back"
    );

    assert!(!app.retrying_uploads());

    // A listing's retry ends when the listing comes back (even with an error the pane shows).
    app.update(retrying(1, 1, false));
    assert!(!app.retrying_uploads(), "a listing holds up no upload");
    let generation = app.drive.generation;
    app.update(Action::DrivePage {
        generation,
        result: Ok(DrivePage::default()),
    });
    assert_eq!(status_text(&app), uploading);

    // Something newer on the status line is not wiped when the retries end.
    app.update(retrying(1, 1, true));
    app.update(Action::Focus(Pane::Drive));
    app.update(Action::AddBookmark);
    let said = status_text(&app);
    assert!(said.starts_with("bookmarked"), "{said}");
    app.update(Action::Engine(
        Event::Done {
            job: 1,
            file_token: "boxA".to_string(),
            note: None,
            replaced: None,
        },
        t,
    ));
    assert_eq!(status_text(&app), said);
}

#[test]
fn a_control_character_in_a_retry_reason_is_escaped() {
    let mut app = app();
    app.update(Action::Retrying {
        notice: crate::transfer::pacer::RetryNotice {
            reason: "bad\u{1b}]0;title\u{7}".to_string(),
            attempt: 1,
            of: 8,
            delay: Duration::from_millis(250),
        },
        uploads: false,
    });
    let text = status_text(&app);
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(text.ends_with("retry 1/8 in 0.2 s") || text.ends_with("retry 1/8 in 0.3 s"));
}

#[test]
fn waiting_for_another_larkup_names_it_and_the_folder_until_the_lock_is_ours() {
    let mut app = app();
    app.update(Action::Focus(Pane::Drive));
    // Folders first: the cursor is on Projects.
    app.update(Action::Enter);
    app.update(Action::DrivePage {
        generation: app.drive.generation,
        result: Ok(DrivePage::default()),
    });
    app.update(Action::Focus(Pane::Local));
    app.update(Action::Upload);
    let token = app.drive.current().map(|crumb| crumb.token.clone());
    assert_eq!(token.as_deref(), Some("fld1"));
    let t = t0();
    app.update(Action::Engine(
        Event::Waiting {
            folder: "fld1".to_string(),
            pid: Some(4242),
        },
        t,
    ));
    assert_eq!(
        status_text(&app),
        "waiting for another larkup (pid 4242) uploading into /Projects"
    );
    assert_eq!(app.queue.waiting, Some(("fld1".to_string(), Some(4242))));
    assert!(app.queue.running(), "quitting now would still ask");
    // Rows are listed while it waits (the walk goes on): still waiting.
    app.update(Action::Engine(queued(1, "a.txt", 10), t));
    assert_eq!(app.queue.waiting, Some(("fld1".to_string(), Some(4242))));
    assert!(
        status_text(&app).starts_with("waiting"),
        "{}",
        status_text(&app)
    );
    app.update(Action::Engine(
        Event::WaitOver {
            folder: "fld1".to_string(),
        },
        t,
    ));
    assert_eq!(app.queue.waiting, None);
    assert!(
        status_text(&app).starts_with("uploading"),
        "{}",
        status_text(&app)
    );

    // A folder the app did not send to (an upload resumed on open) is named by its token.
    app.update(Action::Engine(
        Event::Waiting {
            folder: "fldOTHER".to_string(),
            pid: None,
        },
        t,
    ));
    assert_eq!(
        status_text(&app),
        "waiting for another larkup uploading into folder fldOTHER"
    );
    app.update(Action::Engine(Event::Idle, t));
    assert_eq!(app.queue.waiting, None);
    assert!(
        status_text(&app).starts_with("finished:"),
        "{}",
        status_text(&app)
    );
}

#[test]
fn already_there_is_its_own_state_and_count_and_messages_drop_the_path() {
    let mut app = app();
    let t = t0();
    for (job, name) in [(1, "a.txt"), (2, "b.txt"), (3, "c.txt"), (4, "d.txt")] {
        app.update(Action::Engine(queued(job, name, 10), t));
    }
    app.update(Action::Engine(
        Event::AlreadyThere {
            job: 1,
            file_token: "boxOLD".to_string(),
        },
        t,
    ));
    app.update(Action::Engine(
        Event::Done {
            job: 2,
            file_token: "boxNEW".to_string(),
            note: Some("was no longer in Drive; uploaded again".to_string()),
            replaced: None,
        },
        t,
    ));
    app.update(Action::Engine(
        Event::Skipped {
            job: 3,
            reason: "/data/c.txt: the file is empty (Drive refuses empty files); skipped"
                .to_string(),
        },
        t,
    ));
    app.update(Action::Engine(
        Event::Failed {
            job: 4,
            failure: Failure::local("/data/d.txt: Permission denied (os error 13)"),
        },
        t,
    ));
    let states: Vec<&RowState> = app.queue.rows.iter().map(|row| &row.state).collect();
    assert_eq!(
        states[0],
        &RowState::AlreadyThere {
            file_token: "boxOLD".to_string()
        }
    );
    assert!(states[0].finished());
    assert!(
        matches!(states[2], RowState::Skipped { reason } if reason.starts_with("the file is empty"))
    );
    assert!(
        matches!(states[3], RowState::Failed { failure } if failure.message == "Permission denied (os error 13)")
    );
    // The status line does not name the file otherwise: there the path stays.
    assert_eq!(
        status_text(&app),
        "/data/d.txt: Permission denied (os error 13)"
    );
    let totals = &app.queue.totals;
    assert_eq!(
        (
            totals.files_done,
            totals.files_already,
            totals.files_skipped,
            totals.files_failed
        ),
        (1, 1, 1, 1)
    );
    // Clear finished drops the already-there row with the uploaded and skipped ones.
    app.update(Action::Focus(Pane::Queue));
    app.update(Action::ClearFinished);
    assert_eq!(app.queue.rows.len(), 1);
}

#[test]
fn a_resumed_row_shows_its_earlier_bytes_in_the_bar_but_not_in_its_speed() {
    let mut app = app();
    let t = t0();
    let mib = 1024 * 1024;
    app.update(Action::Engine(queued(1, "big.bin", 40 * mib), t));
    app.update(Action::Engine(Event::Started { job: 1 }, t));
    app.update(Action::Engine(
        Event::Resumed {
            job: 1,
            bytes_done: 36 * mib,
        },
        t,
    ));
    app.update(Action::Engine(
        Event::Progress {
            job: 1,
            bytes_done: 40 * mib,
        },
        t + Duration::from_secs(2),
    ));
    let row = &app.queue.rows[0];
    assert_eq!(row.bytes_done, 40 * mib);
    assert_eq!(
        app.queue.speed(row.job),
        Some((2 * mib) as f64),
        "4 MiB sent in 2 s"
    );
    assert_eq!(app.queue.totals.bytes_done, 4 * mib);
}

#[test]
fn a_problem_row_reported_first_stays_counted_in_its_batch() {
    let mut app = app();
    let t = t0();
    // A finished batch before.
    app.update(Action::Upload);
    app.update(Action::Engine(queued(1, "a.txt", 10), t));
    app.update(Action::Engine(
        Event::Done {
            job: 1,
            file_token: "boxA".to_string(),
            note: None,
            replaced: None,
        },
        t,
    ));
    app.update(Action::Engine(Event::Idle, t));
    // The next batch: its empty file is reported (queued and skipped) before its other file
    // is queued, which finds the queue settled for a moment.
    app.update(Action::Upload);
    app.update(Action::Engine(queued(2, "empty.txt", 0), t));
    app.update(Action::Engine(
        Event::Skipped {
            job: 2,
            reason: "/data/empty.txt: the file is empty".to_string(),
        },
        t,
    ));
    app.update(Action::Engine(queued(3, "b.txt", 20), t));
    app.update(Action::Engine(
        Event::Done {
            job: 3,
            file_token: "boxB".to_string(),
            note: None,
            replaced: None,
        },
        t,
    ));
    app.update(Action::Engine(Event::Idle, t));
    let totals = &app.queue.totals;
    assert_eq!(
        (totals.files_total, totals.files_done, totals.files_skipped),
        (2, 1, 1)
    );
    assert_eq!(
        status_text(&app),
        "finished: 1 uploaded, 0 already there, 1 skipped, 0 failed"
    );
}

#[test]
fn a_call_without_an_answer_is_said_on_the_status_line_until_it_ends() {
    use crate::feishu::AnswerWait;
    let mut app = app();
    let before = status_text(&app);
    app.update(Action::AnswerWait(AnswerWait::Waiting {
        host: "open.feishu.cn".to_string(),
        waited: std::time::Duration::from_secs(10),
        limit: std::time::Duration::from_secs(30),
    }));
    assert_eq!(
        status_text(&app),
        "no answer from open.feishu.cn for 10 s; still waiting (gives up after 30 s)"
    );
    app.update(Action::AnswerWait(AnswerWait::Ended));
    assert_eq!(
        status_text(&app),
        before,
        "the line says what it said before"
    );
}

/// Feishu's quota code: a failure the row explains, so the status line keeps its summary.
fn quota() -> Failure {
    Failure {
        code: Some(1061101),
        message: "file quota exceeded.".to_string(),
        log_id: None,
    }
}

/// Two rows fail, one is done; the batch ends.
fn two_failed_one_done(app: &mut App, t: Instant) {
    for (job, name) in [(1, "a.txt"), (2, "b.txt"), (3, "docs")] {
        app.update(Action::Engine(queued(job, name, 10), t));
    }
    app.update(Action::Engine(
        Event::Done {
            job: 3,
            file_token: "boxC".to_string(),
            note: None,
            replaced: None,
        },
        t,
    ));
    for job in [1, 2] {
        app.update(Action::Engine(
            Event::Failed {
                job,
                failure: quota(),
            },
            t,
        ));
    }
    app.update(Action::Engine(Event::Idle, t));
}

#[test]
fn a_retry_after_clear_counts_each_row_once() {
    // Issue 19 #5: `c`, then `R` on the two failed rows read `4/4 · 4 failed` with two rows
    // shown: the cleared totals no longer knew the rows by job, so the retry counted them as
    // new files.
    let mut app = app();
    let t = t0();
    app.update(Action::Focus(Pane::Queue));
    two_failed_one_done(&mut app, t);
    app.update(Action::ClearFinished);
    assert_eq!(app.queue.rows.len(), 2);
    let totals = &app.queue.totals;
    assert_eq!((totals.files_total, totals.files_failed), (2, 2));
    assert!(matches!(
        &app.update(Action::RetryFailed)[..],
        [Effect::Engine(Command::RetryFailed)]
    ));
    // The engine queues both again under their ids; they run and fail again.
    for job in [1, 2] {
        app.update(Action::Engine(queued(job, "x", 10), t));
    }
    let totals = &app.queue.totals;
    assert_eq!(
        (totals.files_total, totals.files_failed, totals.bytes_total),
        (2, 0, 20),
        "queued again, counted once"
    );
    for job in [1, 2] {
        app.update(Action::Engine(Event::Started { job }, t));
        app.update(Action::Engine(
            Event::Failed {
                job,
                failure: quota(),
            },
            t,
        ));
    }
    app.update(Action::Engine(Event::Idle, t));
    let totals = &app.queue.totals;
    assert_eq!(app.queue.rows.len(), 2);
    assert_eq!((totals.files_total, totals.files_failed), (2, 2));
    assert_eq!(totals.finished(), 2);
    // And once more: clear, retry, the same two.
    app.update(Action::ClearFinished);
    app.update(Action::Engine(queued(1, "x", 10), t));
    assert_eq!(app.queue.totals.files_total, 2);
}

#[test]
fn keys_of_another_pane_do_nothing_here_and_say_where_they_work() {
    let mut app = app();
    app.update(Action::Focus(Pane::Queue));
    app.update(Action::Engine(queued(1, "a.txt", 10), t0()));
    // The queue does not filter, mark or upload: nothing changes but the status line.
    for action in [Action::StartFilter, Action::ToggleMark, Action::Upload] {
        assert!(app.update(action).is_empty());
        assert_eq!(app.mode, Mode::Normal);
        assert!(app.marks.is_empty());
    }
    assert!(
        app.update(Action::PauseResume).len() == 1,
        "p is the queue's"
    );
    app.update(Action::Focus(Pane::Drive));
    assert!(
        app.update(Action::PauseResume).is_empty(),
        "p does not pause from the Drive pane"
    );
    app.update(Action::KeyElsewhere {
        key: "p".to_string(),
        does: "pause / resume uploads",
        panes: vec![Pane::Queue],
    });
    let said = status_text(&app);
    assert!(
        said.contains("p: pause / resume uploads — in the Queue pane"),
        "{said}"
    );
    assert!(app.status.as_ref().is_some_and(|status| status.error));
    app.update(Action::NoSuchKey {
        key: "z".to_string(),
    });
    assert_eq!(
        status_text(&app),
        "z: no such key in the Drive pane; ? lists the keys"
    );
    // Esc in the local pane clears the filter and, in the shared layer, the message too.
    app.update(Action::Focus(Pane::Local));
    app.update(Action::StartFilter);
    app.update(Action::Input('a'));
    app.update(Action::Submit);
    app.update(Action::NoSuchKey {
        key: "z".to_string(),
    });
    app.update(Action::Cancel);
    assert!(app.local.filter.is_empty());
    assert!(app.status.is_none());
}

#[test]
fn paused_uploads_are_said_paused_not_uploading() {
    let mut app = app();
    let t = t0();
    app.update(Action::Down);
    app.update(Action::ToggleMark);
    app.update(Action::Upload);
    assert!(status_text(&app).starts_with("uploading 1 item"));
    app.update(Action::Engine(queued(1, "a.txt", 10), t));
    app.update(Action::Engine(Event::Paused { paused: true }, t));
    let said = status_text(&app);
    assert!(
        said.contains("paused") && !said.contains("uploading"),
        "{said}"
    );
    // `u` while paused queues and says it waits.
    app.update(Action::ToggleMark);
    app.update(Action::Upload);
    let said = status_text(&app);
    assert!(
        said.starts_with("queued 1 item for /") && said.contains("paused"),
        "{said}"
    );
    app.update(Action::Engine(Event::Paused { paused: false }, t));
    assert_eq!(status_text(&app), "uploads resumed");
}

#[test]
fn the_login_screen_tells_what_to_do_on_it_not_to_run_a_command() {
    // The reason comes from the session, written for the command line.
    for reason in [
        // As the session words a missing login (app never imports login: tests/architecture.rs).
        "not logged in (profile \"default\"): run `larkup login`, or set LARKUP_TOKEN for scripts"
            .to_string(),
        "no app secret in the keyring: run `larkup login` again".to_string(),
        "the login has ended and cannot be renewed; log in again with `larkup login`.".to_string(),
    ] {
        let screen = login::LoginScreen::new("https://open.feishu.cn".to_string(), None, reason);
        assert!(
            !screen.reason.contains("larkup login"),
            "{:?}",
            screen.reason
        );
        assert!(screen.reason.contains("below"), "{:?}", screen.reason);
    }
}

#[test]
fn a_session_opening_after_login_keeps_the_screen_and_its_keys() {
    let mut app = App::new(
        PathBuf::from("/data"),
        String::new(),
        "open.feishu.cn".to_string(),
        Lang::En,
    );
    app.require_login(login::LoginScreen::new(
        "https://open.feishu.cn".to_string(),
        Some("cli_1".to_string()),
        "not logged in".to_string(),
    ));
    app.update(Action::OpeningSession {
        who: "Ada".to_string(),
    });
    assert!(matches!(
        app.login.as_ref().map(|login| &login.step),
        Some(LoginStep::Opening { who }) if who == "Ada"
    ));
    // The opening failed: back to the secret, with why.
    app.update(Action::LoginFailed("cannot reach the host".to_string()));
    assert!(matches!(
        app.login.as_ref().map(|login| &login.step),
        Some(LoginStep::Secret)
    ));
    app.update(Action::OpeningSession {
        who: "Ada".to_string(),
    });
    // Opened: the panes, My Space asked for, the status line says who.
    let effects = app.update(Action::LoggedIn {
        who: "Ada".to_string(),
        host: "open.feishu.cn".to_string(),
    });
    assert!(matches!(&effects[..], [Effect::LoadDriveRoot]));
    assert_eq!(status_text(&app), "logged in as Ada");
    // While opening, q still quits.
    let mut app = App::new(
        PathBuf::from("/data"),
        String::new(),
        String::new(),
        Lang::En,
    );
    app.require_login(login::LoginScreen::new(String::new(), None, String::new()));
    app.update(Action::OpeningSession {
        who: "Ada".to_string(),
    });
    app.update(Action::Quit);
    assert!(app.should_quit);
}

#[test]
fn the_status_line_says_the_drive_is_opening_until_my_space_is_found() {
    let mut app = App::new(
        PathBuf::from("/data"),
        String::new(),
        String::new(),
        Lang::En,
    );
    app.start();
    assert_eq!(status_text(&app), "opening your Drive…");
    app.update(Action::DriveRoot(Ok("root".to_string())));
    assert!(app.status.is_none());
}
