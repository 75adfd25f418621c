//! Reading files for upload: whole-file Adler-32 for upload_all, and the blocks of a chunked
//! upload, each with its own Adler-32 (docs/feishu-api.md §1, §2b). Files are never read whole into
//! memory: a chunked upload holds the block in flight plus the one being prefetched.

use std::fs::File;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::feishu::UploadPlan;

/// Read size for whole-file checksums: large enough to be cheap, small enough to stay cached.
const CHECKSUM_READ_BYTES: usize = 256 * 1024;

/// One block of a chunked upload.
pub struct Block {
    pub seq: u64,
    pub bytes: Bytes,
    pub adler32: u32,
}

/// Reads exactly `buf.len()` bytes at `offset` without moving a shared cursor, so a prefetch
/// and the caller never disturb each other.
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let read = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += read;
        }
        Ok(())
    }
}

/// A short read means the file shrank under us: say so in words the user understands.
fn changed_while_reading(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file got shorter while it was being read",
        )
    } else {
        err
    }
}

/// Adler-32 of the first `size` bytes of `file`.
pub fn adler32_of(file: &File, size: u64) -> io::Result<u32> {
    let mut hasher = adler2::Adler32::new();
    let mut buf = vec![0u8; CHECKSUM_READ_BYTES];
    let mut offset = 0u64;
    while offset < size {
        let len = (size - offset).min(CHECKSUM_READ_BYTES as u64) as usize;
        read_exact_at(file, &mut buf[..len], offset).map_err(changed_while_reading)?;
        hasher.write_slice(&buf[..len]);
        offset += len as u64;
    }
    Ok(hasher.checksum())
}

/// Reads block `seq` of `plan` from `file` and checksums it.
pub fn read_block(file: &File, plan: &UploadPlan, size: u64, seq: u64) -> io::Result<Block> {
    let (offset, len) = plan.block_range(seq, size);
    let mut buf = vec![0u8; len as usize];
    read_exact_at(file, &mut buf, offset).map_err(changed_while_reading)?;
    let adler32 = adler2::adler32_slice(&buf);
    Ok(Block {
        seq,
        bytes: Bytes::from(buf),
        adler32,
    })
}

/// The blocks of one chunked upload, in order from `first_seq`; the next block is read and
/// checksummed on a blocking thread while the caller sends the current one.
pub struct BlockStream {
    file: Arc<File>,
    plan: UploadPlan,
    size: u64,
    next_seq: u64,
    prefetch: Option<JoinHandle<io::Result<Block>>>,
}

impl BlockStream {
    pub fn new(file: File, plan: UploadPlan, size: u64, first_seq: u64) -> BlockStream {
        let mut stream = BlockStream {
            file: Arc::new(file),
            plan,
            size,
            next_seq: first_seq,
            prefetch: None,
        };
        stream.start_prefetch();
        stream
    }

    fn start_prefetch(&mut self) {
        if self.next_seq >= self.plan.block_num {
            self.prefetch = None;
            return;
        }
        let (file, plan, size, seq) = (
            self.file.clone(),
            self.plan.clone(),
            self.size,
            self.next_seq,
        );
        self.prefetch = Some(tokio::task::spawn_blocking(move || {
            read_block(&file, &plan, size, seq)
        }));
        self.next_seq += 1;
    }

    /// The next block, or `None` after the last one.
    pub async fn next(&mut self) -> Option<io::Result<Block>> {
        let handle = self.prefetch.take()?;
        let block = match handle.await {
            Ok(result) => result,
            Err(join) => Err(io::Error::other(format!("block reader stopped: {join}"))),
        };
        self.start_prefetch();
        Some(block)
    }
}

impl Drop for BlockStream {
    fn drop(&mut self) {
        if let Some(handle) = self.prefetch.take() {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut named = tempfile::NamedTempFile::new().expect("temp file");
        named.write_all(bytes).expect("write temp file");
        let file = File::open(named.path()).expect("reopen temp file");
        (named, file)
    }

    #[test]
    fn adler32_matches_the_known_value() {
        // RFC 1950's example: Adler-32 of "Wikipedia" is 0x11E60398.
        let (_keep, file) = temp_file(b"Wikipedia");
        assert_eq!(adler32_of(&file, 9).expect("checksum"), 0x11E6_0398);
    }

    #[test]
    fn a_file_that_shrank_is_reported() {
        let (_keep, file) = temp_file(b"short");
        let err = adler32_of(&file, 100).expect_err("the file is shorter than declared");
        assert!(err.to_string().contains("shorter"), "{err}");
    }

    #[tokio::test]
    async fn blocks_cover_the_file_in_order() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let (_keep, file) = temp_file(&data);
        let plan = UploadPlan {
            upload_id: "u".into(),
            block_size: 4096,
            block_num: 3,
        };
        let mut stream = BlockStream::new(file, plan, data.len() as u64, 1);
        let mut seen = Vec::new();
        while let Some(block) = stream.next().await {
            let block = block.expect("readable block");
            assert_eq!(block.adler32, adler2::adler32_slice(&block.bytes));
            seen.push((block.seq, block.bytes.len()));
        }
        assert_eq!(seen, vec![(1, 4096), (2, 10_000 - 8192)]);
    }
}
