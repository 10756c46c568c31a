"""The quick-reference screen (key `g`): critical URLs, emergency contacts and the runbook's
critical commands rendered for the watched context, namespace and deployment.

Read-only in every mode: it only shows the config. `x` saves it as Markdown to a file.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cockpit.config import Config
from cockpit.quickref import QuickRef, build_quickref, render_text
from cockpit.state import CockpitState
from widgets.footer import StableFooter
from widgets.incidents.detail import save_text


def render_body(ref: QuickRef) -> Text:
    """The quick reference as styled text (config values are never parsed as markup)."""
    out = Text()

    def line(text: str = "", style: str = "") -> None:
        out.append(text + "\n", style=style)

    line("Critical URLs", "bold")
    width = max((len(name) for name, _ in ref.links), default=0)
    for name, url in ref.links:
        out.append(f"  {name.ljust(width)}  ")
        line(url, "underline")
    if not ref.links:
        line("  none configured", "dim")
    line()
    line("Emergency contacts", "bold")
    for role, name, phone in ref.contacts:
        line(f"  {role}: {name}  {phone}")
    if not ref.contacts:
        line("  none configured", "dim")
    line()
    line("Critical commands", "bold")
    for c in ref.commands:
        line(f"  # {c.purpose}", "dim")
        line(f"  $ {c.command}")
    if ref.notes:
        line()
    for note in ref.notes:
        line(note, "yellow")
    out.rstrip()
    return out


class QuickRefScreen(ModalScreen[None]):
    """Who to call, where the dashboards are, what to type."""

    DEFAULT_CSS = """
    QuickRefScreen { align: center middle; }
    QuickRefScreen > VerticalScroll { width: 90%; height: 90%; border: thick $accent;
                                      padding: 0 1; background: $surface; }
    """
    BINDINGS = [Binding("escape,q,g", "close", "Close"), Binding("x", "save", "Save to file")]

    def __init__(self, cfg: Config, state: CockpitState | None = None) -> None:
        super().__init__()
        kube = state.kube if state is not None else None
        # the context and namespace actually in use when the config leaves them to the kubeconfig
        self.ref = build_quickref(
            cfg,
            context=kube.context if kube is not None else None,
            namespace=kube.namespace if kube is not None else None,
        )

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(render_body(self.ref), id="quickref")
        yield StableFooter(fit=False)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        try:
            path = save_text("cockpit-quickref.md", render_text(self.ref))
        except OSError as exc:
            self.notify(f"Not saved: {exc}", severity="error")
            return
        self.notify(f"Saved to {path}", timeout=10)
