#!/usr/bin/python3
"""A TCP relay that answers late: slow_proxy.py LISTEN_ADDR LISTEN_PORT TARGET_ADDR TARGET_PORT DELAY

The lab's `slowca` server: in front of scepserver, every connection is relayed to the target at
once (the request reaches the CA), but nothing of the answer reaches the client before DELAY
seconds after the connection was accepted. A phone that waits on it must keep its display
counter, its timers and its keyboard running (issue 11 item 4). Stdlib only; one thread per
direction; logs `ready` when listening and one line per connection.
"""
import ctypes
import socket
import sys
import threading
import time


def pipe(src, dst, not_before):
    """Copies src to dst; holds every byte until `not_before` (monotonic)."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            wait = not_before - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def serve(client, peer, target, delay):
    accepted = time.monotonic()
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError as e:
        print(f"{peer[0]}:{peer[1]}: cannot reach {target[0]}:{target[1]}: {e}", flush=True)
        client.close()
        return
    upstream.settimeout(None)
    print(f"{peer[0]}:{peer[1]}: relayed, answer held {delay} s", flush=True)
    up = threading.Thread(target=pipe, args=(client, upstream, 0), daemon=True)
    up.start()
    pipe(upstream, client, accepted + delay)
    up.join(timeout=delay + 30)
    client.close()
    upstream.close()


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    listen = (sys.argv[1], int(sys.argv[2]))
    target = (sys.argv[3], int(sys.argv[4]))
    delay = float(sys.argv[5])
    try:
        ctypes.CDLL(None).prctl(15, b"plab-slowca", 0, 0, 0)   # PR_SET_NAME, for `lab stop`
    except OSError:
        pass
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(listen)
    srv.listen(64)
    print(f"ready on {listen[0]}:{listen[1]} -> {target[0]}:{target[1]}, delay {delay} s", flush=True)
    while True:
        client, peer = srv.accept()
        threading.Thread(target=serve, args=(client, peer, target, delay), daemon=True).start()


if __name__ == "__main__":
    main()
