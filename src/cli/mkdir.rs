//! `larkup mkdir NAME [--in FOLDER_TOKEN] [--new]`: a folder of that name in the parent, and
//! its token on stdout. When one is there already it is that one (said on stderr), as `upload`
//! merges into it (`plan::merge_target`, issue 18 #10); `--new` makes another beside it (Feishu
//! allows that). Never two for one run: a lost answer is looked for before creating again, as
//! the engine does (`transfer::reconcile`, issue 11).

use super::{report, Outcome, Session};
use crate::print::{errln, outln};
use crate::sanitize;
use crate::transfer::plan;
use crate::transfer::reconcile;
use crate::transfer::Idempotence;

pub async fn run(session: &Session, name: &str, parent: Option<&str>, new: bool) -> Outcome {
    let parent = match session.folder_or_root(parent).await {
        Ok(parent) => parent,
        Err(err) => return report(session, "cannot find the parent folder", &err),
    };
    let reads = session.reads();
    // What is there before the first create call: a folder found after a lost answer must
    // be new, or it is someone else's.
    let listed = match reads
        .call(Idempotence::Safe, || session.drive.list_folder(&parent))
        .await
    {
        Ok(entries) => entries,
        Err(err) => return report(session, "cannot list the parent folder", &err),
    };
    if let (false, Some(there)) = (new, plan::merge_target(&listed, name)) {
        errln!(
            "larkup mkdir: a folder named \"{}\" is already there; its token follows \
             (--new makes another beside it)",
            sanitize::escape(name)
        );
        outln!("{}", sanitize::escape(&there.token));
        return Outcome::Done;
    }
    match reconcile::create_unclaimed_folder(
        &session.drive,
        &reads,
        &session.pacer,
        &parent,
        name,
        &listed,
    )
    .await
    {
        Ok(token) => {
            outln!("{}", sanitize::escape(&token));
            Outcome::Done
        }
        Err(err) => {
            errln!(
                "larkup: {}: {}",
                sanitize::escape(&format!("cannot create folder \"{name}\"")),
                err.describe(session.lang)
            );
            Outcome::SomeFailed
        }
    }
}
