"""The quick reference: critical URLs, emergency contacts and the runbook's critical commands,
built from the config for the moment someone asks "who do I call, where is the dashboard".

The commands are the runbook's "Critical Commands" (its aliases spelled out) rendered for the
watched context, namespace, deployment and selector, every value shell-quoted. Secrets never
appear: the database and cache are referenced as $DATABASE_URL / $REDIS_URL, as in the runbook.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from cockpit.config import Config


@dataclass(frozen=True)
class Command:
    """One command with what it is for."""

    purpose: str
    command: str


@dataclass(frozen=True)
class QuickRef:
    """Everything the quick-reference screen shows."""

    links: tuple[tuple[str, str], ...]  # (name, url)
    contacts: tuple[tuple[str, str, str], ...]  # (role, name, phone)
    commands: tuple[Command, ...]
    notes: tuple[str, ...] = ()  # what is missing from the config


def kubectl_prefix(context: str, namespace: str) -> str:
    """`kubectl --context X -n NS` (no --context when the current context is meant, no -n when
    the context's own namespace is)."""
    parts = ["kubectl"]
    if context:
        parts += ["--context", shlex.quote(context)]
    if namespace:
        parts += ["-n", shlex.quote(namespace)]
    return " ".join(parts)


def _kube_commands(cfg: Config, context: str, namespace: str) -> list[Command]:
    k = cfg.kubernetes
    assert k is not None
    kc = kubectl_prefix(context, namespace)
    sel, dep = shlex.quote(k.selector), shlex.quote(f"deployment/{k.deployment}")
    return [
        Command("Pods of the API (kgp)", f"{kc} get pods -l {sel} -o wide"),
        Command("Quick status (status)", f"{kc} get pods,svc,deployment"),
        Command("Follow the logs (klf)", f"{kc} logs -f -l {sel} --tail=100"),
        Command("Describe the pods (kdp)", f"{kc} describe pod -l {sel}"),
        Command("Resource use", f"{kc} top pods -l {sel}"),
        Command("Rollout status", f"{kc} rollout status {dep}"),
        Command("Roll back the last release", f"{kc} rollout undo {dep}"),
        Command(
            "Recent warnings",
            f"{kc} get events --field-selector type=Warning --sort-by=.lastTimestamp",
        ),
    ]


def build_quickref(
    cfg: Config, context: str | None = None, namespace: str | None = None
) -> QuickRef:
    """The quick reference for this config. `context` / `namespace` are the ones actually in use
    (from the Kubernetes snapshot), for when the config leaves them to the kubeconfig."""
    notes: list[str] = []
    links = [(link.name, link.url) for link in cfg.links]
    if cfg.api is not None and not any(
        url.rstrip("/") == cfg.api.base_url.rstrip("/") for _, url in links
    ):
        links.insert(0, ("API (watched)", cfg.api.base_url))
    if not cfg.links:
        notes.append("no [[links]] configured: add Grafana, staging, the paging service")
    contacts = [(c.role, c.name or "—", c.phone or "—") for c in cfg.contacts]
    if not contacts:
        notes.append("no [[contacts]] configured: add the on-call rota and leads")
    commands: list[Command] = []
    if cfg.kubernetes is not None:
        commands += _kube_commands(
            cfg,
            cfg.kubernetes.context or context or "",
            cfg.kubernetes.namespace or namespace or "",
        )
    else:
        notes.append("no [kubernetes] configured: kubectl commands left out")
    if cfg.api is not None:
        health = shlex.quote(cfg.api.base_url.rstrip("/") + cfg.api.health_path)
        commands.append(Command("Health check", f"curl -fsS --max-time 5 {health}"))
    if cfg.database is not None:
        commands += [
            Command("Database shell (psql-prod)", 'psql "$DATABASE_URL"'),
            Command(
                "Connections by state",
                'psql "$DATABASE_URL" -c "SELECT state, count(*) '
                'FROM pg_stat_activity GROUP BY state"',
            ),
            Command("Backup (backup)", 'pg_dump -Fc "$DATABASE_URL" > backup_$(date +%Y%m%d).dump'),
        ]
    if cfg.backup.directory:
        newest = shlex.quote(cfg.backup.directory.rstrip("/")) + "/" + cfg.backup.pattern
        commands.append(
            Command(
                "Check the newest backup reads",
                f'pg_restore --list "$(ls -t {newest} | head -1)" | head',
            )
        )
    if cfg.cache is not None:
        commands.append(Command("Cache hit/miss counters", 'redis-cli -u "$REDIS_URL" info stats'))
    return QuickRef(tuple(links), tuple(contacts), tuple(commands), tuple(notes))


def render_text(ref: QuickRef) -> str:
    """The quick reference as plain Markdown (to copy or save)."""
    out = ["# Quick reference", "", "## Critical URLs", ""]
    out += [f"- {name}: {url}" for name, url in ref.links] or ["- (none configured)"]
    out += ["", "## Emergency contacts", ""]
    out += [f"- {role}: {name}, {phone}" for role, name, phone in ref.contacts] or [
        "- (none configured)"
    ]
    out += ["", "## Critical commands", "", "```bash"]
    for c in ref.commands:
        out += [f"# {c.purpose}", c.command]
    out += ["```"]
    if ref.notes:
        out += ["", *(f"> {n}" for n in ref.notes)]
    return "\n".join(out) + "\n"
