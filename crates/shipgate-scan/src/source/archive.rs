//! Archives and container images: tar, gzip, zip, OCI image layouts and `docker save`
//! tarballs, recursively (a tar.gz inside a layer inside an image), streamed entry by
//! entry. Formats are recognised by their magic bytes, not by names: OCI blobs have none.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::{CHUNK, FileContext, OVERLAP, count, scan_stream};
use crate::{Error, Report, Scanner, is_env_file};

/// Archives nested deeper than this are scanned as plain files.
const MAX_DEPTH: usize = 8;
/// Bytes read to recognise a format: a tar header is 512 bytes, its magic at 257.
const SNIFF: usize = 512;

/// A container format recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Tar,
    Gzip,
    Zip,
    Zstd,
    Bzip2,
    Xz,
}

impl ArchiveKind {
    /// The format of a stream that starts with `head`, if it is an archive.
    pub fn sniff(head: &[u8]) -> Option<ArchiveKind> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(ArchiveKind::Gzip)
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(ArchiveKind::Zip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(ArchiveKind::Zstd)
        } else if head.starts_with(b"BZh") {
            Some(ArchiveKind::Bzip2)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(ArchiveKind::Xz)
        } else if head.len() >= 262 && &head[257..262] == b"ustar" {
            Some(ArchiveKind::Tar)
        } else {
            None
        }
    }
}

/// State shared by one archive scan.
struct Walk<'a> {
    scanner: &'a Scanner,
    report: Report,
    buffer: Vec<u8>,
    /// Whether a top-level tar may be an image (name its blobs and layers).
    image: bool,
}

pub(crate) fn scan_path(scanner: &Scanner, path: &Path) -> Result<Report, Error> {
    let metadata = std::fs::metadata(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    if metadata.is_dir() {
        return scanner.scan_dir(path, &crate::DirOptions { include_ignored: true, threads: 0 });
    }
    let name = path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned());
    let mut file = File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    let head = read_head(&mut file).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    if ArchiveKind::sniff(&head) == Some(ArchiveKind::Zip) {
        // Zip needs random access: use the file itself.
        file.rewind().map_err(|source| Error::Io { path: path.to_owned(), source })?;
        let mut walk =
            Walk { scanner, report: Report::default(), buffer: Vec::with_capacity(CHUNK + OVERLAP), image: true };
        walk.zip(file, std::slice::from_ref(&name), 0).map_err(|source| Error::Archive { path: name, source })?;
        walk.report.sort();
        return Ok(walk.report);
    }
    let reader: Box<dyn Read> = Box::new(Cursor::new(head).chain(file));
    scan_reader(scanner, reader, &name, true)
}

/// Scans a stream holding an archive (or a plain file) called `name`; `image` says whether
/// a tar may be a container image.
pub(crate) fn scan_reader(
    scanner: &Scanner,
    reader: Box<dyn Read + '_>,
    name: &str,
    image: bool,
) -> Result<Report, Error> {
    let mut walk = Walk { scanner, report: Report::default(), buffer: Vec::with_capacity(CHUNK + OVERLAP), image };
    walk.entry(reader, &[], name, 0).map_err(|source| Error::Archive { path: name.to_owned(), source })?;
    walk.report.sort();
    Ok(walk.report)
}

/// Reads up to `SNIFF` bytes (fewer only at the end of the input).
fn read_head(reader: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(SNIFF);
    reader.take(SNIFF as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// How an entry of an image is named in locations: OCI blobs by digest, `docker save`
/// layers by their folder.
fn layer_label(path: &str, is_archive: bool) -> String {
    let kind = if is_archive { "layer" } else { "blob" };
    if let Some(digest) = path.strip_prefix("blobs/").and_then(|rest| rest.split_once('/')) {
        return format!("{kind} {}:{}", digest.0, digest.1);
    }
    if let Some(id) = path.strip_suffix("/layer.tar") {
        return format!("layer {id}");
    }
    path.to_owned()
}

impl Walk<'_> {
    /// One entry: an archive to open, or a file to scan. `outer` names the archives it is in.
    fn entry(&mut self, mut reader: Box<dyn Read + '_>, outer: &[String], name: &str, depth: usize) -> io::Result<()> {
        let head = read_head(&mut reader)?;
        let kind = if depth < MAX_DEPTH { ArchiveKind::sniff(&head) } else { None };
        let reader: Box<dyn Read + '_> = Box::new(Cursor::new(head).chain(reader));
        match kind {
            Some(ArchiveKind::Gzip) => {
                let inner_name = name.strip_suffix(".gz").or_else(|| name.strip_suffix(".tgz")).unwrap_or(name);
                let mut decoded: Box<dyn Read + '_> = Box::new(MultiGzDecoder::new(reader));
                let head = read_head(&mut decoded)?;
                let decoded: Box<dyn Read + '_> = Box::new(Cursor::new(head.clone()).chain(decoded));
                if ArchiveKind::sniff(&head) == Some(ArchiveKind::Tar) {
                    self.tar(decoded, &with(outer, name), depth + 1)
                } else if ArchiveKind::sniff(&head).is_some() {
                    self.entry(decoded, &with(outer, name), inner_name, depth + 1)
                } else {
                    self.file(decoded, outer, inner_name);
                    Ok(())
                }
            }
            // `git archive` of a commit: its files are the commit's own, not inside anything.
            Some(ArchiveKind::Tar) if depth == 0 && !self.image => self.tar(reader, outer, depth + 1),
            Some(ArchiveKind::Tar) => self.tar(reader, &with(outer, name), depth + 1),
            Some(ArchiveKind::Zip) => {
                // Zip keeps its directory at the end: spill the entry to a temporary file.
                let mut spill = tempfile::tempfile()?;
                let mut reader = reader;
                io::copy(&mut reader, &mut spill)?;
                spill.rewind()?;
                self.zip(spill, &with(outer, name), depth + 1)
            }
            Some(other) => {
                self.report.warnings.push(format!(
                    "`{}` is compressed with {other:?}, which shipgate does not read yet; it was not scanned",
                    with(outer, name).join(" > ")
                ));
                Ok(())
            }
            None => {
                self.file(reader, outer, name);
                Ok(())
            }
        }
    }

    fn file(&mut self, mut reader: Box<dyn Read + '_>, outer: &[String], name: &str) {
        if self.scanner.is_allowed_path(name) {
            self.report.stats.allowed += 1;
            return;
        }
        let context = FileContext { container: outer, path: name, commit: None, env_file: is_env_file(name) };
        match scan_stream(self.scanner, &mut reader, &context, &mut self.buffer, &mut self.report.findings) {
            Ok(outcome) => count(&mut self.report.stats, outcome),
            Err(error) => {
                self.report.warnings.push(format!("cannot read `{}`: {error}", with(outer, name).join(" > ")));
            }
        }
    }

    fn tar(&mut self, reader: Box<dyn Read + '_>, outer: &[String], depth: usize) -> io::Result<()> {
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries()? {
            let entry = entry?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path()?.to_string_lossy().trim_start_matches("./").to_owned();
            let file_name = path.rsplit('/').next().unwrap_or(&path);
            if file_name.starts_with(".wh.") {
                continue; // an OCI whiteout: marks a deletion, holds nothing
            }
            let mut entry: Box<dyn Read + '_> = Box::new(entry);
            let head = read_head(&mut entry)?;
            let is_archive = ArchiveKind::sniff(&head).is_some();
            let entry: Box<dyn Read + '_> = Box::new(Cursor::new(head).chain(entry));
            // Inside an image (a top-level tar), name blobs and layers so they can be found.
            let is_image_part =
                self.image && depth == 1 && (path.starts_with("blobs/") || path.ends_with("/layer.tar"));
            let name = if is_image_part { layer_label(&path, is_archive) } else { path.clone() };
            if is_archive {
                self.entry(entry, outer, &name, depth)?;
            } else {
                self.file(entry, outer, &path);
            }
        }
        Ok(())
    }

    fn zip<R: Read + Seek>(&mut self, reader: R, outer: &[String], depth: usize) -> io::Result<()> {
        let mut archive = zip::ZipArchive::new(reader).map_err(io::Error::other)?;
        for index in 0..archive.len() {
            let entry = archive.by_index(index).map_err(io::Error::other)?;
            if !entry.is_file() {
                continue;
            }
            let name = entry.name().map_err(io::Error::other)?.into_owned();
            self.entry(Box::new(entry), outer, &name, depth)?;
        }
        Ok(())
    }
}

fn with(outer: &[String], name: &str) -> Vec<String> {
    let mut chain = outer.to_vec();
    chain.push(name.to_owned());
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_by_magic() {
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(ArchiveKind::sniff(&tar), Some(ArchiveKind::Tar));
        assert_eq!(ArchiveKind::sniff(&[0x1f, 0x8b, 8]), Some(ArchiveKind::Gzip));
        assert_eq!(ArchiveKind::sniff(b"PK\x03\x04rest"), Some(ArchiveKind::Zip));
        assert_eq!(ArchiveKind::sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Some(ArchiveKind::Zstd));
        assert_eq!(ArchiveKind::sniff(b"plain text"), None);
    }

    #[test]
    fn image_parts_are_named_by_digest_or_folder() {
        assert_eq!(layer_label("blobs/sha256/abc", true), "layer sha256:abc");
        assert_eq!(layer_label("blobs/sha256/abc", false), "blob sha256:abc");
        assert_eq!(layer_label("0123abcd/layer.tar", true), "layer 0123abcd");
    }
}
