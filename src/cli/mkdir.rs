//! `larkup mkdir NAME [--in FOLDER_TOKEN]`.

use super::{report, Outcome, Session};
use crate::transfer::Idempotence;

pub async fn run(session: &Session, name: &str, parent: Option<&str>) -> Outcome {
    let parent = match session.folder_or_root(parent).await {
        Ok(parent) => parent,
        Err(err) => return report(session, "cannot find the parent folder", &err),
    };
    let created = session
        .pacer
        .call(Idempotence::CreatesSomething, || {
            session.drive.create_folder(&parent, name)
        })
        .await;
    match created {
        Ok(folder) => {
            println!("{}", crate::sanitize::escape(&folder.token));
            Outcome::Done
        }
        Err(err) => report(session, &format!("cannot create folder \"{name}\""), &err),
    }
}
