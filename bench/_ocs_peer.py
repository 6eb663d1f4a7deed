"""The real OCS Inventory server (shared/peers/ocs/) measured from a zhengban benchmark run.

Used by `bench/ingest.py --ocs`; not a benchmark of its own (the leading underscore keeps
it out of `bench/run.py --list`). Everything goes through the peer's own scripts:
`setup.sh` installs, starts, resets and stops the server, `bench_ocs.py` sends the
inventories and checks the rows in MariaDB. This module only sequences them, proves that
the peer got byte-identical inputs (`bench_ocs.py --dump` against our own bodies) and
collects the figures.

Machine specifics handled here rather than in the peer's folder (which we do not own):
- On this kind of machine MariaDB is a service started before the session, configured by
  `/etc/mysql/my.cnf` alone (no `mariadb.conf.d/`), while `setup.sh` refuses to start
  unless `mariadb.conf.d/50-server.cnf` says `bind-address = 127.0.0.1`. When that file is
  missing and the server's effective options (`my_print_defaults --mysqld`) bind to
  127.0.0.1 only, a stub stating exactly that is written so the guard passes; any other
  bind address is refused. `setup.sh` still checks the listening sockets after start.
- A MariaDB that was already running is left running at the end (it is the machine's, not
  ours); Apache, which only the peer uses, is always stopped. A MariaDB that we started
  is stopped too, which is what `setup.sh stop` does.
- Only one run drives the peer at a time (a lock file in the peer's work dir), because
  `setup.sh reset-db` would wipe another run's database in the middle of its measurement.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The inputs both products get: bench_ocs.py's defaults, passed explicitly so that a change
# of its defaults cannot silently make the two sides differ.
SEED = 42
VARY = 0.10

GUARD_CNF = Path("/etc/mysql/mariadb.conf.d/50-server.cnf")
APACHE_ERROR_LOG = Path("/var/log/apache2/error.log")
# What the peer's README names as the cause of its lost devices and rows at C>1.
ERROR_LOG_PATTERNS = {
    "deadlocks": "Deadlock found",
    "duplicate_entries": "Duplicate entry",
    "null_ids": "cannot be null",
}


class PeerError(RuntimeError):
    pass


def digests(xmls: list[bytes]) -> list[str]:
    return [hashlib.sha256(x).hexdigest() for x in xmls]


class OcsPeer:
    def __init__(self, peer_dir: Path) -> None:
        self.dir = peer_dir
        self.port = int(os.environ.get("OCS_PORT", "18080"))
        self.work = Path(os.environ.get("OCS_WORK", "/tmp/peer_ocs"))
        self.url = f"http://127.0.0.1:{self.port}/ocsinventory"
        self.template = self.work / "template.xml"
        self.log_path = self.work / "zb-ingest-setup.log"
        self._lock_fh = None
        self._mariadb_was_up = False

    # --- lifecycle -------------------------------------------------------------------

    def prepare(self) -> dict:
        """Install (first time only) or start the peer, make sure the agent template exists,
        then park Apache so that it holds no CPU while zhengban is measured."""
        self.work.mkdir(parents=True, exist_ok=True)
        self._lock()
        self._mariadb_was_up = self._mariadb_up()
        self._bind_guard()
        started = time.perf_counter()
        if self.installed():
            action = "start"
            self._sh("start")
        else:
            # The full install: apt packages, Apache on 127.0.0.1 only, schema, template from
            # a real ocsinventory-agent run, and the agent's smoke test against the server.
            action = "install"
            self._sh()
        if not self.template.is_file() or self.template.stat().st_size == 0:
            raise PeerError(f"setup.sh left no agent template at {self.template}")
        self._stop_apache()
        return {
            "setup": action,
            "setup_seconds": round(time.perf_counter() - started, 1),
            "versions": self._versions(),
        }

    def close(self) -> None:
        try:
            if self._lock_fh is not None:
                self._stop_apache()
                if not self._mariadb_was_up:
                    subprocess.run(["service", "mariadb", "stop"], capture_output=True)
        finally:
            if self._lock_fh is not None:
                self._lock_fh.close()
                self._lock_fh = None

    def installed(self) -> bool:
        status = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Status}", "ocsinventory-server"],
            capture_output=True,
            text=True,
        ).stdout
        return (
            status == "install ok installed"
            and Path("/etc/apache2/sites-enabled/ocs-bench.conf").exists()
            and self.template.is_file()
            and self.template.stat().st_size > 0
        )

    # --- one measured run ------------------------------------------------------------

    def run(self, n: int, clients: int, prefix: str, template: Path, ours: list[str]) -> dict:
        """Fresh DB, then bench_ocs.py's first and repeat phases with its row check.

        `ours` are the SHA-256 digests of the XML documents zhengban was sent under the same
        prefix; the peer's own generator must produce exactly those, or the ratio would
        compare different inputs."""
        same = self._inputs_identical(n, clients, prefix, template, ours)
        if not same:
            raise PeerError(f"OCS inputs for prefix {prefix!r} differ from zhengban's")
        self._sh("reset-db")
        with tempfile.TemporaryDirectory(prefix="zb-ocs-") as tmp:
            out = Path(tmp) / "ocs.jsonl"
            proc = subprocess.run(
                [*self._bench_cmd(n, clients, prefix, template), "--json", str(out)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for line in proc.stdout.splitlines():
                print(f"  [ocs C={clients}] {line}", flush=True)
            if not out.exists():
                raise PeerError(f"bench_ocs.py wrote no result (exit {proc.returncode})")
            result = json.loads(out.read_text().splitlines()[-1])
        # bench_ocs.py exits 1 when requests failed or its row check found a mismatch; that
        # is a measured outcome of the peer (its README documents it at C=4), not our error.
        result["exit_code"] = proc.returncode
        result["inputs_identical"] = same
        result["orphan_software_rows"] = self._orphans()
        result["error_log"] = self._error_log_counts()
        return result

    # --- helpers ---------------------------------------------------------------------

    def _bench_cmd(self, n: int, clients: int, prefix: str, template: Path) -> list[str]:
        # Same interpreter as zhengban's side, so ElementTree serialises identically.
        return [
            sys.executable,
            str(self.dir / "bench_ocs.py"),
            str(n),
            str(clients),
            "--url",
            self.url,
            "--template",
            str(template),
            "--prefix",
            prefix,
            "--seed",
            str(SEED),
            "--vary",
            str(VARY),
        ]

    def _inputs_identical(
        self, n: int, clients: int, prefix: str, template: Path, ours: list[str]
    ) -> bool:
        with tempfile.TemporaryDirectory(prefix="zb-ocs-dump-") as tmp:
            subprocess.run(
                [*self._bench_cmd(n, clients, prefix, template), "--dump", tmp],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            files = sorted(Path(tmp).glob(f"{prefix}-*.xml"))
            theirs = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
        return theirs == ours

    def _sh(self, *args: str) -> None:
        with self.log_path.open("a") as log:
            log.write(f"\n=== setup.sh {' '.join(args) or 'install'} ({time.ctime()}) ===\n")
            log.flush()
            code = subprocess.call(
                ["bash", str(self.dir / "setup.sh"), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "OCS_PORT": str(self.port), "OCS_WORK": str(self.work)},
            )
        if code != 0:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-15:])
            raise PeerError(f"setup.sh {' '.join(args)} failed (exit {code}):\n{tail}")

    def _lock(self) -> None:
        self._lock_fh = (self.work / "zb-ingest.lock").open("w")
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("waiting for another run that drives the OCS peer…", flush=True)
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX)

    @staticmethod
    def _mariadb_up() -> bool:
        try:
            return (
                subprocess.run(["mysqladmin", "ping"], capture_output=True, timeout=10).returncode
                == 0
            )
        except (OSError, subprocess.TimeoutExpired):
            return False

    @staticmethod
    def _bind_guard() -> None:
        """See the module docstring: satisfy setup.sh's bind-address check truthfully."""
        if GUARD_CNF.exists():
            return
        try:
            options = subprocess.run(
                ["my_print_defaults", "--mysqld"], capture_output=True, text=True, check=True
            ).stdout.split()
        except (OSError, subprocess.CalledProcessError):
            return  # no MariaDB yet: setup.sh's apt install brings the stock file
        binds = [o.split("=", 1)[1] for o in options if o.startswith("--bind-address=")]
        if binds[-1:] != ["127.0.0.1"]:
            raise PeerError(f"MariaDB's bind-address is {binds or 'unset'}, not 127.0.0.1")
        GUARD_CNF.parent.mkdir(parents=True, exist_ok=True)
        GUARD_CNF.write_text(
            "# Written by zhengban bench/_ocs_peer.py: this machine's MariaDB is configured by\n"
            "# /etc/mysql/my.cnf alone (bind-address = 127.0.0.1, which does not read this\n"
            "# directory); the line below only restates it for shared/peers/ocs/setup.sh.\n"
            "[mysqld]\nbind-address = 127.0.0.1\n"
        )

    @staticmethod
    def _stop_apache() -> None:
        subprocess.run(["service", "apache2", "stop"], capture_output=True)

    @staticmethod
    def _mysql(sql: str) -> str:
        env = {**os.environ, "MYSQL_PWD": "ocs"}
        proc = subprocess.run(
            ["mysql", "-N", "-B", "-uocs", "ocsweb", "-e", sql],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode:
            raise PeerError(f"mysql failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def _orphans(self) -> int:
        # The DB is fresh per run, so every orphan comes from this run.
        return int(
            self._mysql(
                "SELECT COUNT(*) FROM software s LEFT JOIN hardware h ON h.ID = s.HARDWARE_ID "
                "WHERE h.ID IS NULL"
            )
        )

    @staticmethod
    def _error_log_counts() -> dict:
        # setup.sh reset-db empties the log, so these lines belong to this run.
        try:
            lines = APACHE_ERROR_LOG.read_text(errors="replace").splitlines()
        except OSError:
            return {}
        counts = {k: sum(1 for x in lines if p in x) for k, p in ERROR_LOG_PATTERNS.items()}
        return {"lines": len(lines), **counts}

    @staticmethod
    def _versions() -> dict:
        out = {}
        for pkg in ("ocsinventory-server", "ocsinventory-agent", "apache2", "mariadb-server"):
            out[pkg] = subprocess.run(
                ["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True
            ).stdout
        return out
