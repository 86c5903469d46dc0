"""A small TLS-terminating reverse proxy for tests, like nginx or a load balancer in production.

It accepts HTTPS with a self-signed certificate made here (``cryptography``), forwards each
request over plain HTTP to the app with the original ``Host`` and its own ``X-Forwarded-For``
and ``X-Forwarded-Proto: https`` (any such header from the client is dropped), and passes the
response back unchanged, redirects included. One connection per request (HTTP/1.0 to the
client), which is all a test needs.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business; forwarding headers are
# set by the proxy alone, so a client cannot pretend to be somewhere else.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)
FORWARDING = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded"})


def self_signed_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate and key for ``host`` (and localhost), valid for a day; their file paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "proxy-cert.pem", folder / "proxy-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, backend: tuple[str, int]) -> None:
        super().__init__(address, _ForwardingHandler)
        self.context = context
        self.backend = backend
        self.forwarded: list[dict[str, str]] = []  # the forwarding headers of each request sent on

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        # The handshake happens on the first read, in the request's own thread.
        return self.context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address


class _ForwardingHandler(BaseHTTPRequestHandler):
    server: _TLSServer

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() not in FORWARDING
        }
        added = {"X-Forwarded-For": self.client_address[0], "X-Forwarded-Proto": "https"}
        headers.update(added)
        self.server.forwarded.append(added)
        upstream = http.client.HTTPConnection(*self.server.backend, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        finally:
            upstream.close()
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    # http.server calls do_<METHOD>: every method is forwarded the same way.
    do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request in the test output."""


@dataclass
class TLSProxy:
    url: str
    server: _TLSServer

    @property
    def forwarded(self) -> list[dict[str, str]]:
        return self.server.forwarded


@contextmanager
def tls_proxy(backend_port: int, folder: Path, host: str = "127.0.0.1") -> Iterator[TLSProxy]:
    """Serve HTTPS on a free port of ``host`` in front of ``http://host:backend_port``."""
    cert, key = self_signed_certificate(folder, host)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    server = _TLSServer((host, 0), context, (host, backend_port))
    thread = threading.Thread(target=server.serve_forever, name="tls-proxy", daemon=True)
    thread.start()
    try:
        yield TLSProxy(f"https://{host}:{server.server_port}", server)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
