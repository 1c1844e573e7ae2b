//! Graceful upgrade: the running agent hands its listening sockets to its successor over a Unix
//! socket (`SCM_RIGHTS`), so no connection is refused while the binary changes.
//!
//! 1. The successor (`--upgrade-from PATH`) connects to the running agent's upgrade socket and
//!    sends `takeover`.
//! 2. The running agent persists its state one last time, stops persisting and restarting
//!    instances (they now belong to the successor), and sends a JSON list of what it passes plus
//!    the file descriptors: every proxy listener, the control socket, the metrics listener and the
//!    upgrade socket itself.
//! 3. The successor loads the state, adopts the instances, accepts on the received sockets, and
//!    answers `ready`.
//! 4. The running agent stops accepting, lets in-flight requests finish, and exits.
//!
//! The descriptor passing goes through rustix's safe `sendmsg`/`recvmsg` wrappers: this crate has
//! no `unsafe` code.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
    recvmsg, sendmsg,
};
use serde::{Deserialize, Serialize};

use crate::error::Error;

const TAKEOVER: &[u8] = b"takeover\n";
const READY: &[u8] = b"ready\n";
const MAX_FDS: usize = 64;

#[derive(Debug, Serialize, Deserialize)]
enum Passed {
    Proxy(SocketAddr),
    Control,
    Metrics,
    Upgrade,
}

/// Sockets received from the previous agent.
#[derive(Default)]
pub struct Inherited {
    pub proxy: std::collections::HashMap<SocketAddr, std::net::TcpListener>,
    pub control: Option<std::os::unix::net::UnixListener>,
    pub metrics: Option<std::net::TcpListener>,
    pub upgrade: Option<std::os::unix::net::UnixListener>,
}

/// What the running agent passes.
pub struct Handover {
    pub proxy: Vec<(SocketAddr, std::net::TcpListener)>,
    pub control: Option<std::os::unix::net::UnixListener>,
    pub metrics: Option<std::net::TcpListener>,
    pub upgrade: Option<std::os::unix::net::UnixListener>,
}

fn upgrade_error(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |error| Error::Upgrade(format!("{what}: {error}"))
}

/// Successor side, step 1 and 2: ask for the sockets and receive them.
pub fn request(path: &Path) -> Result<(UnixStream, Inherited), Error> {
    let mut stream = UnixStream::connect(path)
        .map_err(|e| Error::Upgrade(format!("cannot connect to the running agent at `{}`: {e}", path.display())))?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(upgrade_error("socket"))?;
    stream.write_all(TAKEOVER).map_err(upgrade_error("cannot ask for the sockets"))?;
    let mut payload = vec![0u8; 64 * 1024];
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = recvmsg(&stream, &mut [IoSliceMut::new(&mut payload)], &mut control, RecvFlags::CMSG_CLOEXEC)
        .map_err(|e| Error::Upgrade(format!("cannot receive the sockets: {e}")))?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    let list: Vec<Passed> = serde_json::from_slice(&payload[..received.bytes])
        .map_err(|e| Error::Upgrade(format!("unexpected answer from the running agent: {e}")))?;
    if list.len() != fds.len() {
        return Err(Error::Upgrade(format!("expected {} sockets, received {}", list.len(), fds.len())));
    }
    let mut inherited = Inherited::default();
    for (what, fd) in list.into_iter().zip(fds) {
        match what {
            Passed::Proxy(addr) => {
                inherited.proxy.insert(addr, std::net::TcpListener::from(fd));
            }
            Passed::Control => inherited.control = Some(std::os::unix::net::UnixListener::from(fd)),
            Passed::Metrics => inherited.metrics = Some(std::net::TcpListener::from(fd)),
            Passed::Upgrade => inherited.upgrade = Some(std::os::unix::net::UnixListener::from(fd)),
        }
    }
    Ok((stream, inherited))
}

/// Successor side, step 3: serving; the previous agent may stop.
pub fn confirm(mut stream: UnixStream) -> Result<(), Error> {
    stream.write_all(READY).map_err(upgrade_error("cannot confirm the takeover"))
}

/// Running side, steps 2 to 3: wait for `takeover`, send the sockets, wait for `ready`.
/// Blocking: run it on a blocking thread.
pub fn hand_over(mut stream: UnixStream, sockets: impl FnOnce() -> Handover) -> Result<(), Error> {
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(upgrade_error("socket"))?;
    let mut line = [0u8; TAKEOVER.len()];
    stream.read_exact(&mut line).map_err(upgrade_error("no takeover request"))?;
    if line != TAKEOVER {
        return Err(Error::Upgrade("unexpected request on the upgrade socket".into()));
    }
    let handover = sockets();
    let mut list = Vec::new();
    let mut fds = Vec::new();
    for (addr, listener) in &handover.proxy {
        list.push(Passed::Proxy(*addr));
        fds.push(listener.as_fd());
    }
    if let Some(control) = &handover.control {
        list.push(Passed::Control);
        fds.push(control.as_fd());
    }
    if let Some(metrics) = &handover.metrics {
        list.push(Passed::Metrics);
        fds.push(metrics.as_fd());
    }
    if let Some(upgrade) = &handover.upgrade {
        list.push(Passed::Upgrade);
        fds.push(upgrade.as_fd());
    }
    if fds.len() > MAX_FDS {
        return Err(Error::Upgrade(format!("too many sockets to hand over ({})", fds.len())));
    }
    let payload = serde_json::to_vec(&list).map_err(|e| Error::Upgrade(e.to_string()))?;
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(Error::Upgrade("cannot prepare the sockets".into()));
    }
    sendmsg(&stream, &[IoSlice::new(&payload)], &mut control, SendFlags::empty())
        .map_err(|e| Error::Upgrade(format!("cannot send the sockets: {e}")))?;
    let mut answer = [0u8; READY.len()];
    stream.read_exact(&mut answer).map_err(upgrade_error("the successor did not confirm"))?;
    if answer != READY {
        return Err(Error::Upgrade("the successor did not confirm".into()));
    }
    Ok(())
}
