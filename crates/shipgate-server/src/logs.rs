//! Instance output for `shipgate logs`: the last lines of each instance's log file (the agent
//! writes them under its state directory), then, when following, what they append.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, Stream};

const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// The last `tail` lines of `text`, each prefixed with `id | `.
fn prefixed(id: &str, text: &str, tail: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(tail);
    lines[start..].iter().map(|line| format!("{id} | {line}\n")).collect()
}

/// Streams the files' last lines, then (when `follow`) their growth until the client leaves
/// or the server stops.
pub fn stream(
    files: Vec<(String, PathBuf)>,
    tail: usize,
    follow: bool,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let mut first = String::new();
    let mut offsets = Vec::new();
    for (id, path) in &files {
        let text = std::fs::read(path).unwrap_or_default();
        first.push_str(&prefixed(id, &String::from_utf8_lossy(&text), tail));
        offsets.push(text.len() as u64);
    }
    let partials = vec![String::new(); files.len()];
    let state = (Some(first), files, offsets, partials);
    stream::unfold(state, move |(first, files, mut offsets, mut partials)| {
        let stopping = stopping.clone();
        async move {
            if let Some(first) = first {
                return Some((Ok(Bytes::from(first)), (None, files, offsets, partials)));
            }
            if !follow {
                return None;
            }
            loop {
                tokio::time::sleep(FOLLOW_POLL).await;
                if *stopping.borrow() {
                    return None;
                }
                let mut out = String::new();
                for (((id, path), offset), partial) in files.iter().zip(offsets.iter_mut()).zip(partials.iter_mut()) {
                    let Ok(mut file) = std::fs::File::open(path) else { continue };
                    let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
                    if length < *offset {
                        // Rotated: start again from the top of the new file.
                        *offset = 0;
                    }
                    if length == *offset || file.seek(SeekFrom::Start(*offset)).is_err() {
                        continue;
                    }
                    let mut grown = Vec::new();
                    if file.read_to_end(&mut grown).is_err() {
                        continue;
                    }
                    *offset += grown.len() as u64;
                    partial.push_str(&String::from_utf8_lossy(&grown));
                    // Only whole lines; the rest waits for its newline.
                    if let Some(end) = partial.rfind('\n') {
                        let complete: String = partial.drain(..=end).collect();
                        out.push_str(&prefixed(id, &complete, usize::MAX));
                    }
                }
                if !out.is_empty() {
                    return Some((Ok(Bytes::from(out)), (None, files, offsets, partials)));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_last_lines_with_their_instance() {
        assert_eq!(super::prefixed("web-1", "a\nb\nc\n", 2), "web-1 | b\nweb-1 | c\n");
    }
}
