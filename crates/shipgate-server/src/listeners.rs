//! Who listens on a port: the drift rules want processes that are not shipgate's listening on
//! an environment's address. Read from `/proc/net/tcp{,6}` (listening sockets and their inodes)
//! and `/proc/PID/fd` (which process holds each inode); Linux only, best effort: what cannot be
//! read is skipped.

use std::collections::BTreeMap;

use shipgate_policy::ForeignListener;

/// Listening sockets on `port` held by processes other than `ours` (the agent).
pub fn foreign(port: u16, ours: Option<u32>) -> Vec<ForeignListener> {
    let mut sockets: BTreeMap<u64, String> = BTreeMap::new();
    for (table, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            if let Some((address, inode)) = parse_listener(line, v6)
                && address.ends_with(&format!(":{port}"))
            {
                sockets.insert(inode, address);
            }
        }
    }
    if sockets.is_empty() {
        return Vec::new();
    }
    let mut found = Vec::new();
    let Ok(processes) = std::fs::read_dir("/proc") else { return found };
    for process in processes.flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else { continue };
            let Some(inode) = target
                .to_str()
                .and_then(|text| text.strip_prefix("socket:["))
                .and_then(|text| text.strip_suffix(']'))
                .and_then(|text| text.parse::<u64>().ok())
            else {
                continue;
            };
            if let Some(address) = sockets.get(&inode)
                && Some(pid) != ours
            {
                let command = std::fs::read(process.path().join("cmdline"))
                    .ok()
                    .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " ").trim().to_owned());
                found.push(ForeignListener { address: address.clone(), pid: Some(pid), command });
            }
        }
    }
    found.sort_by(|a, b| (a.pid, &a.address).cmp(&(b.pid, &b.address)));
    found.dedup();
    found
}

/// `(address, inode)` of a line of `/proc/net/tcp{,6}` in state LISTEN (`0A`).
fn parse_listener(line: &str, v6: bool) -> Option<(String, u64)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(3) != Some(&"0A") {
        return None;
    }
    let (ip, port) = fields.get(1)?.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let inode = fields.get(9)?.parse().ok()?;
    let address = if v6 {
        let bytes = u128::from_str_radix(ip, 16).ok()?.to_be_bytes();
        // The kernel prints four 32-bit words, each in host (little-endian) order.
        let mut ordered = [0u8; 16];
        for word in 0..4 {
            for byte in 0..4 {
                ordered[word * 4 + byte] = bytes[word * 4 + 3 - byte];
            }
        }
        let ip = std::net::Ipv6Addr::from(ordered);
        if ip.is_unspecified() { format!("*:{port}") } else { format!("[{ip}]:{port}") }
    } else {
        let ip = std::net::Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.swap_bytes());
        if ip.is_unspecified() { format!("*:{port}") } else { format!("{ip}:{port}") }
    };
    Some((address, inode))
}

#[cfg(test)]
mod tests {
    use super::parse_listener;

    #[test]
    fn reads_listening_lines_of_both_tables() {
        let v4 = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0";
        assert_eq!(parse_listener(v4, false), Some(("127.0.0.1:8080".to_owned(), 12345)));
        let any = "   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0";
        assert_eq!(parse_listener(any, false), Some(("*:80".to_owned(), 777)));
        let v6 = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0";
        assert_eq!(parse_listener(v6, true), Some(("[::1]:8080".to_owned(), 999)));
        let established = v4.replace(" 0A ", " 01 ");
        assert_eq!(parse_listener(&established, false), None);
    }
}
