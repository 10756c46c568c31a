"""The one key registry: the footer, the help screen and the command palette all read it.

View keys are declared here; action keys come from `actions.registry.ACTIONS`. In read-only mode
mutating actions are left out entirely, so they are neither bound, nor shown, nor offered in the
palette.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from textual.binding import Binding


@dataclass(frozen=True)
class KeySpec:
    """One key: what it runs (a Textual action string) and how it is described to the operator."""

    key: str
    action: str
    description: str
    group: str = "view"  # "view", "navigation" or "action"
    show: bool = False  # in the footer
    palette: bool = True  # offered in the command palette
    mutating: bool = False
    action_id: str | None = None  # the actions registry id, for action keys
    label: str = ""  # short footer label; empty: the description
    scope: str = "global"  # or the pane ("database") whose selected row the action needs

    @property
    def footer_label(self) -> str:
        """The footer's short text."""
        return self.label or self.description


# Order matters: the footer shows keys in registry order and is cut at the right edge at 80
# columns, so help, quit, the lab menu and the actions come before the screens and table tools.
VIEW_KEYS: tuple[KeySpec, ...] = (
    KeySpec("tab", "next_pane", "Focus the next pane", "navigation", palette=False),
    KeySpec("shift+tab", "previous_pane", "Focus the previous pane", "navigation", palette=False),
    *(
        KeySpec(str(n), f"focus_pane({n})", f"Focus pane {n} ({name})", "navigation")
        for n, name in enumerate(
            ("Pods", "Database", "Cache", "Certificates", "API", "Incidents"), start=1
        )
    ),
    KeySpec(
        "enter", "open_detail", "Open the detail of the selected row", "navigation", palette=False
    ),
    KeySpec("question_mark", "help", "Show every key", show=True, label="help"),
    KeySpec(
        "q",
        "request_quit",
        "Quit (asks first while an action is in flight)",
        show=True,
        label="quit",
    ),
)

# Screens and table tools, after the actions in the footer.
TOOL_KEYS: tuple[KeySpec, ...] = (
    KeySpec(
        "c",
        "checklists",
        "Checklists: pre/post-deployment, daily, weekly, monthly",
        show=True,
        label="checklists",
    ),
    KeySpec(
        "g", "quickref", "Quick reference: URLs, contacts, commands", show=True, label="quick ref"
    ),
    KeySpec("slash", "filter", "Filter the focused table", show=True, label="filter"),
    KeySpec("o", "sort_next", "Sort the focused table by the next column", show=True, label="sort"),
    KeySpec("O", "sort_reverse", "Reverse the sort order of the focused table"),
    # PostgreSQL diagnosis (issue 18): read-only views, so in every mode
    KeySpec("t", "statements", "Statements: slowest and costliest, with their recent trend"),
    KeySpec("e", "explain", "Explain the selected query (database pane), without running it"),
    KeySpec("b", "blocking_tree", "Blocking tree: who blocks whom, the root blocker first"),
    KeySpec("l", "pod_logs", "Logs of the selected pod (the deployment's when no pod is selected)"),
    KeySpec("A", "deployment_logs", "Logs of the deployment: every pod merged by time"),
)

# The log view's keys (widgets/screens/logs.py): its bindings, help and palette.
LOG_KEYS: tuple[KeySpec, ...] = (
    KeySpec(
        "f",
        "toggle_follow",
        "Follow / pause (paused: new lines are counted)",
        show=True,
        label="follow",
    ),
    KeySpec(
        "slash",
        "search",
        "Search: a regex or plain text, matches highlighted",
        show=True,
        label="search",
    ),
    KeySpec("n", "next_match", "Next match"),
    KeySpec("N", "previous_match", "Previous match"),
    KeySpec(
        "h",
        "toggle_hide",
        "Hide the lines that do not match (2 lines of context kept)",
        show=True,
        label="hide",
    ),
    KeySpec(
        "p",
        "toggle_previous",
        "The previous container's logs (what crashed)",
        show=True,
        label="previous",
    ),
    KeySpec("c", "pick_container", "Pick the container", show=True, label="container"),
    KeySpec(
        "a",
        "all_pods",
        "Logs of the deployment: every pod merged by time",
        show=True,
        label="all pods",
    ),
    *(
        KeySpec(str(n), f"since({n})", f"Since {label}")
        for n, label in enumerate(
            ("1 minute", "5 minutes", "15 minutes", "1 hour", "all of the tail"), start=1
        )
    ),
    KeySpec("t", "toggle_timestamps", "Timestamps on / off"),
    KeySpec("w", "toggle_wrap", "Wrap long lines on / off"),
    KeySpec("j", "toggle_json", "JSON lines as raw JSON / as time level message key=value"),
    KeySpec(
        "s",
        "save",
        "Save the lines held to a file in the state directory (audited)",
        show=True,
        label="save",
    ),
    KeySpec("y", "copy_line", "Copy the line under the cursor (OSC 52)"),
    KeySpec("question_mark", "help", "Show every key of the log view", show=True, label="help"),
    KeySpec("escape", "close", "Close the log view", show=True, label="close"),
    KeySpec("up", "cursor(-1)", "Cursor up a line", "navigation", palette=False),
    KeySpec("down", "cursor(1)", "Cursor down a line", "navigation", palette=False),
    KeySpec("pageup", "page(-1)", "Up a page", "navigation", palette=False),
    KeySpec("pagedown", "page(1)", "Down a page", "navigation", palette=False),
    KeySpec("home", "cursor_to(0)", "The oldest line", "navigation", palette=False),
    KeySpec(
        "end", "cursor_to(-1)", "The newest line (and follow again)", "navigation", palette=False
    ),
)


# Operator steps that write only the audit trail and the cockpit's own incident list: hidden in
# read-only mode like the actions, so a monitor screen changes nothing.
OPERATOR_KEYS: tuple[KeySpec, ...] = (
    KeySpec(
        "D",
        "declare_incident",
        "Declare an incident by hand (a user report)",
        "incident",
        show=True,
        mutating=True,
        label="declare",
    ),
    KeySpec(
        "U",
        "acknowledge_interrupted",
        "Acknowledge the actions whose result is unknown (the cockpit that ran them ended)",
        "incident",
        mutating=True,
        label="seen",
    ),
)

# Only in `cockpit demo`: the lab menu that injects and clears drills.
LAB_KEYS: tuple[KeySpec, ...] = (
    KeySpec(
        "L", "lab_menu", "Lab menu: inject or clear a drill (demo only)", show=True, label="lab"
    ),
)


class ActionSpec(Protocol):
    """What the registry reads of an action (actions.base.Action has more)."""

    @property
    def id(self) -> str: ...

    @property
    def key(self) -> str: ...


def _action_specs() -> list[ActionSpec]:
    """`actions.registry.ACTIONS` (a mapping id -> Action; a plain list of specs works too)."""
    from actions.registry import ACTIONS

    return list(ACTIONS.values()) if isinstance(ACTIONS, Mapping) else list(ACTIONS)


def _first_word(text: str) -> str:
    return text.split()[0].lower() if text.split() else text


def key_registry(
    read_only: bool, actions: Iterable[ActionSpec] | None = None, *, lab: bool = False
) -> tuple[KeySpec, ...]:
    """Every key of the cockpit for this mode, view keys first.

    `actions` defaults to `actions.registry.ACTIONS`; each has `id`, `key`, `description` and
    `mutating`. `lab` adds the demo's lab menu.
    """
    specs = list(VIEW_KEYS)
    if lab:
        specs += LAB_KEYS
    for action in _action_specs() if actions is None else actions:
        mutating = bool(getattr(action, "mutating", True))
        if read_only and mutating:
            continue  # read-only: not bound, not shown, not in the palette
        action_id = str(action.id)
        description = str(getattr(action, "description", "") or action_id)
        specs.append(
            KeySpec(
                key=str(action.key),
                action=f"run_action({action_id!r})",
                description=description,
                group="action",
                show=bool(getattr(action, "footer", True)) and bool(action.key),
                mutating=mutating,
                action_id=action_id,
                label=str(getattr(action, "label", "") or _first_word(description)),
                scope=str(getattr(action, "scope", "global") or "global"),
            )
        )
    if not read_only:
        specs += OPERATOR_KEYS
    return tuple(specs + list(TOOL_KEYS))


def bindings(specs: tuple[KeySpec, ...], prefix: str = "") -> list[Binding]:
    """Textual bindings for the registry; `prefix` ("app.") routes them to the app."""
    return [
        Binding(s.key, prefix + s.action, s.footer_label, show=s.show) for s in specs if s.key
    ]  # an action without a key (pause/resume rollout) is run from the command palette only


def display_key(key: str) -> str:
    """How a key is written on screen: '/', '?', 'shift+tab'; 'palette' for an action that has
    no key (the command palette runs it)."""
    return {"slash": "/", "question_mark": "?", "": "palette"}.get(key, key)
