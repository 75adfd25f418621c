//! Feishu Drive calls: root meta, paged listing, create_folder, upload_all and the chunked
//! upload_prepare / upload_part / upload_finish (docs/feishu-api.md §1–§5), and both uploads
//! over an existing `file_token` (§13). Delete and task_check are in drive_delete.rs.

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use reqwest::Body;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use tokio_util::io::ReaderStream;

use super::client::{BodyProgress, Client, Error, Result};

/// upload_all takes files of 1 B … 20 971 520 B; larger ones go through prepare/part/finish
/// (docs/feishu-api.md §1 "Limits", §10).
pub const UPLOAD_ALL_MAX_BYTES: u64 = 20_971_520;
/// Listing's page_size maximum; more answers 1064001 (docs/feishu-api.md §3a).
pub const LIST_PAGE_SIZE: u32 = 200;
/// More pages than a Drive can hold (400 000 nodes at 200 a page, docs/feishu-api.md §0) means a
/// server that pages forever (issue 12 #2).
pub const MAX_LIST_PAGES: usize = 2_000;
/// The only documented `parent_type` for Drive folders (docs/feishu-api.md §1).
const PARENT_TYPE_EXPLORER: &str = "explorer";

/// Drive calls on top of a `Client`.
#[derive(Clone)]
pub struct Drive {
    client: Client,
}

/// One node in a folder listing (docs/feishu-api.md §3a `files[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveEntry {
    pub token: String,
    pub name: String,
    /// `file`, `folder`, `docx`, `sheet`, `shortcut`, … (unknown values are kept as they are).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub parent_token: String,
    #[serde(default)]
    pub url: String,
    /// Unix seconds; Feishu sends them as strings.
    #[serde(default, deserialize_with = "unix_seconds")]
    pub created_time: Option<i64>,
    #[serde(default, deserialize_with = "unix_seconds")]
    pub modified_time: Option<i64>,
}

impl DriveEntry {
    pub fn is_folder(&self) -> bool {
        self.kind == "folder"
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FilePage {
    #[serde(default)]
    pub files: Vec<DriveEntry>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RootFolder {
    pub token: String,
}

/// A folder's meta (docs/feishu-api.md §4b; camelCase on the wire, the fields larkup reads).
#[derive(Debug, Clone, Deserialize)]
pub struct FolderMeta {
    pub token: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreatedFolder {
    pub token: String,
    #[serde(default)]
    pub url: String,
}

/// What upload_prepare returns: the server's plan, followed exactly (docs/feishu-api.md §2a, §2c).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadPlan {
    pub upload_id: String,
    pub block_size: u64,
    pub block_num: u64,
}

impl UploadPlan {
    /// Byte range `(offset, len)` of block `seq` in a file of `size` bytes.
    pub fn block_range(&self, seq: u64, size: u64) -> (u64, u64) {
        let offset = seq * self.block_size;
        (offset, self.block_size.min(size.saturating_sub(offset)))
    }

    /// The plan must cover the file exactly, or following it would lose or invent bytes.
    pub fn check_covers(&self, size: u64, url: &str) -> Result<()> {
        let covered = self.block_size.checked_mul(self.block_num);
        let fits = self.block_size > 0
            && self.block_num > 0
            && covered.is_some_and(|covered| covered >= size)
            && (self.block_num - 1) * self.block_size < size;
        if fits {
            Ok(())
        } else {
            Err(Error::BadData {
                url: url.to_string(),
                reason: format!(
                    "upload plan of {} blocks of {} bytes does not cover {size} bytes",
                    self.block_num, self.block_size
                ),
            })
        }
    }
}

#[derive(Deserialize)]
struct FileTokenData {
    file_token: String,
}

/// What an upload over an existing `file_token` answered (docs/feishu-api.md §13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The token Drive returned: the one sent when it overwrote in place; another one when
    /// the tenant ignored `file_token` and made a second file (then the old one is still there).
    pub file_token: String,
    /// Present only when Drive overwrote in place on upload_all; never on the chunked finish.
    pub version: Option<String>,
}

#[derive(Deserialize)]
struct UploadedData {
    file_token: String,
    #[serde(default, deserialize_with = "version_string")]
    version: Option<String>,
    /// The alias larksuite/cli also reads (docs/feishu-api.md §13).
    #[serde(default, deserialize_with = "version_string")]
    data_version: Option<String>,
}

#[derive(Deserialize)]
struct Empty {}

/// Feishu's `checksum` field: Adler-32 as an unsigned decimal string (docs/feishu-api.md §1).
pub fn checksum_field(adler32: u32) -> String {
    adler32.to_string()
}

impl Drive {
    pub fn new(client: Client) -> Drive {
        Drive { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// GET drive/explorer/v2/root_folder/meta (docs/feishu-api.md §4a).
    pub async fn root_folder(&self) -> Result<RootFolder> {
        self.client
            .call(self.client.get("drive/explorer/v2/root_folder/meta"))
            .await
    }

    /// GET drive/explorer/v2/folder/:folderToken/meta (docs/feishu-api.md §4b): answers for a
    /// folder only (91203 for anything else), so it tells a folder token from a file's. The
    /// caller passes a token of letters and digits: it goes into the URL's path.
    pub async fn folder_meta(&self, folder_token: &str) -> Result<FolderMeta> {
        self.client
            .call(
                self.client
                    .get(&format!("drive/explorer/v2/folder/{folder_token}/meta")),
            )
            .await
    }

    /// One page of GET drive/v1/files (docs/feishu-api.md §3a). Note the asymmetry: the request
    /// takes `page_token`, the response gives `next_page_token`.
    pub async fn list_page(
        &self,
        folder_token: &str,
        page_token: Option<&str>,
    ) -> Result<FilePage> {
        let page_size = LIST_PAGE_SIZE.to_string();
        let mut query = vec![("folder_token", folder_token), ("page_size", &page_size)];
        if let Some(page_token) = page_token {
            query.push(("page_token", page_token));
        }
        self.client
            .call(self.client.get("drive/v1/files").query(&query))
            .await
    }

    /// Every entry of a folder, following `has_more` / `next_page_token` to the end. A page
    /// token seen before, or more pages than any Drive holds, is an error: such a server would
    /// page forever.
    pub async fn list_folder(&self, folder_token: &str) -> Result<Vec<DriveEntry>> {
        let mut entries = Vec::new();
        let mut page_token: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_LIST_PAGES {
            let page = self.list_page(folder_token, page_token.as_deref()).await?;
            entries.extend(page.files);
            if !page.has_more {
                return Ok(entries);
            }
            match page.next_page_token {
                Some(next) if !next.is_empty() && seen.insert(next.clone()) => {
                    page_token = Some(next)
                }
                _ => {
                    return Err(Error::BadData {
                        url: self.client.url("drive/v1/files"),
                        reason: "has_more is true but next_page_token is missing or repeats an \
                                 earlier page"
                            .to_string(),
                    })
                }
            }
        }
        Err(Error::BadData {
            url: self.client.url("drive/v1/files"),
            reason: format!("the listing did not end after {MAX_LIST_PAGES} pages"),
        })
    }

    /// POST drive/v1/files/create_folder; `""` is the caller's root (docs/feishu-api.md §5).
    pub async fn create_folder(&self, parent_token: &str, name: &str) -> Result<CreatedFolder> {
        let body = json!({ "name": name, "folder_token": parent_token });
        self.client
            .call(self.client.post("drive/v1/files/create_folder").json(&body))
            .await
    }

    /// POST drive/v1/files/upload_all, the file streamed from disk (docs/feishu-api.md §1).
    /// Metadata parts go before the bytes, as the doc's example and the Python SDK do.
    pub async fn upload_all(
        &self,
        parent_token: &str,
        file_name: &str,
        file: impl tokio::io::AsyncRead + Send + 'static,
        size: u64,
        adler32: u32,
    ) -> Result<String> {
        let data: FileTokenData = self
            .send_upload_all(parent_token, None, file_name, file, size, adler32)
            .await?;
        Ok(data.file_token)
    }

    /// upload_all over the existing file `file_token` in `parent_token` (docs/feishu-api.md §13):
    /// the same form with a `file_token` part after `size`, as larksuite/cli sends it. Whether
    /// Drive replaced in place is in the answer: a `version`, and normally the same token.
    pub async fn upload_all_replacing(
        &self,
        parent_token: &str,
        file_token: &str,
        file_name: &str,
        file: impl tokio::io::AsyncRead + Send + 'static,
        size: u64,
        adler32: u32,
    ) -> Result<Uploaded> {
        let data: UploadedData = self
            .send_upload_all(
                parent_token,
                Some(file_token),
                file_name,
                file,
                size,
                adler32,
            )
            .await?;
        Ok(data.into())
    }

    async fn send_upload_all<T: serde::de::DeserializeOwned>(
        &self,
        parent_token: &str,
        file_token: Option<&str>,
        file_name: &str,
        file: impl tokio::io::AsyncRead + Send + 'static,
        size: u64,
        adler32: u32,
    ) -> Result<T> {
        // Watched as it streams: a slow uplink is fine, a stalled one is not (issue 11 #3).
        let progress = BodyProgress::new();
        let body = Body::wrap_stream(progress.track(ReaderStream::new(file)));
        let mut form = Form::new()
            .text("file_name", file_name.to_string())
            .text("parent_type", PARENT_TYPE_EXPLORER)
            .text("parent_node", parent_token.to_string())
            .text("size", size.to_string());
        if let Some(file_token) = file_token {
            form = form.text("file_token", file_token.to_string());
        }
        let form = form.text("checksum", checksum_field(adler32)).part(
            "file",
            // The name Drive keeps is the `file_name` field; the part's own filename sits
            // in a header, where a control character would break the form (§11.3: any
            // part filename is accepted).
            octet_stream(
                Part::stream_with_length(body, size),
                &file_name.replace(char::is_control, "_"),
            )?,
        );
        self.client
            .call_watched(
                self.client
                    .post("drive/v1/files/upload_all")
                    .multipart(form),
                Some(progress),
            )
            .await
    }

    /// POST drive/v1/files/upload_prepare (docs/feishu-api.md §2a).
    pub async fn upload_prepare(
        &self,
        parent_token: &str,
        file_name: &str,
        size: u64,
    ) -> Result<UploadPlan> {
        self.send_prepare(parent_token, file_name, size, None).await
    }

    /// upload_prepare for an upload over the existing file `file_token` (docs/feishu-api.md
    /// §13): the `file_token` key beside the usual ones; part and finish are unchanged, and the
    /// finish answers no `version` either way, so only its token tells (same token: in place).
    pub async fn upload_prepare_replacing(
        &self,
        parent_token: &str,
        file_name: &str,
        size: u64,
        file_token: &str,
    ) -> Result<UploadPlan> {
        self.send_prepare(parent_token, file_name, size, Some(file_token))
            .await
    }

    async fn send_prepare(
        &self,
        parent_token: &str,
        file_name: &str,
        size: u64,
        file_token: Option<&str>,
    ) -> Result<UploadPlan> {
        let mut body = json!({
            "file_name": file_name,
            "parent_type": PARENT_TYPE_EXPLORER,
            "parent_node": parent_token,
            "size": size,
        });
        if let Some(file_token) = file_token {
            body["file_token"] = json!(file_token);
        }
        let plan: UploadPlan = self
            .client
            .call(
                self.client
                    .post("drive/v1/files/upload_prepare")
                    .json(&body),
            )
            .await?;
        plan.check_covers(size, &self.client.url("drive/v1/files/upload_prepare"))?;
        Ok(plan)
    }

    /// POST drive/v1/files/upload_part: one block, seq from 0 (docs/feishu-api.md §2b).
    pub async fn upload_part(
        &self,
        upload_id: &str,
        seq: u64,
        block: Bytes,
        adler32: u32,
    ) -> Result<()> {
        let size = block.len() as u64;
        let progress = BodyProgress::new();
        let body = Body::wrap_stream(progress.track_bytes(block));
        let form = Form::new()
            .text("upload_id", upload_id.to_string())
            .text("seq", seq.to_string())
            .text("size", size.to_string())
            .text("checksum", checksum_field(adler32))
            .part(
                "file",
                octet_stream(Part::stream_with_length(body, size), "block")?,
            );
        let _: Empty = self
            .client
            .call_watched(
                self.client
                    .post("drive/v1/files/upload_part")
                    .multipart(form),
                Some(progress),
            )
            .await?;
        Ok(())
    }

    /// POST drive/v1/files/upload_finish (docs/feishu-api.md §2c).
    pub async fn upload_finish(&self, upload_id: &str, block_num: u64) -> Result<String> {
        let body = json!({ "upload_id": upload_id, "block_num": block_num });
        let data: FileTokenData = self
            .client
            .call(self.client.post("drive/v1/files/upload_finish").json(&body))
            .await?;
        Ok(data.file_token)
    }
}

fn octet_stream(part: Part, file_name: &str) -> Result<Part> {
    part.file_name(file_name.to_string())
        .mime_str("application/octet-stream")
        .map_err(|err| Error::Io {
            path: file_name.to_string(),
            source: std::io::Error::other(err),
        })
}

impl From<UploadedData> for Uploaded {
    fn from(data: UploadedData) -> Uploaded {
        Uploaded {
            file_token: data.file_token,
            version: data.version.or(data.data_version),
        }
    }
}

/// `version` is read as a non-empty string only, as larksuite/cli does (docs/feishu-api.md §13):
/// a number, an empty string or anything else is no version.
fn version_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => Some(text),
        _ => None,
    })
}

/// Feishu sends times as strings of Unix seconds; accept numbers too, and treat junk as absent
/// rather than failing a whole listing over one odd field.
fn unix_seconds<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<i64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(serde_json::Value::String(text)) => text.trim().parse().ok(),
        Some(serde_json::Value::Number(number)) => number.as_i64(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_ranges_cover_the_file() {
        let plan = UploadPlan {
            upload_id: "1".into(),
            block_size: 4,
            block_num: 3,
        };
        assert!(plan.check_covers(10, "u").is_ok());
        assert_eq!(plan.block_range(2, 10), (8, 2));
        assert!(
            plan.check_covers(13, "u").is_err(),
            "12 bytes cannot hold 13"
        );
        assert!(
            plan.check_covers(8, "u").is_err(),
            "the third block would be empty"
        );
    }

    #[test]
    fn listing_times_are_string_seconds() {
        let entry: DriveEntry = serde_json::from_value(json!({
            "token": "fld1", "name": "a", "type": "folder",
            "created_time": "1700000000", "modified_time": 1700000001
        }))
        .expect("valid entry");
        assert_eq!(entry.created_time, Some(1_700_000_000));
        assert_eq!(entry.modified_time, Some(1_700_000_001));
        assert!(entry.is_folder());
    }

    #[test]
    fn a_version_is_a_non_empty_string_or_its_alias() {
        let read = |data| Uploaded::from(serde_json::from_value::<UploadedData>(data).expect("ok"));
        let with = read(json!({"file_token": "box1", "version": "7633658129540910621"}));
        assert_eq!(with.version.as_deref(), Some("7633658129540910621"));
        let alias = read(json!({"file_token": "box1", "data_version": "76"}));
        assert_eq!(alias.version.as_deref(), Some("76"));
        assert_eq!(read(json!({"file_token": "box1"})).version, None);
        assert_eq!(
            read(json!({"file_token": "b", "version": ""})).version,
            None
        );
        assert_eq!(
            read(json!({"file_token": "b", "version": 76})).version,
            None
        );
    }

    #[test]
    fn checksum_is_unsigned_decimal() {
        assert_eq!(checksum_field(3_248_270_248), "3248270248");
    }
}
