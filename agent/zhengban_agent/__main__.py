"""Command line: ``zhengban-agent --server URL`` (or ``--local DIR`` / ``--stdout``).

Runs once per call; schedule it with Task Scheduler, cron or a systemd timer.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import ssl
import sys

from . import AGENT_NAME, __version__, transport
from .inventory import collect_inventory, to_json_bytes

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SPOOLED = 3
EXIT_REJECTED = 4
EXIT_IO = 5

EXIT_CODES_HELP = """\
exit codes:
  0  inventory delivered (and every spooled inventory sent), or written with --local/--stdout
  1  unexpected internal error
  2  bad command line
  3  server unavailable (connection refused, timeout, a broken answer, redirect, 401/403 for
     a refused enrolment URL, 408/429, 5xx), still inside the back-off window, or another run
     is sending: the inventory is kept in the spool and sent by a later run
  4  the server rejected an inventory (other 4xx): it was moved to <spool>/failed/ and not
     retried
  5  the inventory could not be written (--local directory or spool not writable, disk
     full) and could not be sent either

Each run collects a fresh inventory, adds it to the spool, then sends the spool oldest first.
After a failure the next attempt waits --backoff-base seconds, doubling after each further
failure up to --backoff-max; <spool>/state.json records the next allowed attempt.
"""


def default_spool_dir() -> str:
    """Per-OS location: system-wide when running as the service account, else per user."""
    if sys.platform == "win32":
        base = os.environ.get("ProgramData") or r"C:\ProgramData"
        return os.path.join(base, AGENT_NAME, "spool")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if sys.platform == "darwin":
        base = "/Library" if is_root else os.path.expanduser("~/Library")
        return os.path.join(base, "Application Support", AGENT_NAME, "spool")
    if is_root:
        return os.path.join("/var/spool", AGENT_NAME)
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(state, AGENT_NAME, "spool")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=AGENT_NAME,
        description=(
            "zhengban (正版) inventory agent: collects this computer's hardware, operating "
            "system and installed software (Windows registry, dpkg, rpm, macOS applications) "
            "and sends it to the zhengban server in the GLPI-agent JSON inventory format."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    out = parser.add_argument_group("where the inventory goes (at least one)")
    out.add_argument(
        "--server",
        metavar="URL",
        help="enrolment URL given by the zhengban server; the inventory is POSTed to it",
    )
    out.add_argument(
        "--local",
        metavar="DIR",
        help="write the inventory to DIR/<deviceid>.json instead of (or as well as) sending it",
    )
    out.add_argument("--stdout", action="store_true", help="print the inventory JSON")
    send = parser.add_argument_group("sending")
    send.add_argument(
        "--no-compress",
        action="store_true",
        help="send plain application/json instead of zlib (application/x-compress-zlib)",
    )
    send.add_argument(
        "--spool",
        metavar="DIR",
        default=None,
        help=f"spool directory for unsent inventories (default: {default_spool_dir()})",
    )
    send.add_argument(
        "--spool-max",
        type=int,
        default=transport.DEFAULT_SPOOL_MAX,
        metavar="N",
        help="keep at most N unsent inventories, dropping the oldest (default: %(default)s)",
    )
    send.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="network timeout per request (default: %(default)s)",
    )
    send.add_argument(
        "--backoff-base",
        type=float,
        default=transport.DEFAULT_BACKOFF_BASE,
        metavar="SECONDS",
        help="wait after the first failure, doubled after each further one (default: %(default)s)",
    )
    send.add_argument(
        "--backoff-max",
        type=float,
        default=transport.DEFAULT_BACKOFF_MAX,
        metavar="SECONDS",
        help="longest wait between attempts (default: %(default)s)",
    )
    send.add_argument(
        "--force", action="store_true", help="ignore the back-off and contact the server now"
    )
    send.add_argument("--ca-cert", metavar="FILE", help="CA certificate(s) to trust for https")
    send.add_argument(
        "--insecure", action="store_true", help="do not verify the server's https certificate"
    )
    misc = parser.add_argument_group("other")
    misc.add_argument("--tag", help="free text sent as the inventory's tag (e.g. unit code)")
    misc.add_argument(
        "--root",
        metavar="DIR",
        default="/",
        help="inventory the Linux/macOS system mounted at DIR (default: /)",
    )
    misc.add_argument("--log-file", metavar="FILE", help="append log messages to FILE")
    misc.add_argument(
        "-v", "--verbose", action="store_true", help="log progress, not only problems"
    )
    misc.add_argument("--version", action="version", version=f"{AGENT_NAME} {__version__}")
    return parser


def _setup_logging(verbose: bool, log_file: str | None) -> None:
    logger = logging.getLogger("zhengban_agent")
    logger.handlers.clear()
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handler: logging.Handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(fmt)
    logger.addHandler(handler)
    if log_file:
        try:
            # The folder may not exist yet on a fresh machine (the spool beside it is made
            # later): make it, or the scheduled task would fail before doing anything.
            os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            logger.warning("cannot log to %s (%s): logging to stderr only", log_file, exc)
        else:
            file_handler.setFormatter(fmt)
            logger.addHandler(file_handler)


def _write_atomic(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def run(args: argparse.Namespace, ssl_context: ssl.SSLContext | None = None) -> int:
    log = logging.getLogger("zhengban_agent")
    inventory = collect_inventory(args.root)
    for error in inventory.errors:
        log.warning("collector failed: %s", error)
    doc = inventory.to_dict(tag=args.tag)
    payload = to_json_bytes(doc)
    log.info("collected %d software items", len(inventory.softwares))

    if args.local:
        try:
            os.makedirs(args.local, exist_ok=True)
            path = os.path.join(args.local, f"{doc['deviceid']}.json")
            _write_atomic(path, payload)
        except OSError as exc:
            log.error("cannot write inventory to %s: %s", args.local, exc)
            return EXIT_IO
        log.info("inventory written to %s", path)
    if args.stdout:
        sys.stdout.buffer.write(payload + b"\n")
        sys.stdout.flush()
    if not args.server:
        return EXIT_OK

    spool_dir = args.spool or default_spool_dir()
    try:
        spool = transport.Spool(spool_dir, max_items=args.spool_max)
    except OSError as exc:
        log.error("cannot write to spool %s: %s", spool_dir, exc)
        return EXIT_IO
    try:
        spool.add(payload)
        unspooled = None
    except OSError as exc:
        # A full disk must not stop delivery: send what is spooled (which frees space),
        # then this inventory straight from memory.
        log.error("cannot write to spool %s: %s", spool_dir, exc)
        unspooled = payload
    send = {
        "compress": not args.no_compress,
        "timeout": args.timeout,
        "device_id": doc["deviceid"],
        "ssl_context": ssl_context,
    }
    report = transport.flush(
        spool,
        args.server,
        force=args.force,
        backoff_base=args.backoff_base,
        backoff_max=args.backoff_max,
        **send,
    )
    if unspooled is not None:
        if report.pending or report.deferred or report.busy:
            return EXIT_IO
        result = transport.post(args.server, unspooled, **send)
        if result.outcome == transport.SENT:
            log.info("sent the inventory without spooling it (%s)", result.message)
        elif result.outcome == transport.REJECTED:
            log.error("server rejected the inventory (not spooled): %s", result.message)
            return EXIT_REJECTED
        else:
            log.error("the inventory was neither spooled nor sent: %s", result.message)
            return EXIT_IO
    if report.pending:
        return EXIT_SPOOLED
    if report.rejected:
        return EXIT_REJECTED
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.server or args.local or args.stdout):
        parser.error("nothing to do: give --server URL, --local DIR or --stdout")
    if args.spool_max < 1:
        parser.error("--spool-max must be at least 1")
    try:
        ssl_context = transport.make_ssl_context(args.ca_cert, args.insecure)
    except (OSError, ssl.SSLError) as exc:
        parser.error(f"--ca-cert {args.ca_cert}: {exc}")
    _setup_logging(args.verbose, args.log_file)
    try:
        return run(args, ssl_context)
    except KeyboardInterrupt:
        return EXIT_ERROR
    except Exception:  # noqa: BLE001 - last resort: log the traceback, exit non-zero
        logging.getLogger("zhengban_agent").exception("unexpected error")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
