"""paint() re-sends only what looks different: the changed cells of the changed lines, nothing
for a change under the ellipsis, and the screen still shows the new text."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import Static

from widgets.paint import paint


class Board(App[None]):
    CSS = """
    #text { width: 30; height: 4; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="text")


def screen_lines(app: App[None]) -> list[str]:
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip) for strip in strips]


async def test_one_changed_number_repaints_its_cells_and_the_screen_shows_it() -> None:
    app = Board()
    async with app.run_test(size=(40, 6)) as pilot:
        box = app.query_one("#text", Static)
        paint(box, "requests 20.1/s\nlatency p99 18ms\nclients 4")
        await pilot.pause()
        assert paint(box, "requests 20.1/s\nlatency p99 24ms\nclients 4")
        # only line 1, from the first changed cell to the last: "24" of "18ms"
        assert box._repaint_regions == {Region(12, 1, 2, 1)}
        await pilot.pause()
        assert screen_lines(app)[:3] == [
            "requests 20.1/s".ljust(40),
            "latency p99 24ms".ljust(40),
            "clients 4".ljust(40),
        ]


async def test_a_change_under_the_ellipsis_sends_nothing_but_is_kept() -> None:
    app = Board()
    async with app.run_test(size=(40, 6)) as pilot:
        box = app.query_one("#text", Static)
        head = "pod predictiq-api-4lsjs9 7.2 req/s"  # longer than 30 cells: cut
        paint(box, f"{head} age 0s\nnext")
        await pilot.pause()
        assert paint(box, f"{head} age 1s\nnext")
        assert not box._repaint_regions
        assert str(box.content).startswith(f"{head} age 1s")  # a resize would show it
        await pilot.pause()
        assert screen_lines(app)[0].startswith(head[:29] + "…")


async def test_a_different_number_of_lines_lays_out_and_repaints_all() -> None:
    app = Board()
    async with app.run_test(size=(40, 6)) as pilot:
        box = app.query_one("#text", Static)
        paint(box, "one\ntwo")
        await pilot.pause()
        paint(box, "one\ntwo\nthree")
        await pilot.pause()
        assert screen_lines(app)[:3] == ["one".ljust(40), "two".ljust(40), "three".ljust(40)]
        assert not paint(box, "one\ntwo\nthree")  # the same text: nothing at all
