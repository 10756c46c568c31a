"""The log view's search reads a line's plain text built without Rich (head + body, cached
apart so toggling timestamps does not redo the whole buffer): it is exactly the text drawn."""

from __future__ import annotations

import json
from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.sources.kube.logtext import DISPLAY_LIMIT, LogLine
from widgets.screens.logs_render import RenderOptions, body_plain, head_plain, line_text

ALL_OPTIONS = [RenderOptions(*flags) for flags in product((False, True), repeat=3)]
SAMPLES = [
    '{"level":"warn","msg":"rate limit exceeded","status":429,"latency_ms":12.5}',
    '{"time":"2026-12-02T01:00:00Z","level":"error","message":"boom","nested":{"a":[1,2]}}',
    '{"msg":"no level"}',
    "plain text line",
    "hostile \x1b]0;pwned\x07 and \x1b[2J and a tab\there",
    '{"level":"info","msg":"\\u001b[2J escaped in JSON"}',
    "[1, 2, 3]",
    "x" * (DISPLAY_LIMIT + 10),
]


def plain(line: LogLine, options: RenderOptions) -> str:
    return head_plain(line, options) + body_plain(line, options.raw_json)


def test_head_and_body_are_the_drawn_text_for_every_toggle() -> None:
    for seq, text in enumerate(SAMPLES):
        line = LogLine(1_764_637_200_123_456_789, "predictiq-api-7d9f8c-x2k9q", text, seq)
        for options in ALL_OPTIONS:
            assert plain(line, options) == line_text(line, options).plain


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.dictionaries(st.text(max_size=8), st.one_of(st.text(), st.integers(), st.none())).map(
            json.dumps
        ),
    ),
    st.integers(min_value=0, max_value=2**62),
)
def test_any_line_reads_the_same_plain_and_drawn(text: str, stamp: int) -> None:
    line = LogLine(stamp, "pod-a", text, 1)
    for options in ALL_OPTIONS:
        assert plain(line, options) == line_text(line, options).plain
