"""One broken part never stops the others: each source is built on its own."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

from cockpit.config import ApiConfig, CacheConfig, CertificateConfig, Config, DatabaseConfig
from cockpit.sources.registry import build_sources, configured_names, not_configured


async def test_a_source_that_cannot_be_built_is_a_failure_beside_the_others():
    cfg = replace(
        Config(),
        database=DatabaseConfig(url="postgresql://app@db.invalid/predictiq"),
        cache=CacheConfig(url="http://cache.invalid:6379/0"),
        api=ApiConfig(base_url="http://api.invalid"),
        certificates=(CertificateConfig(host="api.invalid"),),
    )
    sources, failures = build_sources(cfg)
    try:
        assert list(sources) == ["database", "certificates", "api"]
        assert list(failures) == ["cache"]
        assert "redis://, rediss://, unix://" in failures["cache"]
        assert configured_names(cfg) == ("database", "cache", "certificates", "api")
        assert not_configured(cfg) == ("kubernetes",)
    finally:
        for source in sources.values():
            await source.aclose()


def test_the_run_time_checks_import_no_client_library_until_they_run():
    code = (
        "import sys, cockpit.config_checks, cockpit.sources.registry; "
        "print(sorted(m for m in ('psycopg', 'redis', 'kubernetes', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
