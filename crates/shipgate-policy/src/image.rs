//! Container image references: `[registry[:port]/]repository[:tag][@digest]`.
//!
//! Written by hand after the grammar of `distribution/reference` (what Docker and containerd
//! use), because the rule needs to know whether a tag was *written*: the maintained Rust
//! parser (`oci-spec`'s `Reference`) fills in `latest` when none is, and brings builder and
//! regex machinery for what is a short, well-specified grammar.

use std::fmt;

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A parsed image reference. Docker Hub defaults are filled in (`hello` is
/// `docker.io/library/hello`); a missing tag stays missing (it is not `latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// `host[:port]`, e.g. `registry.example.com`, `localhost:5000`, `[::1]:5000`.
    pub registry: String,
    /// Path components joined by `/`, e.g. `library/hello`, `acme/api/worker`.
    pub repository: String,
    pub tag: Option<String>,
    /// `algorithm:hex`, e.g. `sha256:3f1c…`.
    pub digest: Option<String>,
}

impl ImageReference {
    /// Pinned by digest: the reference names one image whatever its tag says.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Why a text is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{reference}` is not a valid image reference: {reason}")]
pub struct ImageReferenceError {
    pub reference: String,
    pub reason: String,
}

/// Parses an image reference the way Docker and containerd do.
pub fn parse_image_reference(text: &str) -> Result<ImageReference, ImageReferenceError> {
    let fail = |reason: String| ImageReferenceError { reference: text.to_owned(), reason };
    if text.is_empty() {
        return Err(fail("it is empty".to_owned()));
    }
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail(format!("it contains {c:?}")));
    }
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(check_digest(digest).map_err(fail)?)),
        None => (text, None),
    };
    // A `:` after the last `/` starts the tag; one before it belongs to the registry's port.
    let last_slash = rest.rfind('/');
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => (&rest[..colon], Some(&rest[colon + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        check_tag(tag).map_err(fail)?;
    }
    if name.is_empty() {
        return Err(fail("it names no repository".to_owned()));
    }
    if name.len() > NAME_MAX {
        return Err(fail(format!("the name is {} characters long, more than {NAME_MAX}", name.len())));
    }
    let (registry, path) = split_registry(name);
    if let Some(registry) = registry {
        check_registry(registry).map_err(fail)?;
    }
    check_path(path).map_err(fail)?;
    let mut registry = registry.unwrap_or(DOCKER_HUB).to_owned();
    if registry == DOCKER_HUB_LEGACY {
        registry = DOCKER_HUB.to_owned();
    }
    let repository =
        if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path.to_owned() };
    Ok(ImageReference { registry, repository, tag: tag.map(str::to_owned), digest })
}

/// The first path component is a registry when it looks like a host: it has a `.` or a `:`,
/// is `localhost`, or has uppercase letters (repositories never do).
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = if let Some(inner) = registry.strip_prefix('[') {
        let Some((address, after)) = inner.split_once(']') else {
            return Err(format!("registry `{registry}` opens `[` without closing it"));
        };
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("`{address}` in registry `{registry}` is not an IPv6 address"));
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(format!("registry `{registry}` has `{after}` after its IPv6 address")),
            },
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let valid_component = |component: &str| {
            !component.is_empty()
                && !component.starts_with('-')
                && !component.ends_with('-')
                && component.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !host.split('.').all(valid_component) {
            return Err(format!("registry host `{host}` is not a host name or IP address"));
        }
    }
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err())
    {
        return Err(format!("registry `{registry}` has port `{port}`, not a number from 0 to 65535"));
    }
    Ok(())
}

/// Path components: lowercase letters and digits, separated inside a component by `.`, `_`,
/// `__` or a run of `-`.
fn check_path(path: &str) -> Result<(), String> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err(format!("repository `{path}` has an empty path component"));
        }
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!("repository `{path}` has uppercase letters; repositories are lowercase"));
        }
        let bytes = component.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let mut i = 0;
        let mut previous_alnum = false;
        while i < bytes.len() {
            if alnum(bytes[i]) {
                previous_alnum = true;
                i += 1;
                continue;
            }
            let start = i;
            let separator = match bytes[i] {
                b'.' => 1,
                b'_' if bytes.get(i + 1) == Some(&b'_') => 2,
                b'_' => 1,
                b'-' => bytes[i..].iter().take_while(|b| **b == b'-').count(),
                other => {
                    return Err(format!("repository `{path}` contains `{}`", char::from(other)));
                }
            };
            i += separator;
            if !previous_alnum || !bytes.get(i).copied().is_some_and(alnum) {
                return Err(format!(
                    "repository `{path}` has `{}` where letters or digits must be on both sides",
                    &component[start..i]
                ));
            }
            previous_alnum = false;
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let valid = !tag.is_empty()
        && tag.len() <= TAG_MAX
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "tag `{tag}` is not 1 to {TAG_MAX} letters, digits, `_`, `.` and `-` (not starting with `.` or `-`)"
        ))
    }
}

fn check_digest(digest: &str) -> Result<String, String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!("digest `{digest}` is not `algorithm:hex`, e.g. `sha256:` and 64 hex digits"));
    };
    let length = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        other => return Err(format!("digest algorithm `{other}` is not supported; use `sha256`")),
    };
    if hex.len() != length || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(format!("digest `{digest}` must be `{algorithm}:` and {length} lowercase hex digits"));
    }
    Ok(digest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "3f1c2a8b9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f90";

    #[test]
    fn references_parse_into_their_parts() {
        let digest = format!("sha256:{HEX}");
        /// registry, repository, tag, digest
        type Parts<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);
        let cases: Vec<(String, Parts<'_>)> = vec![
            ("hello".into(), ("docker.io", "library/hello", None, None)),
            ("app:1.2".into(), ("docker.io", "library/app", Some("1.2"), None)),
            ("acme/app:v2".into(), ("docker.io", "acme/app", Some("v2"), None)),
            // A port, not a tag: the `:` comes before the last `/`.
            ("registry:5000/app".into(), ("registry:5000", "app", None, None)),
            ("registry:5000/app:5000".into(), ("registry:5000", "app", Some("5000"), None)),
            // No `/`: the first component cannot be a registry, so `:5000` is a tag.
            ("test.com:5000".into(), ("docker.io", "library/test.com", Some("5000"), None)),
            ("localhost/app".into(), ("localhost", "app", None, None)),
            ("localhost:5000/team/app:1".into(), ("localhost:5000", "team/app", Some("1"), None)),
            ("[::1]:5000/app:1".into(), ("[::1]:5000", "app", Some("1"), None)),
            ("10.0.0.7:443/app".into(), ("10.0.0.7:443", "app", None, None)),
            ("index.docker.io/nginx".into(), ("docker.io", "library/nginx", None, None)),
            ("docker.io/library/nginx:1.27".into(), ("docker.io", "library/nginx", Some("1.27"), None)),
            ("ghcr.io/acme/api/worker:2024-06-01".into(), ("ghcr.io", "acme/api/worker", Some("2024-06-01"), None)),
            // An uppercase first component is taken as a registry, as Docker does.
            ("Registry/app".into(), ("Registry", "app", None, None)),
            ("a__b/c--d/e.f:Tag_1".into(), ("docker.io", "a__b/c--d/e.f", Some("Tag_1"), None)),
            ("lowercase:Uppercase".into(), ("docker.io", "library/lowercase", Some("Uppercase"), None)),
            (format!("app@{digest}"), ("docker.io", "library/app", None, Some(&digest))),
            (format!("registry:5000/app:1.2@{digest}"), ("registry:5000", "app", Some("1.2"), Some(&digest))),
            (format!("ghcr.io/acme/app:latest@{digest}"), ("ghcr.io", "acme/app", Some("latest"), Some(&digest))),
        ];
        for (text, (registry, repository, tag, digest)) in &cases {
            let parsed = parse_image_reference(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!(
                (parsed.registry.as_str(), parsed.repository.as_str(), parsed.tag.as_deref(), parsed.digest.as_deref()),
                (*registry, *repository, *tag, *digest),
                "{text}"
            );
            assert_eq!(parsed.is_pinned(), digest.is_some(), "{text}");
        }
    }

    #[test]
    fn references_print_in_full() {
        assert_eq!(parse_image_reference("hello").unwrap().to_string(), "docker.io/library/hello");
        assert_eq!(parse_image_reference("registry:5000/app:1").unwrap().to_string(), "registry:5000/app:1");
        assert_eq!(parse_image_reference("acme/app:v1").unwrap().name(), "docker.io/acme/app");
    }

    #[test]
    fn bad_references_say_why() {
        let long_name = "a".repeat(256);
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "it is empty"),
            (":tag".into(), "names no repository"),
            (format!("@sha256:{HEX}"), "names no repository"),
            ("app@sha256:abc".into(), "64 lowercase hex digits"),
            (format!("app@sha256:{}", HEX.to_uppercase()), "64 lowercase hex digits"),
            (format!("app@md5:{HEX}"), "algorithm `md5` is not supported"),
            ("app@3f1c".into(), "not `algorithm:hex`"),
            ("Uppercase:tag".into(), "uppercase letters"),
            ("registry:5000/Team/app".into(), "uppercase letters"),
            ("app:".into(), "tag ``"),
            ("app:-x".into(), "tag `-x`"),
            (format!("app:{}", "t".repeat(129)), "tag `"),
            ("a//b".into(), "empty path component"),
            ("app/".into(), "empty path component"),
            ("aa/asdf$$^/aa".into(), "contains `$`"),
            ("app-".into(), "letters or digits must be on both sides"),
            ("_app".into(), "letters or digits must be on both sides"),
            ("a___b".into(), "letters or digits must be on both sides"),
            ("registry:port/app".into(), "port `port`"),
            ("registry:99999/app".into(), "port `99999`"),
            ("-bad.com/app".into(), "host `-bad.com`"),
            ("[::1/app".into(), "without closing"),
            ("[nope]:5000/app".into(), "not an IPv6 address"),
            ("app :1".into(), "contains ' '"),
            (long_name, "more than 255"),
        ];
        for (text, why) in &cases {
            let error = parse_image_reference(text).expect_err(text);
            assert!(error.reason.contains(why), "{text}: {}", error.reason);
            assert!(error.to_string().starts_with(&format!("`{text}` is not a valid image reference: ")), "{error}");
        }
    }
}
