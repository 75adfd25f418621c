//! The sandbox's Drive: users and their tokens, folders and files, chunked uploads in
//! progress, and a log of every call. Held behind one `std::sync::Mutex`, never across an await.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Feishu's structural limits (docs/feishu-api.md §0, §10).
pub const MAX_CHILDREN: usize = 1500;
pub const MAX_DEPTH: usize = 15;
/// Chunked uploads always split at 4 MiB (docs/feishu-api.md §2).
pub const BLOCK_SIZE: u64 = 4_194_304;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Folder,
    File,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub token: String,
    pub name: String,
    pub kind: NodeKind,
    pub parent: Option<String>,
    pub owner: String,
    pub created: i64,
    pub modified: i64,
    /// Creation order, to keep listings stable among equal times.
    pub seq: u64,
    pub size: u64,
    pub adler32: u32,
    pub children: Vec<String>,
    /// Unix ms from which listings show it (listing lag, late commits); 0 = at once.
    pub listed_from_ms: i64,
    /// The version an in-place overwrite last gave it (docs/feishu-api.md §13).
    pub version: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub owner: String,
    pub parent: String,
    pub name: String,
    pub size: u64,
    pub block_num: u64,
    pub created_ms: i64,
    /// seq → the accepted block's Adler-32; the bytes are in `upload_path`, at seq × block_size.
    pub blocks: BTreeMap<u64, u32>,
    /// The file this upload overwrites in place (prepare's `file_token`, docs/feishu-api.md §13).
    pub replaces: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub user: String,
    /// Unix milliseconds.
    pub expires_ms: i64,
    /// The scopes this token carries (docs/feishu-api.md §17).
    pub scopes: Vec<String>,
}

/// A node in the recycle bin (docs/feishu-api.md §6b): what it was, when and by whom it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binned {
    pub token: String,
    pub name: String,
    pub kind: NodeKind,
    pub parent_token: String,
    pub deleted_at_ms: i64,
    pub deleted_by: String,
    /// Set for the nodes that went with a deleted folder: that folder's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_folder: Option<String>,
}

/// An asynchronous folder delete (docs/feishu-api.md §6b, §6c).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteTask {
    pub task_id: String,
    pub folder: String,
    pub user: String,
    /// task_check polls still answered `process` before the folder goes.
    pub polls_left: u32,
    /// `process`, `success` or `fail`.
    pub status: String,
}

/// One Drive call as the sandbox answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub endpoint: String,
    pub at_ms: i64,
    pub code: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// How the call ended for the client: answered, or the connection dropped.
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub token: String,
    pub name: String,
    pub parent_token: String,
    pub size: u64,
    pub adler32: u32,
    pub path: PathBuf,
    /// Unix seconds, as listings show them.
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub modified: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFolder {
    pub token: String,
    pub name: String,
    pub parent_token: String,
}

/// What the inspection endpoint shows (and `Sandbox::inspect` returns).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspection {
    pub files: Vec<StoredFile>,
    pub folders: Vec<StoredFolder>,
    pub calls: Vec<CallRecord>,
    /// Deleted nodes, oldest first.
    #[serde(default)]
    pub recycle_bin: Vec<Binned>,
    #[serde(default)]
    pub delete_tasks: Vec<DeleteTask>,
}

impl Inspection {
    /// The recycle bin's entry for `token`, if it was deleted.
    pub fn binned(&self, token: &str) -> Option<&Binned> {
        self.recycle_bin.iter().find(|entry| entry.token == token)
    }

    /// Calls refused or failed with `code`.
    pub fn calls_with_code(&self, code: i64) -> usize {
        self.calls.iter().filter(|call| call.code == code).count()
    }

    /// upload_part seqs accepted for an upload, in order.
    pub fn parts_sent(&self, upload_id: &str) -> Vec<u64> {
        self.calls
            .iter()
            .filter(|call| {
                call.endpoint == "upload_part"
                    && call.code == 0
                    && call.upload_id.as_deref() == Some(upload_id)
            })
            .filter_map(|call| call.seq)
            .collect()
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

pub fn random_token(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

pub struct State {
    pub data_dir: PathBuf,
    pub tokens: HashMap<String, TokenInfo>,
    /// user → root folder token.
    pub roots: HashMap<String, String>,
    pub nodes: HashMap<String, Node>,
    pub uploads: HashMap<String, Upload>,
    pub calls: Vec<CallRecord>,
    /// The registered app and the OAuth grants in flight (oauth.rs).
    pub oauth: super::oauth::OAuthState,
    /// Deleted nodes, in the order they went.
    pub bin: Vec<Binned>,
    /// Folder deletes by task id.
    pub tasks: HashMap<String, DeleteTask>,
    next_seq: u64,
    last_version: u64,
}

impl State {
    pub fn new(data_dir: PathBuf) -> State {
        State {
            data_dir,
            tokens: HashMap::new(),
            roots: HashMap::new(),
            nodes: HashMap::new(),
            uploads: HashMap::new(),
            calls: Vec::new(),
            oauth: super::oauth::OAuthState::new(),
            bin: Vec::new(),
            tasks: HashMap::new(),
            next_seq: 0,
            last_version: 0,
        }
    }

    pub fn file_path(&self, token: &str) -> PathBuf {
        self.data_dir.join("files").join(token)
    }

    /// One file per chunked upload: each block is written at its offset, so finish renames it
    /// into place instead of copying (the sandbox must not be a benchmark's bottleneck).
    pub fn upload_path(&self, upload_id: &str) -> PathBuf {
        self.data_dir.join("uploads").join(upload_id)
    }

    /// The user's My Space root, made on first use.
    pub fn root_of(&mut self, user: &str) -> String {
        if let Some(root) = self.roots.get(user) {
            return root.clone();
        }
        let token = random_token("nodcn", 22);
        let now = now_ms() / 1000;
        self.next_seq += 1;
        self.nodes.insert(
            token.clone(),
            Node {
                token: token.clone(),
                name: String::new(),
                kind: NodeKind::Folder,
                parent: None,
                owner: user.to_string(),
                created: now,
                modified: now,
                seq: self.next_seq,
                size: 0,
                adler32: 1,
                children: Vec::new(),
                listed_from_ms: 0,
                version: None,
            },
        );
        self.roots.insert(user.to_string(), token.clone());
        token
    }

    pub fn issue_token(&mut self, user: &str, ttl_secs: i64, scopes: Vec<String>) -> String {
        let token = random_token("u-sbx", 40);
        self.tokens.insert(
            token.clone(),
            TokenInfo {
                user: user.to_string(),
                expires_ms: now_ms().saturating_add(ttl_secs.saturating_mul(1000)),
                scopes,
            },
        );
        self.root_of(user);
        token
    }

    /// Depth below My Space root (root = 0).
    pub fn depth(&self, folder: &str) -> usize {
        let mut depth = 0;
        let mut current = self.nodes.get(folder).and_then(|node| node.parent.clone());
        while let Some(parent) = current {
            depth += 1;
            current = self.nodes.get(&parent).and_then(|node| node.parent.clone());
        }
        depth
    }

    pub fn folder(&self, token: &str) -> Option<&Node> {
        self.nodes
            .get(token)
            .filter(|node| node.kind == NodeKind::Folder)
    }

    /// Adds a node under `parent` (which the caller checked).
    pub fn add_node(
        &mut self,
        parent: &str,
        name: &str,
        kind: NodeKind,
        owner: &str,
        size: u64,
        adler32: u32,
    ) -> String {
        let token = match kind {
            NodeKind::Folder => random_token("fldcn", 22),
            NodeKind::File => random_token("boxcn", 22),
        };
        let now = now_ms() / 1000;
        self.next_seq += 1;
        self.nodes.insert(
            token.clone(),
            Node {
                token: token.clone(),
                name: name.to_string(),
                kind,
                parent: Some(parent.to_string()),
                owner: owner.to_string(),
                created: now,
                modified: now,
                seq: self.next_seq,
                size,
                adler32,
                children: Vec::new(),
                listed_from_ms: 0,
                version: None,
            },
        );
        if let Some(parent_node) = self.nodes.get_mut(parent) {
            parent_node.children.push(token.clone());
            parent_node.modified = now;
        }
        token
    }

    /// Marks a write to `token` now. Listings count in seconds, and two writes within one
    /// second must still show the time moved (a client compares it), so it rises by at least one.
    pub fn touch(&mut self, token: &str) {
        let now = now_ms() / 1000;
        if let Some(node) = self.nodes.get_mut(token) {
            node.modified = now.max(node.modified + 1);
        }
    }

    /// A new version id for an in-place overwrite: numeric, as Feishu's look
    /// ("7633658129540910621", docs/feishu-api.md §13), and rising with each one.
    pub fn next_version(&mut self) -> String {
        let floor = 7_600_000_000_000_000_000u64 + now_ms().max(0) as u64 * 1000;
        self.last_version = floor.max(self.last_version + 1);
        self.last_version.to_string()
    }

    /// The tokens of `token`'s subtree, `token` first.
    pub fn subtree(&self, token: &str) -> Vec<String> {
        let mut out = vec![token.to_string()];
        let mut index = 0;
        while index < out.len() {
            if let Some(node) = self.nodes.get(&out[index]) {
                out.extend(node.children.iter().cloned());
            }
            index += 1;
        }
        out
    }

    /// Moves `token` and its subtree to the recycle bin: gone from the listing, kept (with its
    /// bytes) in the bin.
    pub fn move_to_bin(&mut self, token: &str, by: &str) -> bool {
        let Some(parent) = self.nodes.get(token).map(|node| node.parent.clone()) else {
            return false;
        };
        let at = now_ms();
        for member in self.subtree(token) {
            let Some(node) = self.nodes.remove(&member) else {
                continue;
            };
            self.bin.push(Binned {
                token: node.token.clone(),
                name: node.name.clone(),
                kind: node.kind,
                parent_token: node.parent.clone().unwrap_or_default(),
                deleted_at_ms: at,
                deleted_by: by.to_string(),
                with_folder: (member != token).then(|| token.to_string()),
            });
        }
        if let Some(parent) = parent {
            // As add_node does: the folder's time is the clock's, not forced to move.
            if let Some(parent_node) = self.nodes.get_mut(&parent) {
                parent_node.children.retain(|child| child != token);
                parent_node.modified = parent_node.modified.max(at / 1000);
            }
        }
        true
    }

    /// Children of a folder in Feishu's default order, EditedTime descending.
    pub fn children(&self, folder: &str) -> Vec<&Node> {
        let mut children: Vec<&Node> = self
            .nodes
            .get(folder)
            .map(|node| {
                node.children
                    .iter()
                    .filter_map(|token| self.nodes.get(token))
                    .collect()
            })
            .unwrap_or_default();
        children.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.seq.cmp(&a.seq)));
        children
    }

    pub fn record(&mut self, call: CallRecord) {
        self.calls.push(call);
    }

    pub fn inspect(&self) -> Inspection {
        let mut files = Vec::new();
        let mut folders = Vec::new();
        let mut nodes: Vec<&Node> = self.nodes.values().collect();
        nodes.sort_by_key(|node| node.seq);
        for node in nodes {
            let parent_token = node.parent.clone().unwrap_or_default();
            match node.kind {
                NodeKind::File => files.push(StoredFile {
                    token: node.token.clone(),
                    name: node.name.clone(),
                    parent_token,
                    size: node.size,
                    adler32: node.adler32,
                    path: self.file_path(&node.token),
                    created: node.created,
                    modified: node.modified,
                    version: node.version.clone(),
                }),
                NodeKind::Folder if node.parent.is_some() => folders.push(StoredFolder {
                    token: node.token.clone(),
                    name: node.name.clone(),
                    parent_token,
                }),
                NodeKind::Folder => {}
            }
        }
        let mut delete_tasks: Vec<DeleteTask> = self.tasks.values().cloned().collect();
        delete_tasks.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        Inspection {
            files,
            folders,
            calls: self.calls.clone(),
            recycle_bin: self.bin.clone(),
            delete_tasks,
        }
    }
}

/// A numeric-looking upload id, as Feishu's (docs/feishu-api.md §2a).
pub fn new_upload_id() -> String {
    let mut rng = rand::rng();
    format!("7{:018}", rng.random_range(0..1_000_000_000_000_000_000u64))
}
