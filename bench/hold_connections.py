#!/usr/bin/env python3
"""Open N keep-alive connections to HOST:PORT, make one request on each, hold them idle, and
print the VmRSS of PID (before and while holding). Used by bench/proxy.sh."""
import socket
import sys
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def main():
    host, port, count, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    before = rss_kb(pid)
    conns = []
    for _ in range(count):
        conn = socket.create_connection((host, port))
        conn.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        conns.append(conn)
    answered = 0
    for conn in conns:
        conn.settimeout(10)
        data = conn.recv(4096)
        answered += data.startswith(b"HTTP/1.1 200")
    time.sleep(2)
    held = rss_kb(pid)
    alive = 0
    for conn in conns:  # still open: a request on each is answered
        conn.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    for conn in conns:
        alive += conn.recv(4096).startswith(b"HTTP/1.1 200")
    print(f"agent RSS: {before / 1024:.1f} MB idle, {held / 1024:.1f} MB with {count} open keep-alive "
          f"connections ({answered} answered, {alive} still alive after 2 s; target < 50 MB)")
    for conn in conns:
        conn.close()


main()
