"""An S3 server on loopback for the object-store tests: moto, and a proxy that cuts uploads."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Any credentials will do for moto; pyarrow and boto3 need some, or they go looking for an
# instance role. Set before either reads the environment.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "raysweep-test",
    "AWS_SECRET_ACCESS_KEY": "raysweep-test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class _OneRequestAtATime:
    """moto checks a PUT's precondition and then stores the object in two steps, and its
    server runs requests on parallel threads; S3 does both at once. Serving one request at a
    time makes moto's conditional writes as atomic as S3's, which the lease race relies on."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


@dataclass
class S3Server:
    """moto on 127.0.0.1; ``endpoint`` is host:port, for ``endpoint_override=``."""

    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def uri(self, bucket: str, prefix: str, *, endpoint: str | None = None) -> str:
        return f"s3://{bucket}/{prefix}?endpoint_override={endpoint or self.endpoint}&scheme=http"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=f"http://{self.endpoint}", region_name="us-east-1")

    def new_bucket(self) -> str:
        name = f"rs-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    """A moto S3 server on a free loopback port, for as long as the context lasts."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    try:
        yield S3Server("127.0.0.1", server.server_port)
    finally:
        server.shutdown()
        thread.join()


@dataclass
class _Connection:
    client: socket.socket
    server: socket.socket
    # Set when the request being forwarded is one whose answer must not reach the client.
    drop_answer: bool = False
    cut: bool = False

    def close(self) -> None:
        self.cut = True
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


@dataclass
class CuttingProxy:
    """A TCP proxy in front of an S3 server that can cut the connection of segment uploads.

    ``cut_uploads(n, when)``: the next ``n`` PUTs of a segment object have their connection cut,
    ``when="request"`` halfway through the body (the server never stores the object) or
    ``when="answer"`` after the server stored it, before its answer reaches the client (which
    therefore cannot know it landed). ``segment_puts`` lists the key of every segment PUT seen.
    """

    upstream: tuple[str, int]
    listener: socket.socket = field(init=False)
    segment_puts: list[str] = field(default_factory=list)
    cuts_done: int = 0
    _cuts_left: int = 0
    _when: str = "request"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _strip_conditions: bool = False

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, name="proxy", daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.listener.getsockname()[1]}"

    def cut_uploads(self, count: int, when: str = "request") -> None:
        assert when in ("request", "answer")
        with self._lock:
            self._cuts_left, self._when = count, when

    def strip_conditions(self) -> None:
        """Remove If-Match / If-None-Match from every request: a store that ignores them."""
        self._strip_conditions = True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            link = _Connection(client, server)
            threading.Thread(target=self._requests, args=(link,), daemon=True).start()
            threading.Thread(target=self._answers, args=(link,), daemon=True).start()

    def _take_cut(self) -> str | None:
        with self._lock:
            if self._cuts_left <= 0:
                return None
            self._cuts_left -= 1
            self.cuts_done += 1
            return self._when

    def _requests(self, link: _Connection) -> None:
        cut_next_chunk = False
        try:
            while data := link.client.recv(65536):
                if self._strip_conditions:
                    data = _without_conditions(data)
                start = data.find(b"PUT /")
                line_end = data.find(b"\r\n", start)
                if start >= 0 and b"/segments/seg-" in data[start:line_end]:
                    self.segment_puts.append(data[start:line_end].split()[1].decode())
                    when = self._take_cut()
                    if when == "request":
                        head_end = data.find(b"\r\n\r\n", start) + 4
                        body = data[head_end:]
                        if body:
                            link.server.sendall(data[: head_end + len(body) // 2])
                            link.close()
                            return
                        link.server.sendall(data[:head_end])
                        cut_next_chunk = True
                        continue
                    if when == "answer":
                        link.drop_answer = True
                elif cut_next_chunk:
                    link.server.sendall(data[: len(data) // 2])
                    link.close()
                    return
                link.server.sendall(data)
        except OSError:
            pass
        link.close()

    def _answers(self, link: _Connection) -> None:
        try:
            while data := link.server.recv(65536):
                if link.drop_answer:
                    # The server answered, so it has stored the object; the client never hears.
                    link.close()
                    return
                link.client.sendall(data)
        except OSError:
            pass
        link.close()


def _without_conditions(data: bytes) -> bytes:
    lines = data.split(b"\r\n")
    kept = [
        line for line in lines if not line.lower().startswith((b"if-match:", b"if-none-match:"))
    ]
    return b"\r\n".join(kept)
