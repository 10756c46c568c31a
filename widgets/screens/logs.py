"""The log view (`l` on a pod): follow one pod's logs, or every pod of the deployment merged by
time (`a`), with search, hiding with context, the previous container, since, timestamps, wrap,
JSON rendering, save (audited) and copy. Keys come from `widgets.keys.LOG_KEYS`.

The streams run in threads (cockpit.sources.kube.logsession); this screen only reads their
buffer, at most ten times a second, and draws the window the operator looks at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from cockpit.config import Config, default_state_dir
from cockpit.models import utcnow
from cockpit.sources.kube.logs import Connect, LogRequest, LogTiming
from cockpit.sources.kube.logsave import Recorder, save_logs
from cockpit.sources.kube.logsession import LogSession, connect_from
from cockpit.sources.kube.logtext import LogBuffer, LogLine, sanitize
from widgets.footer import StableFooter
from widgets.keys import LOG_KEYS, bindings
from widgets.screens.help import HelpScreen
from widgets.screens.logs_render import (
    RenderOptions,
    body_plain,
    compile_search,
    head_plain,
    highlighted,
    line_text,
    visible_rows,
)

REFRESH_SECONDS = 0.1  # at most ten repaints a second, however fast lines come
TEXT_CACHE = 1024  # drawn lines kept: a few windows (each line is drawn once, not every frame)
SINCE = {1: 60, 2: 300, 3: 900, 4: 3600, 5: None}
SINCE_LABEL = {None: "tail", 60: "1m", 300: "5m", 900: "15m", 3600: "1h"}


@dataclass(frozen=True)
class LogTarget:
    """What the view opens on: a pod (or None: the deployment) of a selector."""

    pod: str | None
    selector: str
    deployment: str


class LogBody(Widget, can_focus=True):
    """The window of log lines under the header; the view owns the data and the cursor."""

    DEFAULT_CSS = """
    LogBody { height: 1fr; text-wrap: nowrap; text-overflow: clip; }
    LogBody.-wrap { text-wrap: wrap; text-overflow: fold; }
    """

    def __init__(self, view: LogView) -> None:
        super().__init__(id="log-body")
        self.view = view

    def render(self) -> Text:
        return self.view.render_window(self.size.width, self.size.height)

    def on_key(self, event: events.Key) -> None:
        """While the search prompt is open, keys are its text (no binding fires)."""
        if self.view.typing is None:
            return
        event.stop()
        event.prevent_default()
        self.view.search_key(event.key, event.character if event.is_printable else None)


class LogView(Screen[None]):
    """One log view. Collaborators come in through the constructor (config, audit, connect)."""

    DEFAULT_CSS = """
    LogView #log-header { height: 2; background: $panel; padding: 0 1; text-wrap: nowrap;
                          text-overflow: ellipsis; }
    LogView #log-search { dock: bottom; display: none; height: 1; background: $panel; }
    LogView #log-search.-open { display: block; }
    """
    BINDINGS = bindings(LOG_KEYS)

    def __init__(
        self,
        cfg: Config,
        target: LogTarget,
        *,
        audit: Recorder | None = None,
        connect: Connect | None = None,
        save_dir: Path | None = None,
        timing: LogTiming | None = None,
    ) -> None:
        super().__init__(classes="log-view")
        self.cfg, self.target, self.audit = cfg, target, audit
        self.connect = connect or (connect_from(cfg.kubernetes) if cfg.kubernetes else None)
        self.save_dir = save_dir or default_state_dir()
        self.timing = timing
        self.request = LogRequest(
            target.pod, selector=target.selector, tail_lines=cfg.logs.tail_lines
        )
        self.options = RenderOptions(prefix=target.pod is None)
        self.buffer = LogBuffer(cfg.logs.buffer_lines)
        self.session: LogSession | None = None
        self.following = True
        self.wrap = False
        self.hide = False
        self.search: re.Pattern[str] | None = None
        self.search_text = ""
        self.typing: str | None = None  # the search prompt's text while it is open
        self.lines: list[LogLine] = []
        self.rows: list[int | None] = []
        self.matched: list[int] = []
        self.cursor = 0  # row index
        self.top = 0
        self.version = -1
        self.dropped = self.received = 0
        self.received_at_pause = 0
        self.last_saved: Path | None = None
        # What a key must not recompute for the whole buffer (issue 15's key p99): each line's
        # shown text per toggles (for search and wrap), whether it matches the search (by
        # line seq, for the current search and toggles), and the drawn Text of recently
        # visible lines (the window is drawn ten times a second while following).
        self._plain: dict[tuple[int, RenderOptions], str] = {}
        self._body: dict[tuple[int, bool], str] = {}  # the text without pod and time
        # per (search, toggles): line seq -> matches; the last two kept, so a toggle pressed
        # twice (t t) finds the first state's matches still there
        self._matches: dict[tuple[re.Pattern[str], RenderOptions], dict[int, bool]] = {}
        self._texts: dict[tuple[int, RenderOptions], Text] = {}
        self._header_text = ""

    # -- lifecycle ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="log-header", markup=False)
        yield LogBody(self)
        # The search prompt is drawn here and fed by LogBody.on_key: no Input widget, so no
        # focus change (each one made Textual's footer rebuild its keys, and leak the old ones).
        yield Static(id="log-search", markup=False)
        yield StableFooter(keys=LOG_KEYS)

    def on_mount(self) -> None:
        self._restart()
        self.set_interval(REFRESH_SECONDS, self.refresh_from_buffer)
        self.query_one(LogBody).focus()

    def on_unmount(self) -> None:
        self._stop_session()

    def _stop_session(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            session.stop()  # threads end on their own; their client is closed by join below
            self.run_worker(
                partial(session.join), thread=True, exit_on_error=False, group="log-join"
            )

    def _restart(self) -> None:
        """A new stream for the current request (container, previous, since or pods changed)."""
        self._stop_session()
        self.buffer = LogBuffer(self.cfg.logs.buffer_lines)
        for cache in (self._plain, self._body, self._matches, self._texts):
            cache.clear()  # keyed by line seq, which a new buffer numbers from 1 again
        self.lines, self.rows, self.cursor, self.top, self.version = [], [], 0, 0, -1
        self.following = True
        if self.connect is None:
            self._header_text = "logs: Kubernetes is not configured"
            self._paint_header()
            return
        self.session = LogSession(
            self.connect,
            self.request,
            self.buffer,
            max_pods=self.cfg.logs.max_pods,
            timing=self.timing,
        ).start()
        self.refresh_from_buffer()

    # -- data -----------------------------------------------------------------------------------

    def refresh_from_buffer(self) -> None:
        """Take the buffer's lines (unless paused) and repaint header and window."""
        version, lines, dropped, received = self.buffer.snapshot()
        self.received = received
        if self.following and version != self.version:
            self.version, self.dropped = version, dropped
            self.lines = lines
            self._recompute_rows()
            self.cursor = max(len(self.rows) - 1, 0)
            self.query_one(LogBody).refresh()
        self._paint_header()

    def _plain_of(self, line: LogLine) -> str:
        """The line's shown text with the current toggles (what search and wrap read)."""
        options = self.options
        key = (line.seq, options)
        text = self._plain.get(key)
        if text is None:
            limit = 4 * max(self.cfg.logs.buffer_lines, 1000)
            if len(self._plain) > limit:
                self._plain.clear()
            body_key = (line.seq, options.raw_json)
            body = self._body.get(body_key)
            if body is None:  # kept apart: `t` and `a` change only the head
                if len(self._body) > limit:
                    self._body.clear()
                body = self._body[body_key] = body_plain(line, options.raw_json)
            text = self._plain[key] = head_plain(line, options) + body
        return text

    def _matched(self) -> list[int]:
        if self.search is None:
            return []
        search = self.search
        known = self._matches.pop((search, self.options), None)
        if known is None or len(known) > 2 * max(len(self.lines), 1000):
            known = {}
        self._matches[(search, self.options)] = known  # now the newest
        while len(self._matches) > 2:
            del self._matches[next(iter(self._matches))]
        out: list[int] = []
        for i, ln in enumerate(self.lines):
            hit = known.get(ln.seq)
            if hit is None:
                hit = known[ln.seq] = search.search(self._plain_of(ln)) is not None
            if hit:
                out.append(i)
        return out

    def _line_text(self, line: LogLine) -> Text:
        """The line drawn with the current toggles (a copy: the caller highlights it)."""
        key = (line.seq, self.options)
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) > TEXT_CACHE:
                self._texts.clear()
            text = self._texts[key] = line_text(line, self.options)
        return text.copy()

    def _recompute_rows(self) -> None:
        self.matched = self._matched()
        self.rows = visible_rows(
            len(self.lines), self.matched, self.hide and self.search is not None
        )

    def _paint_header(self) -> None:
        self._header_text = self.header_text()
        self.query_one("#log-header", Static).update(self._header_text)

    def header_text(self) -> str:
        """Two lines: what is followed, then the stream's state."""
        r = self.request
        session = self.session
        if r.pod is not None:
            what = f"pod {r.pod}"
        else:
            count = len(session.pods) if session else 0
            what = f"deployment {self.target.deployment} ({count} pods)"
            if session and session.not_followed:
                what += f", {len(session.not_followed)} not followed"
        container = r.container or self._stream_container() or "default container"
        since = SINCE_LABEL.get(r.since_seconds, f"{r.since_seconds}s")
        since = f"tail {r.tail_lines}" if since == "tail" else f"since {since}"
        first = (
            f"{what} · {container}{' (previous)' if r.previous else ''} · {since} · "
            f"{len(self.lines):,} lines · {self.dropped:,} dropped"
        )
        second = self.state_text()
        if self.search is not None:  # on the second line: the first is cut first at 80 columns
            hidden = ", others hidden" if self.hide else ""
            second += f" · /{self.search_text}/ {len(self.matched)} matches{hidden}"
        return sanitize(first) + "\n" + sanitize(second)

    def _stream_container(self) -> str:
        if self.session is None:
            return ""
        return next((s.container for s in self.session.streams.values() if s.container), "")

    def state_text(self) -> str:
        """'following', 'paused — 37 new lines', 'reconnecting since 10:42:13 — reason', ..."""
        session = self.session
        if session is None:
            return self._header_text.split("\n")[0] if self.connect is None else "stopped"
        if session.error:
            return session.error
        states = session.states()
        if not states:
            return "connecting"
        if not self.following:
            return f"paused — {self.received - self.received_at_pause:,} new lines"
        worst = [s for s in states.values() if s.state != "following"]
        if not worst:
            return "following"
        if len(states) == 1:
            return next(iter(states.values())).describe()
        ok = len(states) - len(worst)
        first_pod, first = next((p, s) for p, s in states.items() if s.state != "following")
        return f"following {ok}/{len(states)} · {first_pod}: {first.describe()}"

    # -- drawing --------------------------------------------------------------------------------

    def _row_height(self, row: int, width: int) -> int:
        index = self.rows[row]
        if not self.wrap or index is None or width <= 0:
            return 1
        return max(1, -(-len(self._plain_of(self.lines[index])) // width))

    def _fit(self, width: int, height: int) -> None:
        """Move the window so that the cursor row is on screen."""
        self.cursor = min(max(self.cursor, 0), max(len(self.rows) - 1, 0))
        # every row is at least one line high: rows further up than that cannot be on screen
        self.top = min(max(self.top, self.cursor - max(height, 1) + 1), self.cursor)
        used = sum(self._row_height(r, width) for r in range(self.top, self.cursor + 1))
        while used > height and self.top < self.cursor:
            used -= self._row_height(self.top, width)
            self.top += 1
        below, row = 0, self.cursor + 1
        while row < len(self.rows) and used + below < height:
            below += self._row_height(row, width)
            row += 1
        while self.top > 0 and used + below + self._row_height(self.top - 1, width) <= height:
            self.top -= 1  # no blank space under the last line while there are lines above
            used += self._row_height(self.top, width)

    def render_window(self, width: int, height: int) -> Text:
        """The visible rows as one Text (sanitised, highlighted, the cursor row reversed)."""
        if not self.rows:
            return Text("no lines yet" if self.session else "", style="dim")
        self._fit(width, height)
        out = Text(no_wrap=not self.wrap, overflow="crop" if not self.wrap else "fold")
        used, row = 0, self.top
        while row < len(self.rows) and used < height:
            if row > self.top:
                out.append("\n")
            index = self.rows[row]
            if index is None:
                piece = Text("--", style="dim")
            else:
                piece = highlighted(self._line_text(self.lines[index]), self.search)
            if row == self.cursor:
                piece.stylize("reverse")
            out.append_text(piece)
            used += self._row_height(row, width)
            row += 1
        return out

    def _redraw(self, rows: bool = True) -> None:
        """Repaint after a toggle; `rows`: which rows show may have changed (the matches are
        recomputed only for lines not matched yet with this search and these toggles)."""
        if rows:
            self._recompute_rows()
        self.query_one(LogBody).refresh()
        self._paint_header()

    # -- keys -----------------------------------------------------------------------------------

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        if self.following:
            self.version = -1
            self.refresh_from_buffer()
        else:
            self.received_at_pause = self.received
            self._paint_header()

    def _pause(self) -> None:
        if self.following:
            self.action_toggle_follow()

    def action_cursor(self, delta: int) -> None:
        if delta < 0:
            self._pause()  # reading back: stop the newest lines from pulling the cursor down
        self.cursor = min(max(self.cursor + delta, 0), max(len(self.rows) - 1, 0))
        self.query_one(LogBody).refresh()

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(self.query_one(LogBody).size.height - 1, 1))

    def action_cursor_to(self, where: int) -> None:
        if where < 0:
            if not self.following:
                self.action_toggle_follow()
            self.cursor = max(len(self.rows) - 1, 0)
        else:
            self._pause()
            self.cursor = 0
        self.query_one(LogBody).refresh()

    def action_search(self) -> None:
        self.typing = self.search_text
        self.query_one("#log-search", Static).add_class("-open")
        self._paint_prompt()

    def _paint_prompt(self) -> None:
        self.query_one("#log-search", Static).update(
            sanitize(f"/{self.typing or ''}") + "█   enter applies · escape closes · ctrl+u clears"
        )

    def search_key(self, key: str, character: str | None) -> None:
        """One key typed into the open search prompt."""
        if key == "enter":
            self.search_text = self.typing or ""
            self.search = compile_search(self.search_text)
            self._close_search()
            self._redraw()
            if self.search is not None and self.matched:
                self._jump(1, from_end=True)
            return
        if key == "escape":
            self._close_search()
            return
        if key == "backspace":
            self.typing = (self.typing or "")[:-1]
        elif key == "ctrl+u":
            self.typing = ""
        elif character is not None:
            self.typing = (self.typing or "") + character
        self._paint_prompt()

    def _close_search(self) -> None:
        self.typing = None
        self.query_one("#log-search", Static).remove_class("-open")

    def _jump(self, direction: int, from_end: bool = False) -> None:
        if not self.matched:
            self.notify("no match" if self.search else "no search: / to search", timeout=2)
            return
        row_of = {index: row for row, index in enumerate(self.rows) if index is not None}
        current = self.rows[self.cursor] if self.rows and not from_end else None
        if current is None:
            target = self.matched[-1] if direction > 0 or from_end else self.matched[0]
        elif direction > 0:
            target = next((i for i in self.matched if i > current), self.matched[0])
        else:
            target = next((i for i in reversed(self.matched) if i < current), self.matched[-1])
        if not from_end:
            self._pause()
        self.cursor = row_of.get(target, self.cursor)
        self.query_one(LogBody).refresh()

    def action_next_match(self) -> None:
        self._jump(1)

    def action_previous_match(self) -> None:
        self._jump(-1)

    def action_toggle_hide(self) -> None:
        if self.search is None:
            self.notify("hide needs a search: / first", timeout=2)
            return
        self.hide = not self.hide
        self._redraw()

    def _new_request(self, **changes: Any) -> None:
        self.request = replace(self.request, **changes)
        self._restart()

    def action_toggle_previous(self) -> None:
        self._new_request(previous=not self.request.previous)

    def action_since(self, key: int) -> None:
        seconds = SINCE.get(key)
        tail = self.cfg.logs.tail_lines if seconds is None else self.cfg.logs.buffer_lines
        self._new_request(since_seconds=seconds, tail_lines=tail)

    def action_all_pods(self) -> None:
        if self.request.pod is None:
            if self.target.pod is None:
                self.notify("already every pod of the deployment", timeout=2)
                return
            self._new_request(pod=self.target.pod)
        else:
            self._new_request(pod=None)
        self.options = replace(self.options, prefix=self.request.pod is None)

    def action_pick_container(self) -> None:
        from widgets.dialogs.choice import ChoiceDialog

        streams = list(self.session.streams.values()) if self.session else []
        names = next((s.containers for s in streams if s.containers), ())
        if len(names) < 2:
            self.notify(
                f"one container only: {names[0]}" if names else "containers not known yet",
                timeout=2,
            )
            return

        def chosen(name: str | None) -> None:
            if name is not None:
                self._new_request(container=name)

        self.app.push_screen(ChoiceDialog("Container", [(n, n) for n in names[:9]]), chosen)

    def action_toggle_timestamps(self) -> None:
        self.options = replace(self.options, timestamps=not self.options.timestamps)
        self._redraw()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.query_one(LogBody).set_class(self.wrap, "-wrap")
        self._redraw(rows=False)  # the same rows, folded or cut

    def action_toggle_json(self) -> None:
        self.options = replace(self.options, raw_json=not self.options.raw_json)
        self._redraw()

    def action_save(self) -> None:
        if self.cfg.read_only and not self.cfg.logs.save_in_read_only:
            self.notify(
                "read-only: saving logs is off ([logs] save_in_read_only)", severity="warning"
            )
            return
        lines = list(self.lines)
        if not lines:
            self.notify("nothing to save yet", timeout=2)
            return
        subject = self.request.pod or self.target.deployment
        try:
            saved = save_logs(
                lines,
                self.save_dir,
                subject,
                utcnow(),
                self.audit,
                container=self.request.container or self._stream_container(),
                previous=self.request.previous,
            )
        except Exception as exc:  # disk full, audit unwritable: say so
            self.notify(f"save failed: {exc}", severity="error", timeout=10)
            return
        self.last_saved = saved.path
        self.notify(
            f"saved {saved.lines:,} lines to {saved.path} (sha256 {saved.sha256[:12]}…)", timeout=8
        )

    def action_copy_line(self) -> None:
        index = self.rows[self.cursor] if self.rows else None
        if index is None:
            return
        text = sanitize(self.lines[index].text)
        self.app.copy_to_clipboard(text)
        self.notify("line copied with OSC 52 (inside tmux: set -g set-clipboard on)", timeout=3)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(LOG_KEYS, False))

    def action_close(self) -> None:
        if self.typing is not None:
            self._close_search()
            return
        self.dismiss(None)

    def palette_commands(self) -> Iterable[SystemCommand]:
        """The command palette on this screen: the log view's keys."""
        for spec in LOG_KEYS:
            if spec.palette:
                yield SystemCommand(
                    spec.description, f"key: {spec.key}", partial(self.run_action, spec.action)
                )


def target_for(cfg: Config, pod: str | None) -> LogTarget | None:
    """The log target of a pod (or of the deployment), None without a Kubernetes section."""
    if cfg.kubernetes is None:
        return None
    return LogTarget(pod, cfg.kubernetes.selector, cfg.kubernetes.deployment)


def open_logs(
    app: App[Any], cfg: Config, audit: Recorder | None, pod: str | None
) -> LogView | None:
    """Push a log view for `pod` (None: the whole deployment) on the app."""
    if isinstance(app.screen, LogView):  # one log view at a time: `a` switches inside it
        return app.screen
    target = target_for(cfg, pod)
    if target is None:
        app.notify("logs: Kubernetes is not configured", severity="warning")
        return None
    view = LogView(cfg, target, audit=audit)
    app.push_screen(view)
    return view
