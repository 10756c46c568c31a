"""Config loading: runbook defaults, env references, and one clear error per mistake."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from pathlib import Path

import pytest

from cockpit import config as c
from cockpit.config import ConfigError, load_config, mask_dsn, parse_config
from cockpit.config_checks import check_runtime
from cockpit.labelselector import Requirement, SelectorError, parse_selector

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"
ENV = {
    "DATABASE_URL": "postgresql://app:s3cret@db:5432/predictiq",
    "REDIS_URL": "redis://cache:6379/0",
    "PREDICTIQ_ADMIN_TOKEN": "tok-123",
    "PAGERDUTY_ROUTING_KEY": "pd-routing-key-0123456789abcdef",
}


def test_example_config_is_valid_and_carries_runbook_defaults():
    cfg = load_config(EXAMPLE, env=ENV)
    assert cfg.kubernetes.deployment == "predictiq-api"
    assert cfg.kubernetes.selector == "app=predictiq-api"
    assert cfg.api.health_path == "/health" and cfg.api.warm_path == "/api/admin/cache/warm"
    assert (cfg.thresholds.cpu_percent, cfg.thresholds.memory_percent) == (80, 90)
    assert cfg.thresholds.cache_hit_rate == 0.5 and cfg.thresholds.slow_query_seconds == 1
    assert cfg.thresholds.idle_connection_seconds == 600
    assert [cfg.response_minutes(p) for p in ("P1", "P2", "P3", "P4")] == [15, 60, 240, 1440]
    assert cfg.database.url == ENV["DATABASE_URL"]


def _all_keys(cls: type, prefix: str = "") -> set[str]:
    keys = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name == "source_path":
            continue
        tp = c._unwrap_optional(hints[f.name])
        if typing.get_origin(tp) is tuple and dataclasses.is_dataclass(typing.get_args(tp)[0]):
            tp = typing.get_args(tp)[0]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            keys |= _all_keys(tp, key + ".")
        else:
            keys.add(key)
    return keys


def _example_keys(doc: dict, prefix: str = "") -> set[str]:
    keys = set()
    for k, v in doc.items():
        if isinstance(v, dict):
            keys |= _example_keys(v, f"{prefix}{k}.")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                keys |= _example_keys(item, f"{prefix}{k}.")
        else:
            keys.add(f"{prefix}{k}")
    return keys


def _commented_keys(text: str) -> set[str]:
    """Keys shown commented out (`# after_minutes = 7.5`): optional keys whose default is
    "left out" (no TOML value says None)."""
    keys, section = set(), ""
    for line in text.splitlines():
        if m := re.match(r"^\[+([a-z_.]+)\]+", line):
            section = m.group(1) + "."
        elif m := re.match(r"^# ([a-z_]+) = ", line):
            keys.add(section + m.group(1))
    return keys


def test_example_documents_every_key():
    text = EXAMPLE.read_text()
    documented = _example_keys(tomllib.loads(text)) | _commented_keys(text)
    assert _all_keys(c.Config) == documented


def test_defaults_match_the_example():
    """The example shows each default as it is in the code."""
    doc = tomllib.loads(EXAMPLE.read_text())
    for section, cls in (
        ("thresholds", c.ThresholdsConfig),
        ("severity", c.SeverityConfig),
        ("refresh", c.RefreshConfig),
        ("incidents", c.IncidentsConfig),
        ("actions", c.ActionsConfig),
    ):
        assert doc[section] == c._defaults(cls), section


def test_misspelt_key_names_file_dotted_key_and_suggestion(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[thresholds]\ncache_hitrate = 0.4\n")
    with pytest.raises(ConfigError) as err:
        load_config(p, env={})
    msg = str(err.value)
    assert (
        str(p) in msg
        and "thresholds.cache_hitrate" in msg
        and "did you mean thresholds.cache_hit_rate" in msg
    )


@pytest.mark.parametrize(
    ("toml", "key", "expected"),
    [
        ("[thresholds]\ncpu_percent = 'high'\n", "thresholds.cpu_percent", "expected a number"),
        ("[thresholds]\ncache_hit_rate = 1.5\n", "thresholds.cache_hit_rate", "from 0 to 1"),
        ("[severity]\np1_minutes = 1.5\n", "severity.p1_minutes", "expected an integer"),
        ("read_only = 'yes'\n", "read_only", "true or false"),
        ("[database]\napp_user = 'x'\n", "database.url", "missing required value"),
        (
            "[kubernetes]\nproduction_contexts = 'prod'\n",
            "kubernetes.production_contexts",
            "expected an array",
        ),
        ("[[certificates]]\nport = 443\n", "certificates[0].host", "missing required value"),
        ("[[certificates]]\nhost = 'a'\nport = 70000\n", "certificates[0].port", "from 1 to 65535"),
        (
            "[[certificates]]\nhost = 'a'\nport = 'notaport'\n",
            "certificates[0].port",
            "expected an integer, got 'notaport'",
        ),
        ("[api]\nbase_url = 'api.example.com'\n", "api.base_url", "http:// or https://"),
        (
            "[thresholds]\nconnection_warning_percent = 99\n",
            "thresholds.connection_warning_percent",
            "must not be above",
        ),
        (
            "[thresholds]\ndisk_percent = 96\n",
            "thresholds.disk_percent",
            "must not be above thresholds.disk_critical_percent",
        ),
        ("[thresholds]\ndisk_critical_percent = 101\n", "thresholds.disk_critical_percent", "100"),
        ("[refresh]\ndisk_seconds = 0\n", "refresh.disk_seconds", "from 1"),
        ("refresh = 3\n", "refresh", "expected a table"),
        ("colour = 'red'\n", "colour", "unknown key"),
    ],
)
def test_each_mistake_is_one_clear_error(tmp_path, toml, key, expected):
    p = tmp_path / "c.toml"
    p.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(p, env={})
    assert f"{p}: {key}: " in str(err.value)
    assert expected in str(err.value)


def test_missing_env_variable_is_named():
    with pytest.raises(ConfigError) as err:
        parse_config({"cache": {"url": "${REDIS_URL}"}}, path="x.toml", env={})
    assert "cache.url" in str(err.value) and "REDIS_URL is not set" in str(err.value)


def test_env_default_and_substitution_inside_strings():
    cfg = parse_config(
        {"api": {"base_url": "https://${API_HOST:-api.local}:8443", "auth_header": "Bearer ${T}"}},
        env={"T": "abc"},
    )
    assert cfg.api.base_url == "https://api.local:8443"
    assert cfg.api.auth_header == "Bearer abc"


def test_sections_left_out_are_not_configured():
    cfg = parse_config({}, env={})
    assert cfg.kubernetes is None and cfg.database is None and cfg.cache is None and cfg.api is None
    assert cfg.certificates == ()


def test_invalid_toml_names_the_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[thresholds\n")
    with pytest.raises(ConfigError, match=re.escape(str(p)) + ": not valid TOML"):
        load_config(p, env={})


def test_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="cockpit init"):
        load_config(tmp_path / "nope.toml", env={})


def test_config_is_frozen():
    cfg = parse_config({}, env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.read_only = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://app:s3cret@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("host=db user=app password=s3cret dbname=x", "host=db user=app password=*** dbname=x"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
    ],
)
def test_mask_dsn(dsn, masked):
    assert mask_dsn(dsn) == masked


def test_masked_config_hides_every_secret():
    cfg = load_config(EXAMPLE, env=ENV)
    text = repr(c.masked(cfg))
    assert "s3cret" not in text and "tok-123" not in text


# -- what would fail at run time (check-config asks the client libraries themselves) ---------


def _runtime_error(toml: str, tmp_path: Path) -> ConfigError:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    cfg = load_config(path, env={})  # the file's shape is fine ...
    with pytest.raises(ConfigError) as err:
        check_runtime(cfg)  # ... what is in it is not
    assert str(err.value).startswith(f"{path}: ")
    return err.value


@pytest.mark.parametrize(
    "toml, key, expected",
    [
        (
            '[database]\nurl = "not a url at all"\n',
            "database.url",
            'libpq says: missing "=" after "not"',
        ),
        (
            '[database]\nurl = "postgresql://app@db:notaport/predictiq"\n',
            "database.url",
            "expected a port from 1 to 65535, got 'notaport'",
        ),
        ('[database]\nurl = "host=db port=99999 dbname=x"\n', "database.url", "got '99999'"),
        (
            '[cache]\nurl = "http://cache:6379/0"\n',
            "cache.url",
            "expected a redis://, rediss:// or unix:// URL",
        ),
        ('[cache]\nurl = "redis://cache:notaport/0"\n', "cache.url", "'notaport'"),
        (
            '[api]\nbase_url = "http://api:notaport"\n',
            "api.base_url",
            "expected a port from 1 to 65535, got 'notaport'",
        ),
        (
            '[kubernetes]\nselector = "app in (("\n',
            "kubernetes.selector",
            "expected a label selector",
        ),
        (
            '[kubernetes]\nkubeconfig = "/nonexistent/kubeconfig"\n',
            "kubernetes.kubeconfig",
            "'/nonexistent/kubeconfig' does not exist",
        ),
        (
            '[[certificates]]\nhost = "a.test"\nca_file = "/nonexistent/ca.pem"\n',
            "certificates[0].ca_file",
            "does not exist",
        ),
    ],
)
def test_check_config_rejects_what_would_fail_at_run_time(tmp_path, toml, key, expected):
    err = _runtime_error(toml, tmp_path)
    assert err.key == key
    assert expected in str(err)


def test_runtime_checks_accept_what_the_libraries_accept(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    path = tmp_path / "c.toml"
    path.write_text(
        f'[kubernetes]\nkubeconfig = "{kubeconfig}"\n'
        'selector = "app=api, tier in (web, api), !canary"\n'
        '[database]\nurl = "postgresql://app:pw@db1:5432,db2:5433/predictiq?sslmode=require"\n'
        '[cache]\nurl = "rediss://:pw@cache:6380/2"\n'
        '[api]\nbase_url = "https://api.example:8443"\n'
    )
    check_runtime(load_config(path, env={}))
    check_runtime(load_config(EXAMPLE, env=ENV))


@pytest.mark.parametrize(
    "selector, expected",
    [
        ("", ()),
        ("app=api", (Requirement("app", "=", ("api",)),)),
        (
            "app==api,tier!=db",
            (Requirement("app", "=", ("api",)), Requirement("tier", "!=", ("db",))),
        ),
        (
            "env in (prod, staging), tier notin (db)",
            (Requirement("env", "in", ("prod", "staging")), Requirement("tier", "notin", ("db",))),
        ),
        ("canary, !legacy", (Requirement("canary", "exists"), Requirement("legacy", "!exists"))),
        (
            "app.kubernetes.io/name=predictiq-api",
            (Requirement("app.kubernetes.io/name", "=", ("predictiq-api",)),),
        ),
        ("app=", (Requirement("app", "=", ("",)),)),  # legal: app is empty
        ("app = ", (Requirement("app", "=", ("",)),)),
    ],
)
def test_label_selector_grammar_accepts(selector, expected):
    assert parse_selector(selector) == expected


@pytest.mark.parametrize(
    "selector",
    [
        "app in ((",
        "app in ()",
        "app in (a",
        "app in a",
        "=api",
        "app=api,",
        ",app",
        "app api",
        "app=a=b",
        "!",
        "app=-bad",
        "Bad_Prefix/app=x",
        "app>3",
        "x" * 64 + "=a",
        "app=" + "v" * 64,
    ],
)
def test_label_selector_grammar_refuses(selector):
    with pytest.raises(SelectorError):
        parse_selector(selector)


def test_a_config_that_is_not_utf8_names_the_file_and_the_byte(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[kubernetes]\nnamespace = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    offset = path.read_bytes().index(b"\xe9")
    assert str(err.value) == (
        f"{path}: not UTF-8 text: byte offset {offset} (0xe9) is invalid "
        "continuation byte; save the file as UTF-8"
    )
