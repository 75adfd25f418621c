//! Drive's delete into the recycle bin and the folder delete's task (docs/feishu-api.md §6b,
//! §6c). Delete is a write-family call: no concurrency, 5 QPS, like the uploads (§0).

use serde::Deserialize;

use super::auth::urlencode;
use super::client::{Error, Result};
use super::drive::Drive;

/// A folder delete's state as task_check reports it (docs/feishu-api.md §6c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    /// Still running: ask again later.
    Process,
    /// The folder and everything in it are in the recycle bin.
    Success,
    Fail,
    /// A status the docs do not list, kept as sent.
    Other(String),
}

#[derive(Deserialize)]
struct TaskData {
    #[serde(default)]
    task_id: String,
}

#[derive(Deserialize)]
struct StatusData {
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct Empty {}

impl Drive {
    /// DELETE drive/v1/files/:file_token?type=`kind` for anything but a folder: it goes to the
    /// recycle bin now. `kind` is the listing's `type` (`file`, `docx`, …). A node already in
    /// the bin answers 1061007 (which larksuite/cli counts as done, §6b).
    pub async fn delete_file(&self, file_token: &str, kind: &str) -> Result<()> {
        let _: Empty = self.send_delete(file_token, kind).await?;
        Ok(())
    }

    /// DELETE … ?type=folder: asynchronous, answers the task to follow with `task_check`.
    pub async fn delete_folder(&self, folder_token: &str) -> Result<String> {
        let data: TaskData = self.send_delete(folder_token, "folder").await?;
        if data.task_id.is_empty() {
            return Err(Error::BadData {
                url: self.client().url("drive/v1/files"),
                reason: "a folder delete answered no task_id".to_string(),
            });
        }
        Ok(data.task_id)
    }

    /// GET drive/v1/files/task_check?task_id=… (docs/feishu-api.md §6c).
    pub async fn task_check(&self, task_id: &str) -> Result<TaskStatus> {
        let client = self.client();
        let data: StatusData = client
            .call(
                client
                    .get("drive/v1/files/task_check")
                    .query(&[("task_id", task_id)]),
            )
            .await?;
        Ok(match data.status.as_str() {
            "process" => TaskStatus::Process,
            "success" => TaskStatus::Success,
            "fail" => TaskStatus::Fail,
            _ => TaskStatus::Other(data.status),
        })
    }

    async fn send_delete<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        kind: &str,
    ) -> Result<T> {
        let client = self.client();
        // The token goes into the path: encoded, so no token can name another endpoint.
        let path = format!("drive/v1/files/{}", urlencode(token));
        client
            .call(client.delete(&path).query(&[("type", kind)]))
            .await
    }
}
