"""Sending to a real HTTP server on 127.0.0.1, spooling and back-off (no mocks)."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
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


def test_log_file_folder_is_made_on_a_fresh_machine(receiver, tmp_path) -> None:
    # As the README's scheduled task: the log beside a spool that does not exist yet.
    base = tmp_path / "ProgramData" / "zhengban-agent"
    args = ["--server", receiver.url, "--spool", str(base / "spool")]
    assert main([*args, "--log-file", str(base / "agent.log"), "-v"]) == 0
    assert "sent q-0000000001-" in (base / "agent.log").read_text(encoding="utf-8")
    assert len(receiver.requests) == 1


def test_a_run_leaves_the_spool_to_the_run_sending_it(receiver, tmp_path) -> None:
    spool_dir = tmp_path / "spool"
    spool = transport.Spool(str(spool_dir))
    spool.add(b'{"n": 1}', now=1000.0)
    with spool.lock():  # another run is sending
        assert main(["--server", receiver.url, "--spool", str(spool_dir)]) == 3
        report = transport.flush(spool, receiver.url)
        assert report.busy and len(report.pending) == 2
    assert receiver.requests == []
    # Once it is done, the next run sends both, each once, in arrival order.
    assert main(["--server", receiver.url, "--spool", str(spool_dir)]) == 0
    docs = receiver.documents()
    assert len(docs) == 3 and docs[0] == {"n": 1}
    assert docs[1]["deviceid"] == docs[2]["deviceid"]


def _run_with_file_size_limit(args: list, limit: int) -> int:
    """The agent in a child process whose files cannot grow past ``limit`` bytes: writing
    the spool fails with a real EFBIG, as on a full disk."""
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "from zhengban_agent.__main__ import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], timeout=120).returncode


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX resource limits")
def test_a_full_disk_still_delivers(receiver, tmp_path) -> None:
    spool_dir = tmp_path / "spool"
    transport.Spool(str(spool_dir)).add(b'{"n": 1}', now=1000.0)
    args = ["--server", receiver.url, "--spool", str(spool_dir)]
    assert _run_with_file_size_limit(args, 4096) == 0
    docs = receiver.documents()
    assert docs[0] == {"n": 1}
    assert docs[1]["action"] == "inventory"
    assert sorted(os.listdir(spool_dir)) == [transport.LOCK_FILE]  # no .tmp left behind


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX resource limits")
def test_a_full_disk_and_no_server_exits_5_and_leaves_no_tmp(tmp_path) -> None:
    spool_dir = tmp_path / "spool"
    args = ["--server", free_port_url(), "--spool", str(spool_dir), "--timeout", "5"]
    assert _run_with_file_size_limit(args, 4096) == 5
    assert not [n for n in os.listdir(spool_dir) if n.endswith(".tmp")]


def test_retry_after_is_capped_at_backoff_max(receiver, tmp_path) -> None:
    spool = transport.Spool(str(tmp_path))
    spool.add(b"{}", now=0.0)
    receiver.status = 503
    receiver.headers = {"Retry-After": "315360000"}  # ten years
    transport.flush(spool, receiver.url, now=0.0, backoff_max=86400.0)
    assert spool.load_state()["next_attempt"] == 86400.0


def test_a_back_off_recorded_by_a_clock_far_ahead_is_ignored(receiver, tmp_path) -> None:
    spool = transport.Spool(str(tmp_path))
    spool.add(b"{}", now=1000.0)
    spool.save_state({"failures": 1, "next_attempt": 1000.0 + 10 * 365 * 86400})
    report = transport.flush(spool, receiver.url, now=2000.0, backoff_max=86400.0)
    assert (report.deferred, len(report.sent), len(receiver.requests)) == (False, 1, 1)
    # Within the longest back-off it is still honoured.
    spool.add(b"{}", now=2000.0)
    spool.save_state({"failures": 9, "next_attempt": 2000.0 + 86400})
    assert transport.flush(spool, receiver.url, now=2000.0, backoff_max=86400.0).deferred


def test_a_clock_set_back_neither_reorders_nor_drops(tmp_path) -> None:
    spool = transport.Spool(str(tmp_path), max_items=2)
    for n, now in enumerate((5000.0, 1000.0, 100.0)):
        spool.add(json.dumps({"n": n}).encode(), now=now)
    kept = [json.loads(Path(p).read_bytes())["n"] for p in spool.pending()]
    assert kept == [1, 2]  # the oldest arrival was dropped, not the newest


def test_spooled_files_of_an_older_agent_go_first(tmp_path) -> None:
    (tmp_path / "inventory-20261101T000000-000000-1.json").write_bytes(b'{"n": 0}')
    spool = transport.Spool(str(tmp_path))
    spool.add(b'{"n": 1}', now=0.0)
    assert [json.loads(Path(p).read_bytes())["n"] for p in spool.pending()] == [0, 1]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_enrolment_url_keeps_inventories_spooled(receiver, tmp_path, status) -> None:
    spool = tmp_path / "spool"
    receiver.status = status
    assert main(["--server", receiver.url, "--spool", str(spool)]) == 3
    assert len(spooled(spool)) == 1 and not (spool / "failed").exists()
    assert "ask the unit's officer for a new one" in state(spool)["last_error"]


def test_failed_keeps_only_the_newest(receiver, tmp_path) -> None:
    spool = transport.Spool(str(tmp_path))
    receiver.status = 400
    for n in range(transport.FAILED_MAX + 3):
        spool.add(json.dumps({"n": n}).encode(), now=float(n))
        transport.flush(spool, receiver.url, now=float(n))
    failed = sorted((tmp_path / transport.FAILED_DIR).iterdir())
    assert [json.loads(p.read_bytes())["n"] for p in failed] == list(
        range(3, transport.FAILED_MAX + 3)
    )


class RawServer:
    """A TCP server that answers every connection with fixed bytes (not always HTTP)."""

    def __init__(self, answer: bytes) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/inventory"
        self.answer = answer
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.connections += 1
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(
                    next(
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    )
                )
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(self.answer)


def _flush_one_to(answer: bytes, tmp_path):
    """Spool one inventory and flush it to a server answering ``answer``."""
    server = RawServer(answer)
    try:
        spool = transport.Spool(str(tmp_path))
        spool.add(b"{}", now=0.0)
        return server, spool, transport.flush(spool, server.url, now=0.0, timeout=5)
    finally:
        server.sock.close()


def test_an_answer_that_is_not_http_keeps_the_inventory(tmp_path) -> None:
    server, spool, report = _flush_one_to(b"garbage\r\n", tmp_path)
    assert len(report.pending) == 1 and server.connections == 1
    assert report.error.startswith(f"broken answer from {server.url}: BadStatusLine")
    assert spool.load_state()["failures"] == 1


def test_a_2xx_whose_body_is_cut_off_counts_as_sent(tmp_path) -> None:
    _server, _spool, report = _flush_one_to(
        b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"st', tmp_path
    )
    assert (len(report.sent), report.pending) == (1, [])


def test_an_unreadable_ca_file_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--server", "https://127.0.0.1:9/", "--spool", str(tmp_path), "--ca-cert", "/nope"])
    assert exc.value.code == 2
    assert os.listdir(tmp_path) == []  # nothing collected or spooled


def test_a_rejected_inventory_is_kept_whatever_its_number(receiver, tmp_path) -> None:
    # failed/ full of a backlog's q-0000000006..25; the spool then empties and numbers
    # start again at 1: the new rejection is the one kept, not the first dropped.
    spool = transport.Spool(str(tmp_path))
    for n in range(25):
        spool.add(json.dumps({"n": n}).encode(), now=float(n))
    for path in spool.pending():
        spool.move_to_failed(path)
    path = spool.add(b'{"n": "new"}', now=100.0)
    assert os.path.basename(path).startswith("q-0000000001-")
    kept = spool.move_to_failed(path)
    assert os.path.exists(kept)
    failed = list((tmp_path / transport.FAILED_DIR).iterdir())
    assert len(failed) == transport.FAILED_MAX
    assert sorted(
        json.loads(p.read_bytes())["n"] for p in failed if p.name != os.path.basename(kept)
    ) == list(range(6, 25))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX resource limits")
def test_a_full_disk_with_the_server_away_exits_5_even_without_room_for_the_state(
    tmp_path,
) -> None:
    spool_dir = tmp_path / "spool"
    transport.Spool(str(spool_dir)).add(b'{"n": 1}', now=1000.0)
    args = ["--server", free_port_url(), "--spool", str(spool_dir), "--timeout", "5"]
    assert _run_with_file_size_limit(args, 100) == 5
    assert sorted(os.listdir(spool_dir)) == sorted([transport.LOCK_FILE, spooled(spool_dir)[0]])
