"""Sending to a real HTTP server on 127.0.0.1, spooling and back-off (no mocks)."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import zlib
from pathlib import Path

import pytest

from zhengban_agent import transport
from zhengban_agent.__main__ import main


class Receiver:
    """A real HTTP server in a thread that records every POST and answers with ``status``."""

    def __init__(self) -> None:
        self.requests: list = []
        self.status = 200
        self.headers: dict = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.requests.append(
                    (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                payload = b'{"status": "ok"}' if receiver.status < 300 else b"bad inventory"
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/front/inventory.php?e=U1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def documents(self) -> list:
        out = []
        for _, headers, body in self.requests:
            if headers["content-type"] == transport.CONTENT_TYPE_ZLIB:
                body = zlib.decompress(body)
            out.append(json.loads(body))
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def free_port_url() -> str:
    """A URL on which nothing listens: bind an ephemeral port, then release it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/inventory"


def spooled(spool: Path) -> list:
    return sorted(p.name for p in spool.glob("*.json") if p.name != transport.STATE_FILE)


def state(spool: Path) -> dict:
    return json.loads((spool / transport.STATE_FILE).read_text())


def test_post_compressed_and_plain(receiver) -> None:
    payload = json.dumps({"action": "inventory", "deviceid": "d1"}).encode()
    result = transport.post(receiver.url, payload, device_id="d1")
    assert (result.outcome, result.status) == (transport.SENT, 200)
    result = transport.post(receiver.url, payload, compress=False)
    assert result.outcome == transport.SENT
    (path1, h1, body1), (path2, h2, body2) = receiver.requests
    assert path1 == "/front/inventory.php?e=U1"
    assert h1["content-type"] == "application/x-compress-zlib"
    assert h1["glpi-agent-id"] == "d1"
    assert h1["user-agent"].startswith("zhengban-agent/")
    assert zlib.decompress(body1) == payload
    assert h2["content-type"] == "application/json"
    assert body2 == payload


def test_cli_sends_the_same_json_it_writes_locally(receiver, tmp_path) -> None:
    local = tmp_path / "local"
    code = main(
        ["--server", receiver.url, "--spool", str(tmp_path / "spool"), "--local", str(local)]
    )
    assert code == 0
    (written,) = list(local.glob("*.json"))
    (sent,) = receiver.documents()
    assert sent == json.loads(written.read_text(encoding="utf-8"))
    assert written.name == sent["deviceid"] + ".json"
    assert receiver.requests[0][1]["content-type"] == "application/x-compress-zlib"
    assert spooled(tmp_path / "spool") == []


def test_server_down_then_back(receiver, tmp_path) -> None:
    spool = tmp_path / "spool"
    down = free_port_url()
    assert main(["--server", down, "--spool", str(spool), "--timeout", "5"]) == 3
    assert len(spooled(spool)) == 1
    st = state(spool)
    assert st["failures"] == 1
    assert "cannot reach" in st["last_error"]
    # Back-off: base 300 s plus at most 10 % jitter.
    assert 300 <= st["next_attempt"] - st["last_attempt"] <= 330

    # The server is back, but the back-off window has not passed: nothing is sent.
    assert main(["--server", receiver.url, "--spool", str(spool)]) == 3
    assert receiver.requests == []
    assert len(spooled(spool)) == 2

    # Once the window has passed, the spooled inventories go first, oldest first.
    first, second = spooled(spool)
    st["next_attempt"] = st["last_attempt"] - 1
    (spool / transport.STATE_FILE).write_text(json.dumps(st))
    assert main(["--server", receiver.url, "--spool", str(spool)]) == 0
    assert len(receiver.requests) == 3
    assert spooled(spool) == []
    assert state(spool)["failures"] == 0
    docs = receiver.documents()
    assert docs[0]["deviceid"] == docs[1]["deviceid"] == docs[2]["deviceid"]


def test_force_ignores_backoff(receiver, tmp_path) -> None:
    spool = tmp_path / "spool"
    assert main(["--server", free_port_url(), "--spool", str(spool)]) == 3
    assert main(["--server", receiver.url, "--spool", str(spool), "--force"]) == 0
    assert len(receiver.requests) == 2


def test_5xx_keeps_spool_and_doubles_backoff(receiver, tmp_path) -> None:
    spool = transport.Spool(str(tmp_path))
    spool.add(b'{"a": 1}', now=1000.0)
    receiver.status = 503
    report = transport.flush(spool, receiver.url, now=1000.0)
    assert report.error == "HTTP 503: bad inventory"
    assert len(report.pending) == 1
    st = spool.load_state()
    assert st["failures"] == 1 and 1300.0 <= st["next_attempt"] <= 1330.0
    report = transport.flush(spool, receiver.url, now=1100.0)
    assert report.deferred and len(receiver.requests) == 1
    report = transport.flush(spool, receiver.url, now=2000.0)
    st = spool.load_state()
    assert st["failures"] == 2 and 2600.0 <= st["next_attempt"] <= 2660.0
    assert len(receiver.requests) == 2


def test_backoff_delays() -> None:
    delays = [transport.backoff_delay(n, 300, 86400, jitter=0) for n in range(0, 11)]
    assert delays == [0, 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 76800, 86400]


def test_4xx_is_dropped_to_failed_and_not_retried(receiver, tmp_path) -> None:
    spool = tmp_path / "spool"
    receiver.status = 400
    assert main(["--server", receiver.url, "--spool", str(spool)]) == 4
    failed = sorted(p.name for p in (spool / "failed").iterdir())
    assert len(failed) == 1
    assert spooled(spool) == []
    receiver.status = 200
    assert main(["--server", receiver.url, "--spool", str(spool)]) == 0
    assert len(receiver.requests) == 2  # the rejected one was not sent again
    assert sorted(p.name for p in (spool / "failed").iterdir()) == failed


def test_429_retry_after_is_honoured(receiver, tmp_path) -> None:
    spool = transport.Spool(str(tmp_path))
    spool.add(b"{}", now=0.0)
    receiver.status = 429
    receiver.headers = {"Retry-After": "7200"}
    report = transport.flush(spool, receiver.url, now=0.0)
    assert len(report.pending) == 1
    assert spool.load_state()["next_attempt"] == 7200.0


def test_redirect_is_not_followed(receiver, tmp_path) -> None:
    spool = transport.Spool(str(tmp_path))
    spool.add(b"{}", now=0.0)
    receiver.status = 302
    receiver.headers = {"Location": "http://elsewhere.example/"}
    report = transport.flush(spool, receiver.url, now=0.0)
    assert report.error == (
        "HTTP 302: redirected to http://elsewhere.example/; check the --server URL"
    )
    assert len(report.pending) == 1 and len(receiver.requests) == 1


def test_spool_keeps_at_most_max_items(tmp_path) -> None:
    spool = transport.Spool(str(tmp_path), max_items=3)
    for i in range(5):
        spool.add(json.dumps({"n": i}).encode(), now=1000.0 + i)
    kept = [json.loads(Path(p).read_bytes())["n"] for p in spool.pending()]
    assert kept == [2, 3, 4]


def test_unwritable_spool_exits_5(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["--server", "http://127.0.0.1:9/", "--spool", str(blocker / "spool")]) == 5
    assert os.path.isfile(blocker)
