"""The PredictIQ API simulator against real PostgreSQL and Redis, over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cockpit.lab.apisim.sim import ApiSimulator
from cockpit.lab.schema import SEED_ACTIVE_MARKETS, SEED_BETS, SEED_MARKETS, install_schema
from tests import waiting

TOKEN = "test-admin-token"


def wait_for(condition: Callable[[], object]) -> object:
    """tests.waiting.wait_for with this module's tighter bound."""
    return waiting.wait_for(condition, timeout=5.0, interval=0.05)


def scrape(client: httpx.Client) -> dict[tuple[str, tuple], float]:
    """/metrics parsed with prometheus_client: {(sample name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_total(metrics: dict, path: str, status: str | None = None) -> float:
    """Sum of http_requests_total for one route (and optionally one status)."""
    return sum(
        value
        for (name, labels), value in metrics.items()
        if name == "http_requests_total"
        and dict(labels)["path"] == path
        and (status is None or dict(labels)["status"] == status)
    )


def apisim_threads() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith("apisim") or "process_request_thread" in t.name
    ]


@pytest.fixture(scope="module")
def market_db(pg):
    """The pg session database with the PredictIQ schema installed."""
    with pg.connect() as conn:
        install_schema(conn)
    return pg


@pytest.fixture
def sim_factory(market_db, redis_server) -> Iterator[Callable[..., ApiSimulator]]:
    """Builds started simulators (default: the session's PostgreSQL and Redis); stops them all."""
    started: list[ApiSimulator] = []

    def make(**kwargs: object) -> ApiSimulator:
        kwargs.setdefault("admin_token", TOKEN)
        database_url = kwargs.pop("database_url", market_db.url)
        redis_url = kwargs.pop("redis_url", redis_server.url)
        sim = ApiSimulator(database_url, redis_url, **kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
    assert apisim_threads() == []


@pytest.fixture
def client_for() -> Iterator[Callable[[ApiSimulator], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(sim: ApiSimulator) -> httpx.Client:
        clients.append(httpx.Client(base_url=sim.url, timeout=5.0))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def test_install_schema_is_idempotent_and_seeds_the_expected_counts(market_db):
    with market_db.connect() as conn:
        summary = install_schema(conn)
        active = conn.execute("SELECT count(*) FROM markets WHERE status = 'active'").fetchone()[0]
    assert summary.seeded_now is False  # market_db already installed it
    assert (summary.markets, summary.active_markets, summary.bets) == (
        SEED_MARKETS,
        SEED_ACTIVE_MARKETS,
        SEED_BETS,
    )
    assert active == SEED_ACTIVE_MARKETS


def test_health_checks_database_and_cache(sim_factory, client_for):
    response = client_for(sim_factory()).get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    for check in ("database", "cache"):
        assert body["checks"][check]["ok"] is True
        assert body["checks"][check]["latency_ms"] >= 0


def test_health_is_503_when_redis_is_unreachable(sim_factory, client_for, closed_port):
    sim = sim_factory(redis_url=f"redis://127.0.0.1:{closed_port}/0", redis_timeout_seconds=0.5)
    response = client_for(sim).get("/health")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["cache"]["ok"] is False
    assert "Connection" in checks["cache"]["error"]


def test_health_failure_and_latency_switches(sim_factory, client_for):
    sim = sim_factory()
    client = client_for(sim)
    sim.set_health_failure(True)
    failing = client.get("/health")
    assert failing.status_code == 503
    assert "api-down" in failing.json()["error"]
    sim.set_health_failure(False)
    sim.set_latency(0.3)
    started = time.monotonic()
    assert client.get("/health").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert sim.faults().latency_seconds == 0.3


def test_health_survives_its_idle_connections_being_terminated(sim_factory, client_for, market_db):
    """kill-idle terminates the API's idle pool connections; the next check must reconnect."""
    sim = sim_factory()
    client = client_for(sim)
    assert client.get("/health").status_code == 200
    with market_db.connect() as admin:
        killed = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'predictiq-api'"
            " AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert killed >= 1
    assert client.get("/health").status_code == 200


def test_market_read_is_cache_aside(market_db, restartable_redis, client_for):
    """First read misses (Redis keyspace_misses +1) and fills the key; the second hits."""
    redis_client = restartable_redis.client(decode_responses=True)
    sim = ApiSimulator(market_db.url, restartable_redis.url, cache_ttl_seconds=120).start()
    try:
        client = client_for(sim)

        def stats() -> tuple[int, int]:
            info = redis_client.info("stats")
            return info["keyspace_hits"], info["keyspace_misses"]

        hits0, misses0 = stats()
        first = client.get("/api/markets/7")
        hits1, misses1 = stats()
        second = client.get("/api/markets/7")
        hits2, misses2 = stats()
        assert (first.status_code, first.headers["X-Cache"]) == (200, "MISS")
        assert (second.status_code, second.headers["X-Cache"]) == (200, "HIT")
        assert (hits1 - hits0, misses1 - misses0) == (0, 1)
        assert (hits2 - hits1, misses2 - misses1) == (1, 0)
        assert first.json() == second.json()
        assert first.json()["id"] == 7
        assert 0 < redis_client.ttl("market:7") <= 120
        metrics = scrape(client)
        assert metrics[("cache_hits_total", ())] == 1
        assert metrics[("cache_misses_total", ())] == 1
    finally:
        sim.stop()


def test_market_list_and_errors(sim_factory, client_for):
    sim = sim_factory()
    client = client_for(sim)
    active = client.get("/api/markets", params={"status": "active"})
    assert active.status_code == 200
    assert len(active.json()) == SEED_ACTIVE_MARKETS
    assert {m["status"] for m in active.json()} == {"active"}
    assert client.get("/api/markets", params={"status": "bogus"}).status_code == 400
    assert client.get(f"/api/markets/{SEED_MARKETS + 1}").status_code == 404
    sim.set_error_rate(1.0)
    assert client.get("/api/markets/1").status_code == 500
    sim.set_error_rate(0.0)
    assert client.get("/api/markets/1").status_code == 200


def test_cache_warm_requires_the_token_and_loads_every_active_market(
    sim_factory, client_for, market_db, redis_server
):
    redis_client = redis_server.client(decode_responses=True)
    stale = list(redis_client.scan_iter("market*"))
    if stale:
        redis_client.delete(*stale)
    client = client_for(sim_factory())
    assert client.post("/api/admin/cache/warm").status_code == 401
    wrong = client.post("/api/admin/cache/warm", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert list(redis_client.scan_iter("market:*")) == []

    warm = client.post("/api/admin/cache/warm", headers={"Authorization": f"Bearer {TOKEN}"})
    assert warm.status_code == 200
    with market_db.connect() as conn:
        active_ids = {
            row[0] for row in conn.execute("SELECT id FROM markets WHERE status = 'active'")
        }
    assert warm.json()["warmed"] == len(active_ids)
    assert warm.json()["duration_ms"] >= 0
    keys = set(redis_client.scan_iter("market:*"))
    assert keys == {f"market:{market_id}" for market_id in active_ids}
    assert client.get(f"/api/markets/{min(active_ids)}").headers["X-Cache"] == "HIT"


def test_rate_limit_answers_429_and_counts_them(sim_factory, client_for):
    sim = sim_factory(rate_limit_rps=5, rate_limit_burst=5)
    client = client_for(sim)
    statuses = [client.get("/api/markets/3").status_code for _ in range(30)]
    rejected = statuses.count(429)
    assert statuses[:5] == [200] * 5  # the burst passes
    assert rejected >= 15
    assert client.get("/health").status_code == 200  # health is never rate limited
    metrics = scrape(client)
    assert metrics[("rate_limit_rejections_total", ())] == rejected
    assert requests_total(metrics, "/api/markets/{id}", "429") == rejected
    sim.set_rate_limit(None)
    assert client.get("/api/markets/3").status_code == 200


def test_traffic_generator_produces_real_requests_and_a_high_hit_rate(sim_factory, client_for):
    sim = sim_factory(rate_limit_rps=None)
    client = client_for(sim)
    assert (
        client.post(
            "/api/admin/cache/warm", headers={"Authorization": f"Bearer {TOKEN}"}
        ).status_code
        == 200
    )
    sim.start_traffic(rps=100)
    first = wait_for(lambda: requests_total(scrape(client), "/api/markets/{id}") >= 20)
    assert first
    baseline = requests_total(scrape(client), "/api/markets/{id}")
    wait_for(lambda: requests_total(scrape(client), "/api/markets/{id}") >= baseline + 50)
    metrics = scrape(client)
    hits, misses = metrics[("cache_hits_total", ())], metrics[("cache_misses_total", ())]
    assert hits / (hits + misses) > 0.9
    assert metrics[("http_request_duration_seconds_count", (("path", "/api/markets/{id}"),))] > 0
    sim.set_traffic_rps(0)
    assert sim.faults().traffic_rps == 0
    sim.stop_traffic()
    assert sim.faults().traffic_rps is None
    assert not [t for t in threading.enumerate() if t.name.startswith("apisim-traffic")]


def test_stop_is_prompt_with_open_connections_and_pending_latency(sim_factory, client_for):
    sim = sim_factory()
    client = client_for(sim)
    assert client.get("/health").status_code == 200  # leaves a keep-alive connection open
    sim.set_latency(10)
    outcome: list[object] = []
    slow = threading.Thread(target=lambda: outcome.append(_try_get(sim.url + "/health")))
    slow.start()
    wait_for(lambda: sum("process_request_thread" in t.name for t in threading.enumerate()) >= 2)
    sim.stop()
    slow.join(timeout=5)  # well inside the 10 s latency: only the stop can have ended it
    assert not slow.is_alive()
    assert apisim_threads() == []
    assert outcome  # the pending request ended (answered or cut off), it did not hang


def _try_get(url: str) -> object:
    try:
        return httpx.get(url, timeout=5.0).status_code
    except httpx.HTTPError as exc:
        return exc


def test_flush_without_fill_on_miss_stays_a_miss_storm_until_warmed(
    sim_factory, client_for, redis_server
):
    """The cache-miss-storm drill: with fill-on-miss off, misses persist until the warm job."""
    redis_client = redis_server.client(decode_responses=True)
    sim = sim_factory()
    client = client_for(sim)
    sim.set_fill_on_miss(False)
    redis_client.delete("market:11")
    assert [client.get("/api/markets/11").headers["X-Cache"] for _ in range(3)] == ["MISS"] * 3
    assert redis_client.exists("market:11") == 0
    warm = client.post("/api/admin/cache/warm", headers={"Authorization": f"Bearer {TOKEN}"})
    assert warm.status_code == 200
    assert client.get("/api/markets/11").headers["X-Cache"] == "HIT"
    assert sim.faults().fill_on_miss is False


def test_traffic_above_the_rate_limit_is_rejected(sim_factory, client_for):
    """The rate-limit-storm drill: traffic pushed past the limit produces counted 429s."""
    sim = sim_factory(rate_limit_rps=20, rate_limit_burst=5)
    client = client_for(sim)
    sim.start_traffic(rps=10)
    sim.set_traffic_rps(150)
    wait_for(lambda: scrape(client)[("rate_limit_rejections_total", ())] >= 20)
    stats = sim.traffic_stats()
    assert stats is not None and stats.requests >= 20 and stats.rps == 150
    sim.stop_traffic()
    assert sim.traffic_stats() is None
