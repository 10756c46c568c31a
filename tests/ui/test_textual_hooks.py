"""The private Textual hooks the cockpit keeps, pinned: each test fails loudly when a Textual
release renames, moves or stops calling one, instead of the cockpit silently losing what the
hook gave it (containment, the one-line fatal error, the two-toast cap, the leak-free footer).

Where Textual 8.2 has a public API the cockpit uses it (Worker.StateChanged for workers, notify,
on_click); these have none:
- `MessagePump._on_message`: runs every handler of a message; the pane wraps it (panes/base.py).
- `App._handle_exception` / `_fatal_error` / `_exit_renderables` / `_close_messages_no_wait`:
  the uncaught-exception path; the app logs and prints one line (app.py).
- `App._refresh_notifications` / `App._notifications` / `textual.widgets._toast`: the toast rack
  (toasts.py).
- `Footer._bindings_ready`, `textual.widgets._footer.FooterKey`: the footer's keys (footer.py).
"""

from __future__ import annotations

import inspect

import textual
from textual.app import App
from textual.message_pump import MessagePump
from textual.notifications import Notification, Notifications
from textual.widgets import Footer
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast, ToastRack

from widgets.app import CockpitApp
from widgets.footer import StableFooter
from widgets.panes.base import Pane
from widgets.toasts import newest


def test_the_pinned_textual_minor_is_the_one_these_hooks_were_checked_with() -> None:
    assert textual.__version__.startswith("8.2."), (
        f"Textual {textual.__version__}: re-check every hook in this file, then the pin"
    )


def test_every_handler_of_a_message_runs_inside_message_pump_on_message() -> None:
    assert "await self._on_message(message)" in inspect.getsource(MessagePump._dispatch_message)
    assert "invoke(method, message)" in inspect.getsource(MessagePump._on_message)
    assert "_on_message" in vars(Pane)  # the pane's boundary overrides it


def test_an_uncaught_exception_goes_through_handle_exception_then_fatal_error() -> None:
    handle = inspect.getsource(App._handle_exception)
    assert "self._fatal_error()" in handle
    fatal = inspect.getsource(App._fatal_error)
    assert "self._exit_renderables.append" in fatal and "self._close_messages_no_wait()" in fatal
    assert {"_handle_exception", "_fatal_error"} <= set(vars(CockpitApp))


def test_notifications_reach_the_rack_through_refresh_notifications() -> None:
    assert "self._refresh_notifications()" in inspect.getsource(App._on_notify)
    assert "toast_rack.show, self._notifications" in inspect.getsource(App._refresh_notifications)
    assert isinstance(App()._notifications, Notifications)
    show = inspect.signature(ToastRack.show)
    assert list(show.parameters) == ["self", "notifications"]
    assert show.parameters["notifications"].annotation in ("Notifications", Notifications)
    assert "_refresh_notifications" in vars(CockpitApp)


def test_a_toast_keeps_its_notification_and_newest_hands_the_rack_notifications() -> None:
    note = Notification("hello", "", "information", 10)
    assert Toast(note)._notification is note
    later = Notification("later", "", "information", 10)
    shown = newest([note, later], 1)
    assert isinstance(shown, Notifications) and list(shown) == [later]


def test_the_footer_hooks_exist_as_the_stable_footer_uses_them() -> None:
    assert isinstance(vars(Footer)["_bindings_ready"], textual.reactive.Reactive)
    assert "if not self._bindings_ready" in inspect.getsource(Footer.compose)
    assert "self._bindings_ready = True" in inspect.getsource(Footer.bindings_changed)
    assert "data_bind(compact=Footer.compact)" in inspect.getsource(Footer.compose)  # the leak
    assert isinstance(vars(FooterKey)["compact"], textual.reactive.Reactive)
    assert issubclass(StableFooter, Footer)
