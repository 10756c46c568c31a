"""The log view at 80×24 against the Kubernetes simulator: every key of the view, JSON
rendering, escape sequences shown escaped (never sent to the terminal), the audited save."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import replace
from datetime import UTC

import pytest
from textual.geometry import Region

from cockpit.audit.log import AuditLog, read_entries
from cockpit.config import Config, KubernetesConfig, LogsConfig
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.sources.kube.logs import LogTiming
from tests.ui.fixtures import fixed_sources, frozen_clock, make_config, wait_until
from widgets.app import CockpitApp
from widgets.dialogs.choice import ChoiceDialog
from widgets.keys import LOG_KEYS
from widgets.screens.help import HelpScreen
from widgets.screens.logs import LogBody, LogTarget, LogView

NS, APP = "predictiq", "predictiq-api"
FAST = LogTiming(connect_timeout=2.0, read_timeout=5.0, backoff=(0.05, 0.1), pods_interval=0.2)


@pytest.fixture
def sim():
    with KubeSim(namespace=NS, deployment=APP, replicas=2, delay=0.05, seed=9) as running:
        yield running


@pytest.fixture
def cfg(sim, tmp_path) -> Config:
    path = sim.write_kubeconfig(tmp_path / "kubeconfig", context="lab")
    return replace(
        make_config(),
        kubernetes=KubernetesConfig(
            kubeconfig=str(path), context="lab", namespace=NS, deployment=APP, selector=f"app={APP}"
        ),
        logs=LogsConfig(tail_lines=50, buffer_lines=500),
    )


def pod_of(sim: KubeSim, i: int = 0) -> str:
    return sim.pods()[i]["metadata"]["name"]


def make_app(cfg: Config, audit=None) -> CockpitApp:
    return CockpitApp(cfg, sources=fixed_sources(), clock=frozen_clock, local_tz=UTC, audit=audit)


async def open_view(
    app: CockpitApp,
    pilot,
    cfg: Config,
    pod: str | None,
    tmp_path,
    audit=None,
) -> LogView:
    view = LogView(
        cfg,
        LogTarget(pod, f"app={APP}", APP),
        audit=audit,
        save_dir=tmp_path / "state",
        timing=FAST,
    )
    app.push_screen(view)
    await wait_until(pilot, lambda: app.screen is view and view.session is not None)
    return view


def window(view: LogView) -> str:
    body = view.query_one(LogBody)
    return view.render_window(body.size.width, body.size.height).plain


def header(view: LogView) -> str:
    return view.header_text()


async def write_and_wait(pilot, sim: KubeSim, view: LogView, pod: str, *texts: str) -> None:
    before = view.buffer.snapshot()[3]
    for text in texts:
        sim.logs.write(NS, pod, text)
    await wait_until(pilot, lambda: view.buffer.snapshot()[3] >= before + len(texts))
    await pilot.pause(0.15)  # one refresh tick of the view


async def test_l_on_a_pod_opens_its_logs_and_the_palette_offers_the_deployment(cfg):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.state.samples) == len(app.sources))
        await pilot.press("1")
        selected = app.selected_row("pods")
        assert selected is not None
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LogView))
        assert isinstance(app.screen, LogView) and app.screen.target.pod == selected["name"]
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Follow / pause (paused: new lines are counted)" in commands
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, LogView))
        assert "Logs of the deployment: every pod merged by time" in [
            c.title for c in app.get_system_commands(app.screen)
        ]
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, LogView))
        assert isinstance(app.screen, LogView) and app.screen.target.pod is None


async def test_follow_pause_counts_new_lines_and_end_follows_again(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        pod = pod_of(sim)
        view = await open_view(app, pilot, cfg, pod, tmp_path)
        await write_and_wait(pilot, sim, view, pod, "first line")
        assert "following" in header(view) and "first line" in window(view)
        await pilot.press("f")
        await write_and_wait(pilot, sim, view, pod, "while paused 1", "while paused 2")
        assert "paused — 2 new lines" in header(view)
        assert "while paused" not in window(view)
        await pilot.press("f")
        await pilot.pause(0.15)
        assert "while paused 2" in window(view) and "following" in header(view)
        await pilot.press("up", "up")
        assert "paused" in header(view)
        await pilot.press("end")
        await pilot.pause(0.15)
        assert "following" in header(view)


async def test_search_next_previous_and_hide_with_context(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        pod = pod_of(sim)
        view = await open_view(app, pilot, cfg, pod, tmp_path)
        texts = [f"filler {i}" for i in range(30)]
        texts[10] = "rate limit exceeded for 10.0.0.1"
        texts[20] = "rate limit exceeded for 10.0.0.2"
        await write_and_wait(pilot, sim, view, pod, *texts)
        await pilot.press("slash")
        await pilot.press(*"rate limit")
        await pilot.press("enter")
        await pilot.pause()
        assert "/rate limit/ 2 matches" in header(view)
        matched = [view.lines[i].text for i in view.matched]
        assert matched == [texts[10], texts[20]]
        current = lambda: view.lines[view.rows[view.cursor]].text  # noqa: E731
        assert current() == texts[20]
        await pilot.press("N")
        assert current() == texts[10]
        await pilot.press("n")
        assert current() == texts[20]
        await pilot.press("h")
        shown = window(view).splitlines()
        assert shown == [*texts[8:13], "--", *texts[18:23]]


async def test_the_search_prompt_takes_every_key_as_text(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_view(app, pilot, cfg, pod_of(sim), tmp_path)
        await pilot.press("slash", "f", "x", "backspace", "1")
        assert view.typing == "f1" and view.following  # `f` was text, not follow / pause
        assert "/f1█" in str(view.query_one("#log-search").render())
        await pilot.press("escape")
        assert view.typing is None and view.search is None and app.screen is view


async def test_previous_shows_the_crashed_container_with_its_oom_lines(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        pod = pod_of(sim)
        sim.logs.write(NS, pod, "before the crash")
        sim.oom_crashloop(pod)
        view = await open_view(app, pilot, cfg, pod, tmp_path)
        await pilot.press("p")
        await wait_until(pilot, lambda: "(OOMKilled)" in window(view))
        assert "(previous)" in header(view) and "out of memory" in window(view)
        await pilot.press("p")
        await wait_until(pilot, lambda: "(previous)" not in header(view))


async def test_c_picks_the_container(sim, cfg, tmp_path):
    pod = pod_of(sim)

    def add_sidecar(p: dict) -> None:
        p["spec"]["containers"].append({"name": "proxy", "image": "envoy:1.30"})

    sim.store.update("pods", NS, pod, add_sidecar)
    sim.logs.write(NS, pod, "from the proxy", container="proxy")
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_view(app, pilot, cfg, pod, tmp_path)
        await wait_until(pilot, lambda: "· api ·" in header(view))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("2")
        await wait_until(pilot, lambda: "from the proxy" in window(view))
        assert "· proxy ·" in header(view)


async def test_since_keys_change_the_request(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_view(app, pilot, cfg, pod_of(sim), tmp_path)
        for key, seconds, label in (
            ("1", 60, "since 1m"),
            ("2", 300, "since 5m"),
            ("3", 900, "since 15m"),
            ("4", 3600, "since 1h"),
            ("5", None, "tail 50"),
        ):
            await pilot.press(key)
            assert view.request.since_seconds == seconds and label in header(view)
            await wait_until(pilot, lambda v=view: bool(v.session and v.session.streams))
            stream = next(iter(view.session.streams.values()))
            assert stream.request.since_seconds == seconds


async def test_timestamps_wrap_and_raw_json(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        pod = pod_of(sim)
        view = await open_view(app, pilot, cfg, pod, tmp_path)
        line = {
            "time": "2026-12-01T10:42:13Z",
            "level": "error",
            "msg": "payment failed",
            "order": 42,
            "user": "ana",
        }
        await write_and_wait(pilot, sim, view, pod, json.dumps(line), "@" * 200)
        text = window(view)
        assert "2026-12-01T10:42:13Z ERROR payment failed order=42 user=ana" in text
        body = view.query_one(LogBody)
        strips = body.render_lines(Region(0, 0, body.size.width, body.size.height))
        error_styles = [
            seg.style for strip in strips for seg in strip if seg.text.startswith("ERROR")
        ]
        style = error_styles[0] if error_styles else None
        assert style is not None and style.bold and style.color is not None
        rgb = style.color.get_truecolor()
        assert rgb.red > 150 and rgb.green < 100  # the level in red
        await pilot.press("j")
        assert json.dumps(line) in window(view)
        await pilot.press("j", "t")
        stamp = sim.logs.lines(NS, pod)[-2][0]
        from datetime import datetime

        hms = datetime.fromtimestamp(stamp / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3]
        assert f"{hms} 2026-12-01T10:42:13Z ERROR" in window(view)
        await pilot.press("w")
        assert body.has_class("-wrap")
        await pilot.pause()
        rows = body.render_lines(Region(0, 0, body.size.width, body.size.height))
        xs = sum(seg.text.count("@") for strip in rows for seg in strip)
        assert xs == 200  # wrapped: the whole line is on screen
        await pilot.press("w")
        await pilot.pause()
        rows = body.render_lines(Region(0, 0, body.size.width, body.size.height))
        assert sum(seg.text.count("@") for strip in rows for seg in strip) < 200


async def test_escape_sequences_in_a_line_change_nothing_on_screen(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        pod = pod_of(sim)
        view = await open_view(app, pilot, cfg, pod, tmp_path)
        title = app.title
        await write_and_wait(pilot, sim, view, pod, "calm line")
        await write_and_wait(
            pilot, sim, view, pod, "evil \x1b]0;pwned\x07 then \x1b[2J gone \x9b31m"
        )
        text = window(view)
        assert "evil \\x1b]0;pwned\\x07 then \\x1b[2J gone \\x9b31m" in text
        assert "calm line" in text  # the screen was not cleared
        screen_text = "".join(
            seg.text for strip in app.screen._compositor.render_strips() for seg in strip
        )
        assert not any(ch in screen_text for ch in "\x1b\x07\x9b")
        assert app.title == title


async def test_save_writes_a_0600_file_and_an_audit_entry(sim, cfg, tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    app = make_app(cfg, audit=audit)
    async with app.run_test(size=(80, 24)) as pilot:
        pod = pod_of(sim)
        view = await open_view(app, pilot, cfg, pod, tmp_path, audit=audit)
        await write_and_wait(pilot, sim, view, pod, "evidence one", "evil \x1b[2J kept whole")
        await pilot.press("s")
        await wait_until(pilot, lambda: view.last_saved is not None)
        saved = view.last_saved
        assert saved is not None and saved.parent == (tmp_path / "state").resolve()
        assert pod in saved.name
        assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
        data = saved.read_bytes()
        assert b"evil \x1b[2J kept whole" in data  # the file is the evidence, verbatim
        entry = [e for e in read_entries(audit.path) if e["event"] == "logs.saved"][-1]
        assert entry["path"] == str(saved) and entry["pods"] == [pod]
        assert entry["lines"] == len(view.lines) == data.count(b"\n")
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()


async def test_read_only_saves_only_when_the_config_allows_it(sim, cfg, tmp_path):
    for allowed in (False, True):
        ro = replace(cfg, read_only=True, logs=replace(cfg.logs, save_in_read_only=allowed))
        app = make_app(ro)
        async with app.run_test(size=(80, 24)) as pilot:
            pod = pod_of(sim)
            view = await open_view(app, pilot, ro, pod, tmp_path)
            await write_and_wait(pilot, sim, view, pod, f"line {allowed}")
            await pilot.press("s")
            await pilot.pause()
            assert (view.last_saved is not None) is allowed


async def test_y_copies_the_line_under_the_cursor(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        pod = pod_of(sim)
        view = await open_view(app, pilot, cfg, pod, tmp_path)
        await write_and_wait(pilot, sim, view, pod, "copy me", "not me")
        await pilot.press("up", "y")
        assert app.clipboard == "copy me"


async def test_a_merges_the_deployment_and_back(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        first, second = pod_of(sim, 0), pod_of(sim, 1)
        view = await open_view(app, pilot, cfg, first, tmp_path)
        await pilot.press("a")
        await wait_until(pilot, lambda: "deployment predictiq-api (2 pods)" in header(view))
        await write_and_wait(pilot, sim, view, second, "from the second pod")
        assert f"{second.rsplit('-', 1)[-1]} from the second pod" in window(view)
        await pilot.press("a")
        await wait_until(pilot, lambda: f"pod {first}" in header(view))


async def test_navigation_keys_move_the_cursor(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        pod = pod_of(sim)
        view = await open_view(app, pilot, cfg, pod, tmp_path)
        await write_and_wait(pilot, sim, view, pod, *[f"n{i}" for i in range(60)])
        last = len(view.rows) - 1
        assert view.cursor == last
        await pilot.press("pageup")
        assert view.cursor < last - 10
        await pilot.press("pagedown")
        assert view.cursor == last
        await pilot.press("home")
        assert view.cursor == 0 and "paused" in header(view)
        await pilot.press("down")
        assert view.cursor == 1
        await pilot.press("end")
        assert view.cursor == last


async def test_question_mark_shows_the_view_keys_and_escape_closes(sim, cfg, tmp_path):
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_view(app, pilot, cfg, pod_of(sim), tmp_path)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert app.screen.specs == LOG_KEYS
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is view)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, LogView))


def test_every_key_of_the_view_is_tested_here():
    source = open(__file__).read()
    for spec in LOG_KEYS:
        name = {"slash": "slash", "question_mark": "question_mark"}.get(spec.key, spec.key)
        assert f'"{name}"' in source, spec.key
