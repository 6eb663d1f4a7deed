"""Sending inventories, with a spool for when the server cannot be reached.

Every inventory is first written to the spool directory, then the spool is flushed oldest
first. Outcomes per inventory:

* 2xx: sent, removed from the spool, back-off reset;
* 4xx (except 401, 403, 408 and 429): the server will never accept this document; it is
  moved to ``failed/`` (the newest ``FAILED_MAX`` kept, for diagnosis) and the next one is
  tried;
* connection refused, timeout, a broken answer, 3xx, 401/403 (the enrolment URL was revoked
  or expired: nothing the document can change), 408, 429, 5xx: the server is unavailable;
  the document stays spooled, flushing stops, and the next attempt is not made before an
  exponentially growing back-off (recorded in ``state.json``) has passed.

Only one run flushes a spool at a time (a lock file), so runs that overlap (a slow server,
a manual run beside the scheduled one) never send an inventory twice. Spooled files are
numbered in arrival order, so a clock set back does not reorder or drop them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import random
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator

from . import AGENT_NAME, __version__

log = logging.getLogger("zhengban_agent")

STATE_FILE = "state.json"
FAILED_DIR = "failed"
SPOOL_SUFFIX = ".json"
CONTENT_TYPE_ZLIB = "application/x-compress-zlib"
CONTENT_TYPE_JSON = "application/json"
DEFAULT_BACKOFF_BASE = 300.0  # seconds before the first retry
DEFAULT_BACKOFF_MAX = 24 * 3600.0  # never wait longer than a day
DEFAULT_SPOOL_MAX = 50  # inventories kept while the server is away (oldest dropped first)
FAILED_MAX = 20  # rejected inventories kept for diagnosis (oldest dropped first)
LOCK_FILE = "lock"
SPOOL_PREFIX = "q-"  # q-<arrival number>-<UTC time>-<pid>.json; sorts after older names
STALE_TMP_SECONDS = 3600.0  # a .tmp this old is a write that failed or was cut off

SENT = "sent"
REJECTED = "rejected"
UNAVAILABLE = "unavailable"


@dataclass
class SendResult:
    outcome: str  # SENT | REJECTED | UNAVAILABLE
    status: int | None = None
    message: str = ""
    retry_after: float | None = None


@dataclass
class FlushReport:
    sent: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    deferred: bool = False  # nothing attempted: still inside the back-off window
    busy: bool = False  # nothing attempted: another run holds the spool
    error: str = ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would turn a redirected POST into a body-less GET; report the 3xx instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def encode_body(payload: bytes, compress: bool) -> tuple[bytes, str]:
    if compress:
        return zlib.compress(payload, 6), CONTENT_TYPE_ZLIB
    return payload, CONTENT_TYPE_JSON


def post(
    url: str,
    payload: bytes,
    *,
    compress: bool = True,
    timeout: float = 60.0,
    device_id: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> SendResult:
    """POST one inventory document and classify the outcome (never raises for HTTP/network)."""
    body, content_type = encode_body(payload, compress)
    headers = {
        "Content-Type": content_type,
        "User-Agent": f"{AGENT_NAME}/{__version__}",
    }
    if device_id:
        # GLPI agents identify themselves with this header; the server may key on it.
        headers["GLPI-Agent-ID"] = device_id
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    handlers: list[Any] = [_NoRedirect()]
    if ssl_context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl_context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = response.status
            try:
                response.read()
            except (http.client.HTTPException, OSError):
                # The status line said the server took it; only its short answer was cut
                # off. Sending it again would store the same inventory twice.
                pass
            return SendResult(SENT, status, f"HTTP {status}")
    except urllib.error.HTTPError as exc:
        status = exc.code
        detail = _error_body(exc)
        if status in (401, 403):
            return SendResult(
                UNAVAILABLE,
                status,
                f"HTTP {status}: {detail}; the enrolment URL was refused, ask the unit's "
                "officer for a new one (inventories stay spooled)",
            )
        if 400 <= status < 500 and status not in (408, 429):
            return SendResult(REJECTED, status, f"HTTP {status}: {detail}")
        retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        if 300 <= status < 400:
            location = exc.headers.get("Location") if exc.headers else None
            detail = f"redirected to {location}; check the --server URL"
        return SendResult(UNAVAILABLE, status, f"HTTP {status}: {detail}", retry_after)
    except (urllib.error.URLError, OSError, socket.timeout) as exc:
        reason = getattr(exc, "reason", exc)
        return SendResult(UNAVAILABLE, None, f"cannot reach {url}: {reason}")
    except http.client.HTTPException as exc:
        # Not an HTTP answer (a proxy's or another service's), or one cut off before its
        # status: the inventory may not have arrived, so it stays spooled.
        return SendResult(
            UNAVAILABLE, None, f"broken answer from {url}: {type(exc).__name__}: {exc}"
        )


def _error_body(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read(500).decode("utf-8", errors="replace").strip() or str(exc.reason)
    except Exception:  # noqa: BLE001 - the body is only used in a log message
        return str(exc.reason)


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


class SpoolBusy(Exception):
    """Another run holds the spool's lock (it is sending)."""


_SEQ_RE = re.compile(r"^q-(\d+)-")


class Spool:
    """A directory of inventories waiting to be sent, plus the back-off state."""

    def __init__(self, directory: str, max_items: int = DEFAULT_SPOOL_MAX) -> None:
        self.directory = directory
        self.max_items = max_items
        os.makedirs(directory, exist_ok=True)
        self._remove_stale_tmp()

    # -- files ----------------------------------------------------------------------------

    def add(self, payload: bytes, now: float | None = None) -> str:
        """Store a document atomically; return its path. Names sort in arrival order: they
        carry a number one above the highest spooled, not the clock's time alone."""
        now = time.time() if now is None else now
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        seq = self._last_seq() + 1
        # The process id keeps names apart when two runs add at the same moment (the same
        # number then: either may go first).
        path = os.path.join(
            self.directory, f"{SPOOL_PREFIX}{seq:010d}-{stamp}-{os.getpid()}{SPOOL_SUFFIX}"
        )
        while os.path.exists(path):
            seq += 1
            path = os.path.join(
                self.directory, f"{SPOOL_PREFIX}{seq:010d}-{stamp}-{os.getpid()}{SPOOL_SUFFIX}"
            )
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError:
            # A full disk: leave no half-written file behind.
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        self._trim()
        return path

    def pending(self) -> list[str]:
        names = sorted(
            n for n in os.listdir(self.directory) if n.endswith(SPOOL_SUFFIX) and n != STATE_FILE
        )
        return [os.path.join(self.directory, n) for n in names]

    def _last_seq(self) -> int:
        last = 0
        for name in os.listdir(self.directory):
            match = _SEQ_RE.match(name)
            if match:
                last = max(last, int(match.group(1)))
        return last

    def _trim(self) -> None:
        items = self.pending()
        for path in items[: max(0, len(items) - self.max_items)]:
            log.warning("spool holds more than %d inventories: dropping %s", self.max_items, path)
            try:
                os.remove(path)
            except FileNotFoundError:
                pass  # sent meanwhile by another run
            except OSError as exc:  # Windows: another run is reading it; dropped next time
                log.warning("cannot drop %s now: %s", path, exc)

    def _remove_stale_tmp(self) -> None:
        now = time.time()
        for folder in (self.directory, os.path.join(self.directory, FAILED_DIR)):
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                if not name.endswith(".tmp"):
                    continue
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    if now - os.stat(path).st_mtime > STALE_TMP_SECONDS:
                        os.remove(path)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the spool for one run's flush; SpoolBusy if another run holds it. The
        operating system drops the lock when its holder ends, even killed."""
        fh = open(os.path.join(self.directory, LOCK_FILE), "a+b")
        try:
            try:
                if os.name == "nt":
                    import msvcrt

                    fh.seek(0)
                    msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
                else:
                    import fcntl

                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise SpoolBusy(self.directory) from None
            try:
                yield
            finally:
                if os.name == "nt":
                    import msvcrt

                    # Windows may release a lock some time after its file is closed.
                    fh.seek(0)
                    with contextlib.suppress(OSError):
                        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        finally:
            fh.close()  # closing releases an flock

    def move_to_failed(self, path: str) -> str:
        failed = os.path.join(self.directory, FAILED_DIR)
        os.makedirs(failed, exist_ok=True)
        target = os.path.join(failed, os.path.basename(path))
        os.replace(path, target)
        # Oldest first by when they were moved here (spool numbers restart once the spool
        # empties, so names do not tell); the one just moved is always kept.
        others = []
        for name in os.listdir(failed):
            other = os.path.join(failed, name)
            if name.endswith(SPOOL_SUFFIX) and other != target:
                with contextlib.suppress(OSError):
                    others.append((os.stat(other).st_mtime, name))
        others.sort()
        for _mtime, name in others[: max(0, len(others) + 1 - FAILED_MAX)]:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(failed, name))
        with contextlib.suppress(OSError):
            os.utime(target)  # moved now: the newest
        return target

    # -- back-off state -------------------------------------------------------------------

    @property
    def state_path(self) -> str:
        return os.path.join(self.directory, STATE_FILE)

    def load_state(self) -> dict[str, Any]:
        try:
            with open(self.state_path, encoding="utf-8") as fh:
                state = json.load(fh)
            return state if isinstance(state, dict) else {}
        except (OSError, ValueError):
            return {}

    def save_state(self, state: dict[str, Any]) -> None:
        """Write the back-off state; on a full disk, log it and go on without (the next
        run then tries the server again at once, which is harmless)."""
        tmp = self.state_path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(state, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.state_path)
        except OSError as exc:
            log.warning("cannot record the back-off state in %s: %s", self.state_path, exc)
            with contextlib.suppress(OSError):
                os.remove(tmp)


def backoff_delay(
    failures: int,
    base: float = DEFAULT_BACKOFF_BASE,
    maximum: float = DEFAULT_BACKOFF_MAX,
    jitter: float = 0.1,
) -> float:
    """base * 2^(failures-1), capped; a little jitter so that the thousands of machines that
    lost the server together do not all come back in the same second."""
    if failures <= 0:
        return 0.0
    delay = min(maximum, base * (2 ** min(failures - 1, 32)))
    if jitter:
        delay *= 1 + random.uniform(0, jitter)
    return min(delay, maximum * (1 + jitter))


def flush(
    spool: Spool,
    url: str,
    *,
    compress: bool = True,
    timeout: float = 60.0,
    device_id: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    now: float | None = None,
    force: bool = False,
    backoff_base: float = DEFAULT_BACKOFF_BASE,
    backoff_max: float = DEFAULT_BACKOFF_MAX,
) -> FlushReport:
    """Send the spooled inventories oldest first, honouring the back-off state. One run at
    a time: while another holds the spool, this one sends nothing (``report.busy``)."""
    now = time.time() if now is None else now
    try:
        with spool.lock():
            return _flush_locked(
                spool,
                url,
                compress=compress,
                timeout=timeout,
                device_id=device_id,
                ssl_context=ssl_context,
                now=now,
                force=force,
                backoff_base=backoff_base,
                backoff_max=backoff_max,
            )
    except SpoolBusy:
        log.warning("another run is sending the spool %s; this one leaves it", spool.directory)
        return FlushReport(pending=spool.pending(), busy=True, error="spool busy")


def _flush_locked(
    spool: Spool,
    url: str,
    *,
    compress: bool,
    timeout: float,
    device_id: str | None,
    ssl_context: ssl.SSLContext | None,
    now: float,
    force: bool,
    backoff_base: float,
    backoff_max: float,
) -> FlushReport:
    report = FlushReport()
    state = spool.load_state()
    try:
        next_attempt = float(state.get("next_attempt", 0) or 0)
    except (TypeError, ValueError):
        next_attempt = 0.0
    if next_attempt > now + backoff_max * 1.1 + 1:
        # Further away than any back-off this agent sets: the clock was ahead when it was
        # recorded (and has been set right since). Waiting for it could take years.
        log.warning("back-off recorded beyond --backoff-max (the clock moved back): ignored")
        next_attempt = 0.0
    items = spool.pending()
    if not force and now < next_attempt:
        report.deferred = True
        report.pending = items
        report.error = state.get("last_error", "")
        log.info(
            "server unavailable before; next attempt not before %s (%d spooled)",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(next_attempt)),
            len(items),
        )
        return report
    for index, path in enumerate(items):
        try:
            with open(path, "rb") as fh:
                payload = fh.read()
        except FileNotFoundError:
            continue  # trimmed by a run adding meanwhile
        result = post(
            url,
            payload,
            compress=compress,
            timeout=timeout,
            device_id=device_id,
            ssl_context=ssl_context,
        )
        if result.outcome == SENT:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            report.sent.append(path)
            log.info("sent %s (%s)", os.path.basename(path), result.message)
            continue
        if result.outcome == REJECTED:
            kept = spool.move_to_failed(path)
            report.rejected.append(kept)
            log.error("server rejected %s: %s; kept in %s", path, result.message, kept)
            continue
        # Unavailable: stop here, keep this and the later ones for the next run.
        report.pending = items[index:]
        report.error = result.message
        failures = int(state.get("failures", 0) or 0) + 1
        delay = backoff_delay(failures, backoff_base, backoff_max)
        if result.retry_after is not None:
            # Honoured, but never past --backoff-max: a wrong header must not silence the
            # agent for years.
            delay = max(delay, min(result.retry_after, backoff_max))
        spool.save_state(
            {
                "failures": failures,
                "next_attempt": now + delay,
                "last_error": result.message,
                "last_attempt": now,
            }
        )
        log.warning(
            "%s; %d inventories spooled, next attempt in %d s",
            result.message,
            len(report.pending),
            int(delay),
        )
        return report
    if state.get("failures") or state.get("next_attempt"):
        spool.save_state({"failures": 0, "next_attempt": 0, "last_success": now})
    return report


def make_ssl_context(ca_file: str | None = None, insecure: bool = False) -> ssl.SSLContext | None:
    if not ca_file and not insecure:
        return None
    context = ssl.create_default_context(cafile=ca_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
