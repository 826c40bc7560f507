"""A TCP port forward on 127.0.0.1 for the tests: a port of its own that
leads to another, as a rented machine's SSH port leads to its sshd.

    python3 forward.py PORT      prints the port it listens on, then copies
                                 each connection to 127.0.0.1:PORT both ways

Killed (SIGTERM), every connection through it drops with it."""

import socket
import sys
import threading


def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    target = int(sys.argv[1])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print(srv.getsockname()[1], flush=True)
    while True:
        client, _ = srv.accept()
        try:
            up = socket.create_connection(("127.0.0.1", target), timeout=10)
            up.settimeout(None)
        except OSError:
            client.close()
            continue
        for a, b in ((client, up), (up, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


if __name__ == "__main__":
    main()
