"""``Api``: JSON requests to a real HTTP server on loopback, and openmodule's errors."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from requests.auth import HTTPDigestAuth

from openmodule_host.utils import Api, ApiException, AuthMethod


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        if self.path == "/echo":
            self._send(200, {"method": self.command, "body": body, "auth": self.headers.get("Authorization"),
                             "token": self.headers.get("X-Token")})
        elif self.path == "/text":
            self._send(200, b"not json")
        elif self.path == "/slow":
            time.sleep(1.0)
            self._send(200, {})
        else:
            self._send(int(self.path.strip("/")), {"error": "no"})

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def _send(self, status: int, body: object) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class TokenApi(Api):
    @classmethod
    def _common_headers(cls) -> dict[str, str]:
        return {"X-Token": "t-1"}


def test_requests_send_json_and_return_the_json_answer(server):
    api = TokenApi(server, AuthMethod.basic, verify_ssl=True, user="garage", password="secret")
    for method in ("get", "post", "put", "delete"):
        answer = getattr(api, method)("echo", {"plate": "GARIVO1"})
        assert answer["method"] == method.upper()
        assert answer["body"] == {"plate": "GARIVO1"}
        assert answer["token"] == "t-1"
        assert answer["auth"] == "Basic " + base64.b64encode(b"garage:secret").decode()
    assert api.get("text", json_response=False) == b"not json"


@pytest.mark.parametrize(("path", "status", "retry"), [
    ("503", 503, True), ("500", 500, True), ("412", 412, True), ("404", 404, False), ("text", 400, False),
])
def test_a_failure_raises_api_exception_with_the_status_and_whether_to_retry(server, path, status, retry):
    api = Api(server, AuthMethod.none, verify_ssl=True)
    with pytest.raises(ApiException) as raised:
        api.get(path)
    assert (raised.value.status, raised.value.retry) == (status, retry)
    assert str(raised.value).startswith(f"Api Error {status}: ")


def test_a_timeout_is_408_and_a_refused_connection_400(server):
    api = Api(server, "none", verify_ssl=True)
    with pytest.raises(ApiException, match=r"Api Error 408: Timeout after 0\.2s") as raised:
        api.get("slow", timeout=0.2)
    assert raised.value.retry
    with pytest.raises(ApiException) as refused:
        Api("http://127.0.0.1:9/", "none", verify_ssl=True).get("echo")
    assert (refused.value.status, refused.value.retry) == (400, False)


def test_the_auth_methods():
    assert isinstance(Api.get_auth(AuthMethod.digest, "u", "p"), HTTPDigestAuth)
    assert Api.get_auth("none", "u", "p") is None
