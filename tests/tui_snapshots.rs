//! The TUI's screens drawn into ratatui's `TestBackend` and compared with the committed
//! snapshots in tests/snapshots/ (insta). Fixed names, times and instants keep them stable.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use larkup::app::local::LocalEntry;
use larkup::app::login::LoginScreen;
use larkup::app::{Action, App, DrivePage, Pane};
use larkup::feishu::{DriveEntry, Lang};
use larkup::transfer::events::{Event, Failure};
use larkup::ui::action_for;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

const NOV_2026: i64 = 1_795_000_000;

fn local(name: &str, is_dir: bool, size: u64, age_hours: i64) -> LocalEntry {
    LocalEntry {
        name: name.to_string(),
        path: PathBuf::from("/data/photos").join(name),
        is_dir,
        size,
        mtime: Some(NOV_2026 - age_hours * 3600),
    }
}

fn folder(name: &str, token: &str) -> DriveEntry {
    DriveEntry {
        token: token.to_string(),
        name: name.to_string(),
        kind: "folder".to_string(),
        parent_token: String::new(),
        url: String::new(),
        created_time: None,
        modified_time: None,
    }
}

/// Ada's session: /data/photos on the left, My Space / Projects on the right.
fn app(width: u16, height: u16) -> App {
    let mut app = App::new(
        PathBuf::from("/data/photos"),
        "Ada Lovelace".to_string(),
        "open.feishu.cn".to_string(),
        Lang::En,
    );
    app.update(Action::Resize { width, height });
    app.start();
    app.update(Action::LocalListed {
        generation: 1,
        entries: vec![
            local("raw", true, 0, 30),
            local("beach.jpg", false, 3_250_586, 2),
            local("季度报告.xlsx", false, 48_000, 5),
            local("harbour 🌊.jpg", false, 912_000, 26),
            local("notes.md", false, 812, 1),
            local(".cache", true, 0, 1),
        ],
        seen: 6,
        done: true,
        error: None,
    });
    app.update(Action::DriveRoot(Ok("nodcnROOT".to_string())));
    app.update(Action::DrivePage {
        generation: 1,
        result: Ok(DrivePage {
            entries: vec![
                folder("Projects", "fldcnPROJECTS01"),
                folder("共享资料", "fldcnSHARED"),
            ],
            next_page: None,
        }),
    });
    app.update(Action::Focus(Pane::Drive));
    app.update(Action::Enter);
    app.update(Action::DrivePage {
        generation: 2,
        result: Ok(DrivePage {
            entries: vec![folder("Q1", "fldcnQ1"), folder("Q2", "fldcnQ2")],
            next_page: None,
        }),
    });
    app.update(Action::Focus(Pane::Local));
    app.update(Action::Down);
    app.update(Action::ToggleMark);
    app.update(Action::ToggleMark);
    app
}

fn render(app: &App) -> String {
    let backend = TestBackend::new(app.width, app.height);
    let mut terminal = Terminal::new(backend).expect("test terminal");
    terminal
        .draw(|frame| larkup::ui::draw(frame, app))
        .expect("draw");
    terminal.backend().to_string()
}

fn queued(job: u64, name: &str, size: u64) -> Event {
    Event::Queued {
        job,
        path: PathBuf::from("/data/photos").join(name).into(),
        size,
        folder: "".into(),
    }
}

/// A batch: one done, one at 52 %, one waiting, one failed with Feishu's quota code.
fn with_queue(mut app: App, failed: bool) -> App {
    let t = Instant::now();
    let at = |secs: u64| t + Duration::from_secs(secs);
    for (job, name, size) in [
        (1, "beach.jpg", 3_250_586),
        (2, "video.mp4", 40 * 1024 * 1024),
        (3, "notes.md", 812),
        (4, "disk-image.iso", 2 * 1024 * 1024),
    ] {
        app.update(Action::Engine(queued(job, name, size), at(0)));
    }
    let events = [
        (Event::Started { job: 1 }, 0),
        (
            Event::Done {
                job: 1,
                file_token: "boxcnBEACH0001".to_string(),
                note: None,
                replaced: None,
            },
            1,
        ),
        (Event::Started { job: 2 }, 1),
        (
            Event::Progress {
                job: 2,
                bytes_done: 21_810_380,
            },
            6,
        ),
    ];
    for (event, secs) in events {
        app.update(Action::Engine(event, at(secs)));
    }
    if failed {
        app.update(Action::Engine(
            Event::Failed {
                job: 4,
                failure: Failure {
                    code: Some(1061101),
                    message: "file quota exceeded.".to_string(),
                    log_id: None,
                },
            },
            at(6),
        ));
    }
    app
}

#[test]
fn main_screen() {
    insta::assert_snapshot!(render(&app(120, 24)));
}

#[test]
fn running_queue() {
    insta::assert_snapshot!(render(&with_queue(app(120, 26), false)));
}

#[test]
fn failed_row_hint_in_english() {
    insta::assert_snapshot!(render(&with_queue(app(120, 26), true)));
}

#[test]
fn failed_row_hint_in_chinese() {
    let mut app = with_queue(app(120, 26), true);
    app.update(Action::ToggleLang);
    insta::assert_snapshot!(render(&app));
}

#[test]
fn help_overlay() {
    let mut app = app(120, 40);
    app.update(Action::ToggleHelp);
    insta::assert_snapshot!(render(&app));
}

#[test]
fn conflict_modal() {
    let mut app = with_queue(app(120, 26), false);
    app.update(Action::Engine(
        Event::Conflict {
            job: 3,
            name: "notes.md".to_string(),
        },
        Instant::now(),
    ));
    insta::assert_snapshot!(render(&app));
}

#[test]
fn login_screen() {
    let mut app = App::new(
        PathBuf::from("/data"),
        String::new(),
        "open.feishu.cn".to_string(),
        Lang::En,
    );
    app.update(Action::Resize {
        width: 100,
        height: 24,
    });
    app.require_login(LoginScreen::new(
        "https://open.feishu.cn".to_string(),
        Some("cli_a1b2c3".to_string()),
        "not logged in (profile \"default\")".to_string(),
    ));
    app.update(Action::Submit);
    for c in "s3cr3tV4lue".chars() {
        app.update(Action::Input(c));
    }
    let before = render(&app);
    assert!(!before.contains("s3cr3t"), "the secret is never drawn");
    app.update(Action::Submit);
    app.update(Action::LoginCode {
        user_code: Some("WXYZ-1234".to_string()),
        link: "https://accounts.feishu.cn/device?code=WXYZ-1234".to_string(),
    });
    insta::assert_snapshot!(render(&app));
}

#[test]
fn sixty_columns_stack_the_panes() {
    let mut app = with_queue(app(60, 30), true);
    app.update(Action::ToggleLang);
    insta::assert_snapshot!(render(&app));
}

#[test]
fn no_color_draws_without_colours() {
    use ratatui::style::Color;
    let mut app = with_queue(app(120, 26), true);
    app.no_color = true;
    let backend = TestBackend::new(app.width, app.height);
    let mut terminal = Terminal::new(backend).expect("test terminal");
    terminal
        .draw(|frame| larkup::ui::draw(frame, &app))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    let coloured = buffer
        .content()
        .iter()
        .filter(|cell| cell.fg != Color::Reset || cell.bg != Color::Reset)
        .count();
    assert_eq!(coloured, 0, "NO_COLOR: no cell has a colour");

    app.no_color = false;
    terminal
        .draw(|frame| larkup::ui::draw(frame, &app))
        .expect("draw");
    let coloured = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .filter(|cell| cell.fg != Color::Reset || cell.bg != Color::Reset)
        .count();
    assert!(coloured > 0, "colours are drawn otherwise");
}

#[test]
fn draws_at_any_size_without_panicking() {
    for (width, height) in [
        (1, 1),
        (2, 3),
        (10, 5),
        (20, 4),
        (40, 8),
        (99, 12),
        (100, 6),
    ] {
        let mut app = with_queue(app(120, 26), true);
        app.update(Action::Resize { width, height });
        render(&app);
        app.update(Action::ToggleHelp);
        render(&app);
        app.update(Action::ToggleHelp);
        app.update(Action::Engine(
            Event::Conflict {
                job: 3,
                name: "notes.md".to_string(),
            },
            Instant::now(),
        ));
        render(&app);
        app.update(Action::Click {
            column: width / 2,
            row: height / 2,
        });
        app.update(Action::Scroll {
            column: 1,
            row: 1,
            down: true,
        });
    }
}

#[test]
fn login_screen_browser_flow() {
    let mut app = App::new(
        PathBuf::from("/data"),
        String::new(),
        "open.feishu.cn".to_string(),
        Lang::En,
    );
    app.update(Action::Resize {
        width: 100,
        height: 24,
    });
    app.require_login(LoginScreen::new(
        "https://open.feishu.cn".to_string(),
        Some("cli_a1b2c3".to_string()),
        "not logged in (profile \"default\")".to_string(),
    ));
    app.update(Action::FocusNext);
    app.update(Action::Submit);
    app.update(Action::Input('x'));
    app.update(Action::Submit);
    app.update(Action::LoginCode {
        user_code: None,
        link: "https://accounts.feishu.cn/open-apis/authen/v1/authorize?client_id=cli_a1b2c3&redirect_uri=http%3A%2F%2F127.0.0.1%3A53682%2Fcallback".to_string(),
    });
    insta::assert_snapshot!(render(&app));
}

#[test]
fn quit_while_uploading_asks() {
    let mut app = with_queue(app(100, 24), false);
    app.update(Action::Quit);
    insta::assert_snapshot!(render(&app));
}

/// A key as the terminal sends it, through the real keymap.
fn press(app: &mut App, code: KeyCode) {
    let event = KeyEvent::new(code, KeyModifiers::NONE);
    if let Some(action) = action_for(app, event) {
        app.update(action);
    }
}

fn quota_failure() -> Failure {
    Failure {
        code: Some(1061101),
        message: "file quota exceeded.".to_string(),
        log_id: None,
    }
}

/// Issue 14.1: after a long batch, a second batch's failed row is the last one; the queue
/// scrolls so the row and its hint lines both show at the bottom.
#[test]
fn scrolled_queue_shows_a_new_failure_and_its_hint() {
    let mut app = app(120, 26);
    let t = Instant::now();
    for job in 1..=40 {
        let name = format!("photo-{job:03}.jpg");
        app.update(Action::Engine(queued(job, &name, 100_000), t));
        app.update(Action::Engine(Event::Started { job }, t));
        app.update(Action::Engine(
            Event::Done {
                job,
                file_token: format!("boxcnPHOTO{job:03}"),
                note: None,
                replaced: None,
            },
            t,
        ));
    }
    app.update(Action::Engine(Event::Idle, t));
    // The second batch: u.
    app.update(Action::Upload);
    for (job, name) in [(41, "notes.md"), (42, "disk-image.iso")] {
        app.update(Action::Engine(queued(job, name, 2048), t));
    }
    app.update(Action::Engine(Event::Started { job: 41 }, t));
    app.update(Action::Engine(
        Event::Done {
            job: 41,
            file_token: "boxcnNOTES".to_string(),
            note: None,
            replaced: None,
        },
        t,
    ));
    app.update(Action::Engine(
        Event::Failed {
            job: 42,
            failure: quota_failure(),
        },
        t,
    ));
    app.update(Action::Engine(Event::Idle, t));
    let screen = render(&app);
    assert!(screen.contains("disk-image.iso"));
    assert!(
        screen.contains("Your tenant's storage quota is used up"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
}

/// Issue 14.1: in the focused queue, `G` goes to the last row and the view follows it, the
/// failed rows' hint lines counted.
#[test]
fn queue_end_key_scrolls_to_the_last_row() {
    let mut app = app(100, 24);
    let t = Instant::now();
    for job in 1..=30 {
        app.update(Action::Engine(
            queued(job, &format!("scan-{job:02}.pdf"), 4096),
            t,
        ));
    }
    for job in [26, 28, 30] {
        app.update(Action::Engine(
            Event::Failed {
                job,
                failure: quota_failure(),
            },
            t,
        ));
    }
    app.update(Action::Focus(Pane::Queue));
    press(&mut app, KeyCode::Char('g'));
    press(&mut app, KeyCode::Char('G'));
    let screen = render(&app);
    assert!(screen.contains("scan-30.pdf"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// Issue 14.2: paused reads "paused", with no speed, no ETA and no ▶.
#[test]
fn paused_queue_reads_paused() {
    let mut app = with_queue(app(120, 26), false);
    app.update(Action::Engine(
        Event::Paused { paused: true },
        Instant::now(),
    ));
    let screen = render(&app);
    assert!(!screen.contains('▶'), "{screen}");
    assert!(!screen.contains("ETA"), "{screen}");
    assert!(!screen.contains("/s"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// Issue 14.3: at 60×20 the help scrolls to its last line with the moving keys.
#[test]
fn help_at_sixty_by_twenty_scrolls_to_the_end() {
    let mut app = app(60, 20);
    press(&mut app, KeyCode::Char('?'));
    let top = render(&app);
    assert!(top.contains("this help"));
    assert!(
        !top.contains("switch device flow"),
        "the last line is below"
    );
    press(&mut app, KeyCode::PageDown);
    let paged = render(&app);
    assert_ne!(paged, top, "PgDn scrolls");
    press(&mut app, KeyCode::End);
    let bottom = render(&app);
    assert!(
        bottom.contains("switch device flow / browser flow"),
        "{bottom}"
    );
    insta::assert_snapshot!("help_sixty_by_twenty_end", bottom);
    // One line back up with k, and Home goes back to the top.
    press(&mut app, KeyCode::Char('k'));
    assert_ne!(render(&app), bottom);
    press(&mut app, KeyCode::Home);
    assert_eq!(render(&app), top);
    // j past the end stays at the end; another key closes.
    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(render(&app), bottom);
    press(&mut app, KeyCode::Char('x'));
    assert!(!render(&app).contains("Keys ·"));
}

/// Issue 14.3: at 200 columns the two columns are sized by what they hold: nothing cut,
/// nothing run together.
#[test]
fn help_at_two_hundred_columns() {
    let mut app = app(200, 45);
    press(&mut app, KeyCode::Char('?'));
    let screen = render(&app);
    for text in [
        "keep both, for every later conflict too",
        "switch device flow / browser flow",
        "upload the marked items into the open folder",
    ] {
        assert!(screen.contains(text), "{text:?} cut:\n{screen}");
    }
    insta::assert_snapshot!(screen);
}

/// Issue 11 "Counts" and issue 14.4: a rerun's rows read "already there" apart from the
/// uploads (no ✓: nothing was sent), a row uploaded again says why, and problem rows do not
/// say the path the row already names. The title counts each kind apart.
#[test]
fn rerun_rows_already_there_uploaded_again_and_reasons_without_the_path() {
    let mut app = app(120, 26);
    let t = Instant::now();
    for (job, name) in [
        (1, "beach.jpg"),
        (2, "notes.md"),
        (3, "empty.txt"),
        (4, "locked.pdf"),
    ] {
        app.update(Action::Engine(queued(job, name, 2048), t));
    }
    app.update(Action::Engine(
        Event::AlreadyThere {
            job: 1,
            file_token: "boxcnBEACH0001".to_string(),
        },
        t,
    ));
    app.update(Action::Engine(Event::Started { job: 2 }, t));
    app.update(Action::Engine(
        Event::Done {
            job: 2,
            file_token: "boxcnNOTES0002".to_string(),
            note: Some("was no longer in Drive; uploaded again".to_string()),
            replaced: None,
        },
        t,
    ));
    app.update(Action::Engine(
        Event::Skipped {
            job: 3,
            reason: "/data/photos/empty.txt: the file is empty (Drive refuses empty files)"
                .to_string(),
        },
        t,
    ));
    app.update(Action::Engine(
        Event::Failed {
            job: 4,
            failure: Failure::local("/data/photos/locked.pdf: Permission denied (os error 13)"),
        },
        t,
    ));
    app.update(Action::Engine(Event::Idle, t));
    let screen = render(&app);
    assert!(!screen.contains("/data/photos/empty.txt"), "{screen}");
    // The row names the file; the status line, which does not, keeps the path.
    assert!(screen.contains("2.0 KiB  Permission denied"), "{screen}");
    assert!(screen.contains("already there  boxcnBEACH0001"), "{screen}");
    assert!(
        screen.contains("1 uploaded · 1 already there · 1 skipped"),
        "{screen}"
    );
    assert_eq!(screen.matches('✓').count(), 1, "{screen}");
    insta::assert_snapshot!(screen);
}

/// Issue 12 "say what is happening": an upload call's retry on the status line; the running
/// row and the totals say it waits.
#[test]
fn a_retry_reads_on_the_status_line() {
    let mut app = with_queue(app(120, 26), false);
    app.update(Action::Retrying {
        notice: larkup::transfer::pacer::RetryNotice {
            reason: "cannot reach open.feishu.cn (connection refused)".to_string(),
            attempt: 2,
            of: 8,
            delay: Duration::from_secs(4),
        },
        uploads: true,
    });
    let screen = render(&app);
    assert!(
        screen.contains("cannot reach open.feishu.cn (connection refused); retry 2/8 in 4.0 s"),
        "{screen}"
    );
    // The running row and the totals hold still: no speed, no ETA while it waits.
    assert!(!screen.contains("/s"), "{screen}");
    assert!(!screen.contains("ETA 0"), "{screen}");
    assert!(screen.contains("51%  retrying"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// Issue 11 "Two processes": waiting for another larkup, named, on the status line and in
/// the queue's title.
#[test]
fn waiting_for_another_larkup_reads_on_the_status_line() {
    let mut app = app(120, 26);
    app.update(Action::Upload);
    app.update(Action::Engine(
        Event::Waiting {
            folder: "fldcnPROJECTS01".to_string(),
            pid: Some(31337),
        },
        Instant::now(),
    ));
    let screen = render(&app);
    assert!(
        screen.contains("waiting for another larkup (pid 31337) uploading into /Projects"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
}

/// Issue 11 "Counts" in the top line while a rerun runs: already there and skipped apart.
#[test]
fn the_top_line_counts_already_there_and_skipped_apart_while_running() {
    let mut app = app(120, 26);
    let t = Instant::now();
    for (job, name) in [(1, "beach.jpg"), (2, "notes.md"), (3, "video.mp4")] {
        app.update(Action::Engine(queued(job, name, 2048), t));
    }
    app.update(Action::Engine(
        Event::AlreadyThere {
            job: 1,
            file_token: "boxcnBEACH0001".to_string(),
        },
        t,
    ));
    app.update(Action::Engine(
        Event::Skipped {
            job: 2,
            reason: "\"notes.md\" already exists in the destination folder".to_string(),
        },
        t,
    ));
    app.update(Action::Engine(Event::Started { job: 3 }, t));
    let screen = render(&app);
    let top = screen.lines().next().unwrap_or_default().to_string();
    assert!(top.contains("↑ 2/3 (1 already there, 1 skipped)"), "{top}");
    insta::assert_snapshot!(screen);
}

/// Issue 19 #5: the top line counts the running batch; with an earlier batch's rows still
/// listed it says so, instead of seeming to count the rows shown.
#[test]
fn a_second_batch_is_counted_as_the_batch_beside_earlier_rows() {
    let mut app = app(120, 26);
    let t = Instant::now();
    for (job, name) in [(1, "beach.jpg"), (2, "notes.md")] {
        app.update(Action::Engine(queued(job, name, 2048), t));
        app.update(Action::Engine(
            Event::Done {
                job,
                file_token: format!("boxcnDONE000{job}"),
                note: None,
                replaced: None,
            },
            t,
        ));
    }
    app.update(Action::Engine(Event::Idle, t));
    let top = |app: &App| render(app).lines().next().unwrap_or_default().to_string();
    // `u` on the settled queue starts a new batch.
    app.queue.new_batch = true;
    for (job, name) in [(3, "video.mp4"), (4, "map.png")] {
        app.update(Action::Engine(queued(job, name, 2048), t));
    }
    app.update(Action::Engine(Event::Started { job: 3 }, t));
    let line = top(&app);
    assert_eq!(app.queue.rows.len(), 4);
    assert!(line.contains("↑ 0/2 of this batch"), "{line}");
    // One batch alone needs no such words.
    let mut single = self::app(120, 26);
    single.update(Action::Engine(queued(1, "beach.jpg", 2048), t));
    single.update(Action::Engine(Event::Started { job: 1 }, t));
    let line = top(&single);
    assert!(line.contains("↑ 0/1") && !line.contains("batch"), "{line}");
}

/// Issue 18 #10: at 12 rows, stacked, the local and Drive panes had no row at all. Each pane
/// keeps one, its cursor row on screen.
#[test]
fn twelve_rows_keep_a_row_in_every_pane() {
    let stacked = with_queue(app(60, 12), true);
    let screen = render(&stacked);
    let lines: Vec<&str> = screen.lines().collect();
    assert_eq!(lines.len(), 12);
    assert!(
        screen.contains("> [ ] notes.md"),
        "the local cursor row:\n{screen}"
    );
    assert!(
        screen.contains("> 📁 Q1"),
        "the Drive cursor row:\n{screen}"
    );
    insta::assert_snapshot!(screen);
    // Side by side too.
    let wide = with_queue(app(120, 12), true);
    let screen = render(&wide);
    assert!(
        screen.contains("> [ ] notes.md") && screen.contains("> 📁 Q1"),
        "{screen}"
    );
}

/// Issue 19 #4: focus shows as a marked, reversed title, not only as a border colour, so it
/// holds under NO_COLOR; and Tab moves the mark.
#[test]
fn focus_shows_without_colour() {
    use ratatui::style::Modifier;
    let mut app = app(120, 24);
    app.no_color = true;
    let title_cell = |app: &App, marker: &str| {
        let backend = TestBackend::new(app.width, app.height);
        let mut terminal = Terminal::new(backend).expect("test terminal");
        terminal
            .draw(|frame| larkup::ui::draw(frame, app))
            .expect("draw");
        let buffer = terminal.backend().buffer().clone();
        buffer
            .content()
            .iter()
            .position(|cell| cell.symbol() == marker)
            .map(|at| buffer.content()[at].modifier)
    };
    let screen = render(&app);
    assert!(screen.contains("┌● Local "), "{screen}");
    assert!(screen.contains("┌ Drive "), "{screen}");
    let style = title_cell(&app, "●").expect("a focus mark");
    assert!(style.contains(Modifier::REVERSED), "{style:?}");
    press(&mut app, KeyCode::Tab);
    let screen = render(&app);
    assert!(
        screen.contains("┌ Local ") && screen.contains("┌● Drive "),
        "{screen}"
    );
    press(&mut app, KeyCode::Tab);
    assert!(render(&app).contains("┌● Queue "));
}

/// Issue 19 #4: `/jp` typed in the queue. `/` has no meaning there: the status line says
/// where it works (nothing else happens); `j` moves the queue's cursor, `p` pauses, and the
/// status line says paused; the footer lists the queue's keys, not `/ filter`.
#[test]
fn a_key_of_another_pane_says_where_it_works() {
    let mut app = with_queue(app(120, 26), true);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    let footer = render(&app);
    let footer = footer.lines().last().unwrap_or_default().to_string();
    assert!(
        footer.contains("p pause") && !footer.contains("filter") && !footer.contains("upload"),
        "{footer}"
    );
    press(&mut app, KeyCode::Char('/'));
    let screen = render(&app);
    let status = screen.lines().last().unwrap_or_default();
    assert!(
        status.contains("/: filter by name as you type — in the Local pane; Tab moves there"),
        "{status}"
    );
    insta::assert_snapshot!(screen);
    // In the Drive pane, `p` is not a key: said, and no pause.
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char('p'));
    let screen = render(&app);
    assert!(
        screen.contains("p: pause / resume uploads — in the Queue pane"),
        "{screen}"
    );
    assert!(!app.queue.paused);
}

/// Issue 19 #7: paused uploads are not "still running".
#[test]
fn quit_while_paused_says_paused() {
    let mut app = with_queue(app(100, 24), false);
    app.update(Action::Engine(
        Event::Paused { paused: true },
        Instant::now(),
    ));
    app.update(Action::Quit);
    let screen = render(&app);
    assert!(
        screen.contains("Uploads are paused, not finished"),
        "{screen}"
    );
    assert!(!screen.contains("still running"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// Issues 18 #3, 19 #7: the login screen says what to do on it, and, logged in, what it waits
/// for while the session opens.
#[test]
fn login_screen_says_what_to_do_here_and_what_it_waits_for() {
    let mut app = App::new(
        PathBuf::from("/data"),
        String::new(),
        "open.feishu.cn".to_string(),
        Lang::En,
    );
    app.update(Action::Resize {
        width: 100,
        height: 24,
    });
    app.require_login(LoginScreen::new(
        "https://open.feishu.cn".to_string(),
        None,
        "not logged in (profile \"default\"): run `larkup login`, or set LARKUP_TOKEN for scripts"
            .to_string(),
    ));
    let screen = render(&app);
    assert!(!screen.contains("larkup login"), "{screen}");
    assert!(screen.contains("Type your Feishu app's App ID"), "{screen}");
    insta::assert_snapshot!("login_screen_first_step", screen);
    app.update(Action::OpeningSession {
        who: "Ada Lovelace".to_string(),
    });
    let screen = render(&app);
    assert!(
        screen.contains("Logged in as Ada Lovelace. Opening your Drive…"),
        "{screen}"
    );
}
