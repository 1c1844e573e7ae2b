//! Server-Sent Events, read from any byte stream (the WHATWG `text/event-stream` format).
//!
//! Written by hand: the format is a few lines of rules, and the crates that parse it are tied to
//! async runtimes or HTTP clients other than the blocking `ureq` the CLI uses.

use std::io::{self, Read};

/// One dispatched message: its `event:` type (`message` when none was given), its `data:` lines
/// joined with `\n`, and the last `id:` seen on the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

/// Turns bytes into messages, whatever way they were split into reads.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    /// The previous byte ended a line with `\r`: a `\n` right after it belongs to that line end.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
}

impl Parser {
    /// Feed the next bytes; every message they complete is pushed onto `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Message>) {
        for &byte in bytes {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' => self.end_line(out),
                b'\r' => {
                    self.end_line(out);
                    self.after_cr = true;
                }
                _ => self.line.push(byte),
            }
        }
    }

    fn end_line(&mut self, out: &mut Vec<Message>) {
        let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
        if line.is_empty() {
            // A blank line ends the message; one without data is not dispatched.
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            if std::mem::take(&mut self.has_data) {
                let event = if event.is_empty() { "message".to_owned() } else { event };
                out.push(Message { event, data, id: self.last_id.clone() });
            }
            return;
        }
        if line.starts_with(':') {
            return; // a comment, e.g. a keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => value.clone_into(&mut self.event),
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {} // `retry` and unknown fields are ignored
        }
    }
}

/// Messages read from a byte stream, one at a time.
pub struct Stream<R> {
    reader: R,
    parser: Parser,
    ready: std::collections::VecDeque<Message>,
}

impl<R: Read> Stream<R> {
    pub fn new(reader: R) -> Self {
        Stream { reader, parser: Parser::default(), ready: Default::default() }
    }

    /// The next message; `None` once the stream has ended (an unfinished message is dropped, as
    /// the format says).
    pub fn next_message(&mut self) -> io::Result<Option<Message>> {
        let mut buffer = [0u8; 8192];
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Ok(Some(message));
            }
            let read = match self.reader.read(&mut buffer) {
                Ok(0) => return Ok(None),
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            let mut messages = Vec::new();
            self.parser.feed(&buffer[..read], &mut messages);
            self.ready.extend(messages);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn message(event: &str, data: &str, id: Option<&str>) -> Message {
        Message { event: event.to_owned(), data: data.to_owned(), id: id.map(str::to_owned) }
    }

    /// A reader that hands out the given chunks, one per `read`.
    struct Chunks(std::collections::VecDeque<Vec<u8>>);

    impl Read for Chunks {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let Some(chunk) = self.0.pop_front() else { return Ok(0) };
            buffer[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
    }

    fn read_all(chunks: &[&[u8]]) -> Vec<Message> {
        let mut stream = Stream::new(Chunks(chunks.iter().map(|chunk| chunk.to_vec()).collect()));
        let mut messages = Vec::new();
        while let Some(message) = stream.next_message().unwrap() {
            messages.push(message);
        }
        messages
    }

    #[test]
    fn messages_come_out_whole_however_the_bytes_are_split() {
        type Case<'a> = (&'a str, Vec<&'a [u8]>, Vec<Message>);
        let cases: Vec<Case<'_>> = vec![
            (
                "one message in one read",
                vec![b"id: 1\nevent: created\ndata: {\"seq\":1}\n\n"],
                vec![message("created", "{\"seq\":1}", Some("1"))],
            ),
            (
                "a message split across reads, mid-field and between the two newlines",
                vec![b"id: 2\nev", b"ent: step_started\nda", b"ta: {\"seq\":", b"2}\n", b"\n"],
                vec![message("step_started", "{\"seq\":2}", Some("2"))],
            ),
            (
                "comments are skipped, including keep-alives between messages",
                vec![b": hello\n\n:keep-alive\n", b"data: x\n: inside\n\n"],
                vec![message("message", "x", None)],
            ),
            (
                "several data lines are joined with newlines",
                vec![b"data: first\ndata:second\ndata\ndata:  indented\n\n"],
                vec![message("message", "first\nsecond\n\n indented", None)],
            ),
            (
                "CRLF and bare CR line ends, a CR at the end of a read",
                vec![b"id: 7\r", b"\nevent: progress\r\ndata: a\rdata: b\r", b"\r"],
                vec![message("progress", "a\nb", Some("7"))],
            ),
            (
                "the id stays until the next one; the event type does not",
                vec![b"id: 3\nevent: paused\ndata: p\n\ndata: q\n\nid: 4\ndata: r\n\n"],
                vec![
                    message("paused", "p", Some("3")),
                    message("message", "q", Some("3")),
                    message("message", "r", Some("4")),
                ],
            ),
            (
                "a message without data is not dispatched; retry and unknown fields are ignored",
                vec![b"event: nothing\nid: 9\n\nretry: 1000\nfoo: bar\ndata: y\n\n"],
                vec![message("message", "y", Some("9"))],
            ),
            (
                "a message cut off by the end of the stream is dropped",
                vec![b"data: done\n\ndata: half"],
                vec![message("message", "done", None)],
            ),
            (
                "multi-byte UTF-8 split across reads",
                vec![b"data: caf\xc3", b"\xa9\n\n"],
                vec![message("message", "caf\u{e9}", None)],
            ),
        ];
        for (name, chunks, expected) in cases {
            assert_eq!(read_all(&chunks), expected, "{name}");
        }
    }
}
