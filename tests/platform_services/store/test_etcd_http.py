"""The etcd store's HTTPS pool against a real TLS server on 127.0.0.1 that misbehaves on purpose: a pooled
connection the server closed while idle is not reused (so a write is not reported "outcome unknown" for it),
and the failures are told apart: not sent (connect) from sent without an answer."""

import http.server
import json
import socket
import ssl
import threading

import pytest

from platform_services.store.etcd_http import ClientClosed, HttpsPool, NoAnswer, NotSent
from platform_services.store.etcd_local import make_pki


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the handler closes

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(json.loads(body))
        if self.server.mode == "hang up":
            self.close_connection = True  # read the request, answer nothing
            return
        answer = json.dumps({"n": len(self.server.requests)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        # "close after answering": keep-alive announced, then the connection dropped, as a server restarting
        # or timing out idle connections does
        self.close_connection = self.server.mode == "close after answering"

    def log_message(self, *args):
        pass


@pytest.fixture
def tls(tmp_path):
    pki = make_pki(tmp_path / "pki")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pki["server_cert"], pki["server_key"])
    server_context.load_verify_locations(pki["ca"])
    server_context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    server.requests, server.mode, server.connections = [], "keep alive", 0
    accept = server.get_request

    def counting_accept():
        server.connections += 1
        return accept()

    server.get_request = counting_accept
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(pki["ca"]))
    client_context.load_cert_chain(pki["client_cert"], pki["client_key"])
    pool = HttpsPool(client_context, connect_timeout_s=2)
    yield server, pool, f"https://127.0.0.1:{server.server_address[1]}"
    pool.close()
    server.shutdown()
    server.server_close()


def test_a_connection_is_kept_alive_and_reused(tls):
    server, pool, url = tls
    for n in (1, 2, 3):
        assert pool.post(url, "/v3/kv/range", {"n": n}, timeout_s=5) == (200, json.dumps({"n": n}).encode())
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused(tls):
    server, pool, url = tls
    server.mode = "close after answering"
    for n in (1, 2, 3):  # each would fail after sending (NoAnswer) if the closed connection were reused
        assert pool.post(url, "/v3/kv/txn", {"n": n}, timeout_s=5)[0] == 200
    assert server.connections == 3 and len(server.requests) == 3


def test_not_sent_and_no_answer_are_told_apart(tls):
    server, pool, url = tls
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(NotSent):
        pool.post(dead, "/v3/kv/txn", {}, timeout_s=5)
    server.mode = "hang up"
    with pytest.raises(NoAnswer):
        pool.post(url, "/v3/kv/txn", {"n": 1}, timeout_s=5)
    assert server.requests == [{"n": 1}]  # it was sent: a write's outcome is unknown
    pool.close()
    with pytest.raises(ClientClosed):
        pool.post(url, "/v3/kv/range", {}, timeout_s=5)
