"""The lab: a PredictIQ-shaped platform on one machine, for `cockpit demo` and `cockpit lab up`.

`Lab(dir).start()` brings up, in order: PostgreSQL and Redis (throwaway servers, or the ones
given by URL), a `predictiq` database owned by an app role `predictiq` with the schema and seed
data, the API simulator (connecting as the app role, traffic at ~20 rps, cache warmed), TLS
endpoints (a switchable one for the API's name, used by the cert drills), the Kubernetes
simulator with deployment `predictiq-api`, then DIR/kubeconfig, DIR/config.toml, DIR/env and a
drill control server described in DIR/lab.json. `stop()` clears the drills and tears everything
down in reverse; it is safe to call twice and after a failed start.

On servers given by URL the lab's database and role get a unique suffix and are dropped at stop.
"""

from __future__ import annotations

import math
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from cockpit.lab import labfiles
from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.certswitch import SwitchableTlsEndpoint
from cockpit.lab.rows import one_row
from cockpit.lab.schema import install_schema, install_statements_extension

if TYPE_CHECKING:  # imported lazily, where each part is started
    from cockpit.lab.control import ControlServer
    from cockpit.lab.drills import DrillRunner
    from cockpit.lab.kubesim.sim import KubeSim
    from cockpit.lab.services import ThrowawayPostgres, ThrowawayRedis
    from cockpit.lab.tlssim import TlsLab

API_NAME = "api.predictiq.test"  # the switchable endpoint: cert drills act on this entry
WWW_NAME = "www.predictiq.test"  # a steady valid endpoint from the TLS lab
NAMESPACE = "predictiq"
DEPLOYMENT = "predictiq-api"


def with_user_db(url: str, user: str, dbname: str, password: str | None = None) -> str:
    """The same server as `url`, as another role and database."""
    parts = urlsplit(url)
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    host = parts.hostname or "127.0.0.1"
    netloc = f"{auth}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{dbname}"))


def with_db(url: str, dbname: str) -> str:
    """The same URL with another database name."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


def api_env(rate_limit_rps: float) -> list[dict[str, Any]]:
    """The API container's environment in the simulated deployment: the rate limit the API
    simulator enforces, the admin allow-list (a comma-separated list), and the admin token from
    a Secret (shown as such, never read)."""
    return [
        {"name": "RATE_LIMIT_GLOBAL", "value": f"{rate_limit_rps:g}"},
        {"name": "ADMIN_WHITELIST_IPS", "value": "10.0.0.5,10.0.0.6"},
        {
            "name": "ADMIN_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "predictiq-api", "key": "admin-token"}},
        },
        {"name": "LOG_LEVEL", "value": "info"},
    ]


class Lab:
    """Everything the demo runs on. Attributes are set by `start()`; see the module doc."""

    def __init__(
        self,
        dir: Path,
        *,
        database_url: str | None = None,
        redis_url: str | None = None,
        replicas: int = 3,
        max_connections: int = 50,
        traffic_rps: float = 20.0,
        rate_limit_rps: float = 40.0,
        kube_delay: float = 0.5,
        refresh_seconds: float = 2.0,
        audit_path: str = "",
        control: bool = True,
        metrics_seconds: float | None = None,
        extra_certificates: int = 0,
        certificates_seconds: float = 3.0,
    ) -> None:
        self.dir = Path(dir)
        self.replicas = replicas
        self.max_connections = max_connections
        self.traffic_rps = traffic_rps
        self.rate_limit_rps = rate_limit_rps
        self._given_db, self._given_redis = database_url, redis_url
        self._kube_delay, self._refresh = kube_delay, refresh_seconds
        self._audit_path, self._control_wanted = audit_path, control
        self._metrics_seconds = metrics_seconds
        self._extra_certificates = extra_certificates
        # certificates checked every 3 s (production: 300) so that the cert drills show at once
        self._certificates_seconds = certificates_seconds
        suffix = "" if database_url is None else "_" + secrets.token_hex(4)
        self.app_user = self.app_database = "predictiq" + suffix
        self.admin_token = secrets.token_urlsafe(24)
        self.pg: ThrowawayPostgres | None = None  # when we run it
        self.redis_server: ThrowawayRedis | None = None  # when we run it
        self.api: ApiSimulator | None = None
        self.tls: TlsLab | None = None
        self.cert: SwitchableTlsEndpoint | None = None
        # more valid endpoints (a platform's several names; the benchmarks' platform lab)
        self.extra_certs: list[SwitchableTlsEndpoint] = []
        self.kube: KubeSim | None = None
        self.drills: DrillRunner | None = None
        self.control: ControlServer | None = None
        self.env: dict[str, str] = {}
        self._app_password = secrets.token_urlsafe(16)
        self._started = False

    # -- paths -------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        """DIR/config.toml."""
        return self.dir / "config.toml"

    @property
    def kubeconfig_path(self) -> Path:
        """DIR/kubeconfig."""
        return self.dir / "kubeconfig"

    @property
    def env_path(self) -> Path:
        """DIR/env (the secrets config.toml refers to)."""
        return self.dir / "env"

    @property
    def info_path(self) -> Path:
        """DIR/lab.json."""
        return self.dir / "lab.json"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Lab:
        """Bring everything up; on any failure, tear down what was started and re-raise."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._started = True
        try:
            self._start_data_stores()
            self._start_api()
            self._start_tls()
            self._start_kube()
            self._write_files()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_data_stores(self) -> None:
        from cockpit.lab.services import ThrowawayPostgres, ThrowawayRedis

        if self._given_db is None:
            # one reserved slot: ordinary roles can then reach 95 % with the cockpit connected,
            # and a superuser (the cockpit's kill-idle) still gets in when they have
            self.pg = ThrowawayPostgres(
                max_connections=self.max_connections, superuser_reserved_connections=1
            ).start()
            self.admin_url = self.pg.url
        else:
            self.admin_url = self._given_db
        if self._given_redis is None:
            self.redis_server = ThrowawayRedis().start()
            self.redis_url = self.redis_server.url
        else:
            self.redis_url = self._given_redis
        with psycopg.connect(self.admin_url, connect_timeout=5, autocommit=True) as conn:
            role, db = sql.Identifier(self.app_user), sql.Identifier(self.app_database)
            if conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (self.app_user,)
            ).fetchone():
                conn.execute(
                    sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                        role, sql.Literal(self._app_password)
                    )
                )
            else:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        role, sql.Literal(self._app_password)
                    )
                )
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.app_database,)
            ).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, role))
            self.server_max_connections = int(one_row(conn.execute("SHOW max_connections"))[0])
        self.app_url = with_user_db(
            self.admin_url, self.app_user, self.app_database, self._app_password
        )
        self.monitor_url = with_db(self.admin_url, self.app_database)
        with psycopg.connect(self.app_url, connect_timeout=5, autocommit=True) as conn:
            install_schema(conn)
        # pg_stat_statements is per database: in the one the cockpit watches, for its top lists
        with psycopg.connect(self.monitor_url, connect_timeout=5, autocommit=True) as conn:
            install_statements_extension(conn)

    def _start_api(self) -> None:
        import httpx

        self.api = ApiSimulator(
            self.app_url,
            self.redis_url,
            admin_token=self.admin_token,
            rate_limit_rps=self.rate_limit_rps,
        ).start()
        response = httpx.post(
            f"{self.api.url}/api/admin/cache/warm",
            timeout=10,
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        response.raise_for_status()
        self.api.start_traffic(self.traffic_rps)

    def _start_tls(self) -> None:
        from cockpit.lab.tlssim import TlsLab

        self.tls = TlsLab(server_name=WWW_NAME).start()
        self.cert = SwitchableTlsEndpoint(self.tls.ca, API_NAME).start()
        for i in range(self._extra_certificates):
            name = f"svc{i + 1}.predictiq.test"
            self.extra_certs.append(SwitchableTlsEndpoint(self.tls.ca, name).start())

    def _start_kube(self) -> None:
        from cockpit.lab.kubesim.sim import KubeSim

        self.kube = KubeSim(
            namespace=NAMESPACE,
            deployment=DEPLOYMENT,
            replicas=self.replicas,
            delay=self._kube_delay,
            token=secrets.token_urlsafe(16),
            cluster_name="predictiq-lab",
            env=api_env(self.rate_limit_rps),
        ).start()
        self.kube.write_kubeconfig(self.kubeconfig_path, context=labfiles.KUBE_CONTEXT)
        if self.api is not None:  # the API's requests become the pods' log lines
            from cockpit.lab.apisim.podlog import PodAccessLog

            self.api.set_request_log(PodAccessLog(self.kube))
            # and each pod's share of the traffic, behind the pod proxy
            from cockpit.lab.apisim.pods import connect, env_rate_limit

            connect(self.api.pod_metrics, self.kube)
            # and its rate limit is the RATE_LIMIT_GLOBAL the running pods were started with
            kube = self.kube
            self.api.set_rate_limit_source(lambda: env_rate_limit(kube))
        os.chmod(self.kubeconfig_path, 0o600)  # it holds the simulator's bearer token

    def _write_files(self) -> None:
        from cockpit.lab.control import ControlServer
        from cockpit.lab.drills import DrillRunner

        if self.tls is None or self.api is None or self.cert is None:
            raise RuntimeError("the lab's files are written once its servers run")
        www = self.tls.endpoints["valid"]
        settings = labfiles.LabSettings(
            kubeconfig=self.kubeconfig_path,
            namespace=NAMESPACE,
            deployment=DEPLOYMENT,
            database_url=self.monitor_url,
            app_user=self.app_user,
            app_database=self.app_database,
            redis_url=self.redis_url,
            api_url=self.api.url,
            admin_token=self.admin_token,
            certificates=(
                labfiles.CertEntry(API_NAME, self.cert.port, str(self.tls.ca_path)),
                labfiles.CertEntry(WWW_NAME, www.port, str(self.tls.ca_path)),
                *(
                    labfiles.CertEntry(c.server_name, c.port, str(self.tls.ca_path))
                    for c in self.extra_certs
                ),
            ),
            refresh_seconds=self._refresh,
            audit_path=self._audit_path,
            metrics_seconds=self._metrics_seconds,
            certificates_seconds=self._certificates_seconds,
        )
        text, self.env = labfiles.render(settings)
        self.config_path.write_text(text, encoding="utf-8")
        labfiles.write_env(self.env_path, self.env)
        self.drills = DrillRunner(self)
        if self._control_wanted:
            self.control = ControlServer(self.drills).start()
        labfiles.write_info(self.info_path, self.info())

    def info(self) -> dict[str, Any]:
        """What lab.json holds."""
        return {
            "pid": os.getpid(),
            "dir": str(self.dir),
            "config": str(self.config_path),
            "kubeconfig": str(self.kubeconfig_path),
            "env": str(self.env_path),
            "postgres": {
                "pid": self.postgres_pid(),
                "port": urlsplit(self.admin_url).port,
                "throwaway": self.pg is not None,
            },
            "redis": {
                "pid": self.redis_pid(),
                "port": urlsplit(self.redis_url).port,
                "throwaway": self.redis_server is not None,
            },
            "api_url": self.api.url if self.api else None,
            "kube_url": self.kube.url if self.kube else None,
            "control": (
                {"url": self.control.url, "token": self.control.token} if self.control else None
            ),
        }

    def postgres_pid(self) -> int | None:
        """The postmaster's pid when the lab runs PostgreSQL itself."""
        if self.pg is None:
            return None
        try:
            return int((self.pg.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def redis_pid(self) -> int | None:
        """redis-server's pid when the lab runs Redis itself."""
        if self.redis_server is None:
            return None
        from cockpit.lab import redisconn

        with redisconn.client(self.redis_url, timeout=2) as r:
            return int(r.info("server")["process_id"])

    @property
    def connection_target(self) -> int:
        """Ordinary-role backends the connection-exhaustion drill aims for.

        95 % of max_connections, less the one slot a monitoring session (the cockpit's, a
        superuser in the lab) takes: with it, usage reaches 95 %.
        """
        return math.ceil(0.95 * self.server_max_connections) - 1

    def stop(self) -> None:
        """Clear drills, stop every part in reverse order, remove the files that hold secrets."""
        if not self._started:
            return
        self._started = False
        steps = [
            lambda: self.control and self.control.stop(),
            lambda: self.drills and self.drills.clear_all(),
            lambda: self.kube and self.kube.stop(),
            lambda: self.cert and self.cert.stop(),
            *(c.stop for c in self.extra_certs),
            lambda: self.tls and self.tls.stop(),
            lambda: self.api and self.api.stop(),
            self._drop_given_database,
            lambda: self.redis_server and self.redis_server.cleanup(),
            lambda: self.pg and self.pg.cleanup(),
        ]
        errors: list[BaseException] = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # keep tearing down; report the first failure at the end
                errors.append(exc)
        for path in (self.info_path, self.env_path, self.config_path, self.kubeconfig_path):
            path.unlink(missing_ok=True)
        if errors:
            raise errors[0]

    def _drop_given_database(self) -> None:
        if self._given_db is None or not hasattr(self, "admin_url"):
            return
        with psycopg.connect(self.admin_url, connect_timeout=5, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.app_database)
                )
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.app_user)))

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
