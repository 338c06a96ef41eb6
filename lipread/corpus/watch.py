"""The watch that holds one transfer to its Limits (a deadline, a minimum rate): a thread
that samples the bytes received and cuts the transfer when a limit is passed; and a
requests session whose connections hand the watch their sockets, so that a cut ends a
read blocked on any server, whatever it sends: a response with a length, without one
(`Connection: close`: http.client lets go of the connection's socket then), chunked, or
headers that never end.
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time


class Watch:
    """Ends a transfer that runs past its deadline or stays under the minimum rate: a
    thread that samples the bytes received (`have`, kept up to date by the transfer) and
    calls `cut` when a limit is passed (`why` says which, before `cut` is called)."""

    def __init__(self, limits, cut=None):
        self.limits = limits
        self.cut = cut or self.shut  # cut(): end the transfer, from this thread
        self.have, self.why = 0, None
        self.sockets: list[socket.socket] = []  # what shut() ends (watched_session's)
        self.start = time.monotonic()
        self.samples = [(self.start, 0)]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        limits = self.limits
        while not self.done.wait(0.5):
            now = time.monotonic()
            self.samples.append((now, self.have))
            while len(self.samples) > 2 and self.samples[1][0] <= now - limits.window_s:
                self.samples.pop(0)
            then, had = self.samples[0]
            if now - self.start > limits.deadline_s:
                self.why = f"not done after {limits.deadline_s:g} s (--deadline)"
            elif (now - then >= limits.window_s
                  and (self.have - had) < limits.min_rate_kbps * 1000 * (now - then)):
                self.why = (f"the server sent {self.have - had} bytes in the last "
                            f"{now - then:.0f} s, under {limits.min_rate_kbps:g} kB/s "
                            "(--min-rate)")
            if self.why:
                self.cut()
                return

    def shut(self) -> None:
        """Shut every socket the transfer opened: a read blocked on a server that sends a
        byte at a time returns then, and the reading thread closes the stream itself.
        The descriptor's own shutdown (not ssl's, which would unwrap under the reader)."""
        for sock in list(self.sockets):
            with contextlib.suppress(OSError, ValueError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def watched_session(watch: Watch):
    """A requests Session whose every connection (redirects too) adds its socket to
    `watch.sockets` once connected."""
    import requests
    from requests.adapters import HTTPAdapter

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            classes = dict(self.poolmanager.pool_classes_by_scheme)  # this session's own
            for scheme, pool in classes.items():
                class Connection(pool.ConnectionCls):
                    def connect(self):
                        super().connect()
                        watch.sockets.append(self.sock)

                classes[scheme] = type(f"Watched{pool.__name__}", (pool,),
                                       {"ConnectionCls": Connection})
            self.poolmanager.pool_classes_by_scheme = classes

    session = requests.Session()
    for prefix in ("http://", "https://"):
        session.mount(prefix, Adapter())
    return session
