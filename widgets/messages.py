"""Messages that carry data into the UI. Producers post them; handlers on the app consume them."""

from __future__ import annotations

from textual.message import Message

from cockpit.models import Snapshot, SourceFailure
from cockpit.paging.report import PageReport


class SnapshotReady(Message):
    """One collection of one source finished: a snapshot or a SourceFailure."""

    def __init__(self, source: str, result: Snapshot | SourceFailure) -> None:
        super().__init__()
        self.source = source
        self.result = result

    def can_replace(self, message: Message) -> bool:
        """A newer result of the same source supersedes a queued older one (bursts collapse)."""
        return isinstance(message, SnapshotReady) and message.source == self.source


class OpenDetail(Message):
    """A pane asks the app to open the detail view of its selected row."""

    def __init__(self, pane: str, key: str) -> None:
        super().__init__()
        self.pane = pane
        self.key = key


class MoreRows(Message):
    """The connections table wants `count` full rows from the next refresh on (scrolled near
    the end of those it has; 0: back to the source's window)."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count


class PageReported(Message):
    """The pager's thread reports how a page went (sent, failed, sent by another cockpit)."""

    def __init__(self, report: PageReport) -> None:
        super().__init__()
        self.report = report
