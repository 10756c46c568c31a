"""Hypothesis strategies for what a Kubernetes API server may legally send (and a little more):
every optional field absent or null, init containers, deletion in progress, terminated without
an exit code, 253-character names, non-ASCII labels, quantities in every unit the API accepts."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

JSON = dict[str, Any]

DEPLOYMENT = "predictiq-api"
# Every way the API server spells a quantity (resource.Quantity): SI and binary suffixes,
# decimal exponents, fractions, bare numbers; metrics-server's nanocores and Ki.
QUANTITIES = (
    st.sampled_from(
        [
            "100m",
            "1.5",
            "2Gi",
            "1e3",
            "512Ki",
            "0",
            "250m",
            "1",
            "912345678n",
            "308224Ki",
            "1G",
            "0.5",
            "1500u",
            "3E",
            "1Pi",
            "128974848",
            "129e6",
            "129M",
            "123Mi",
            "5Ti",
            "1k",
            "2.5e-3",
        ]
    )
    | st.integers(0, 64)
    | st.floats(0, 64, allow_nan=False, allow_infinity=False)
)
TIMES = st.sampled_from(
    [
        "2025-05-01T10:00:00Z",
        "2025-05-01T10:05:30.123456Z",
        "2026-11-27T11:50:32+00:00",
        "2025-05-01T10:00:00",
        "not a time",
        "",
    ]
)
REASONS_WAITING = st.sampled_from(
    [
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ContainerCreating",
        "PodInitializing",
        "CreateContainerConfigError",
        "",
    ]
)
REASONS_TERMINATED = st.sampled_from(["OOMKilled", "Error", "Completed", "ContainerCannotRun", ""])
PHASES = st.sampled_from(["Pending", "Running", "Succeeded", "Failed", "Unknown", ""])
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
NON_ASCII = st.sampled_from(["ünïcode", "日本語", "emoji-🚀", "Ελληνικά", "a\u200bb"])


def nullable(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value, or JSON null."""
    return st.none() | strategy


def obj(
    required: dict[str, st.SearchStrategy[Any]] | None = None, **optional: st.SearchStrategy[Any]
) -> st.SearchStrategy[JSON]:
    """An object whose optional keys are each absent, null or a value."""
    return st.fixed_dictionaries(
        required or {}, optional={k: nullable(v) for k, v in optional.items()}
    )


def dns_label(max_size: int = 20) -> st.SearchStrategy[str]:
    return st.from_regex(rf"\A[a-z0-9]([a-z0-9-]{{0,{max_size}}}[a-z0-9])?\Z", fullmatch=True)


# Pod names: short, or the full 253 characters a DNS subdomain may have.
NAMES = st.builds(lambda suffix: f"{DEPLOYMENT}-{suffix}", dns_label()) | st.builds(
    lambda suffix: (f"{DEPLOYMENT}-{suffix}-" + "x" * 253)[:252] + "z", dns_label(8)
)

RESOURCE_LIST = obj(cpu=QUANTITIES, memory=QUANTITIES)
RESOURCES = obj(requests=RESOURCE_LIST, limits=RESOURCE_LIST)

STATE = st.one_of(
    st.just({}),
    st.builds(lambda d: {"running": d}, nullable(obj(startedAt=TIMES))),
    st.builds(lambda d: {"waiting": d}, nullable(obj(reason=REASONS_WAITING, message=TEXT))),
    # terminated: exitCode is required by the API, but a lying server may leave it out
    st.builds(
        lambda d: {"terminated": d},
        nullable(
            obj(
                exitCode=st.integers(-1, 255),
                reason=REASONS_TERMINATED,
                signal=st.integers(0, 64),
                finishedAt=TIMES,
                message=TEXT,
            )
        ),
    ),
)


def container_spec(name: str, init: bool = False) -> st.SearchStrategy[JSON]:
    extra = {"restartPolicy": st.just("Always")} if init else {}
    return obj({"name": st.just(name)}, image=TEXT, resources=RESOURCES, **extra)


def container_status(name: str) -> st.SearchStrategy[JSON]:
    return obj(
        {"name": st.just(name)},
        ready=st.booleans(),
        started=st.booleans(),
        restartCount=st.integers(0, 10_000),
        state=STATE,
        lastState=STATE,
    )


@st.composite
def containers(
    draw: st.DrawFn, prefix: str, init: bool, max_size: int
) -> tuple[list[JSON], list[JSON]]:
    """(specs, statuses): statuses for any subset of the containers (or none at all)."""
    names = draw(st.lists(dns_label(6), max_size=max_size, unique=True))
    specs = [draw(container_spec(f"{prefix}{n}", init)) for n in names]
    statuses = [draw(container_status(f"{prefix}{n}")) for n in names if draw(st.booleans())]
    return specs, statuses


CONDITIONS = st.lists(
    obj(
        {"type": st.sampled_from(["Ready", "Initialized", "PodScheduled", "ContainersReady"])},
        status=st.sampled_from(["True", "False", "Unknown"]),
        reason=st.sampled_from(["Unschedulable", "ContainersNotReady", ""]),
        message=TEXT,
    ),
    max_size=4,
)


@st.composite
def pods(draw: st.DrawFn, name: str, uid: str, nodes: list[str]) -> JSON:
    """One pod as the API may send it: `status` missing, `containerStatuses` missing, init
    containers only, `nodeName` absent or null, `deletionTimestamp` set, ..."""
    specs, statuses = draw(containers("c-", False, 3))
    init_specs, init_statuses = draw(containers("init-", True, 2))
    labels = {"app": DEPLOYMENT}
    labels.update(draw(st.dictionaries(dns_label(8), NON_ASCII | TEXT, max_size=2)))
    meta: JSON = {"name": name, "namespace": "predictiq", "uid": uid, "labels": labels}
    meta.update(
        draw(
            obj(
                creationTimestamp=TIMES,
                deletionTimestamp=TIMES,
                annotations=st.dictionaries(TEXT, TEXT, max_size=2),
            )
        )
    )
    spec: JSON = draw(obj(nodeName=st.sampled_from(nodes) if nodes else TEXT))
    if specs or draw(st.booleans()):
        spec["containers"] = specs
    if init_specs:
        spec["initContainers"] = init_specs
    pod: JSON = {"metadata": meta, "spec": spec}
    if draw(st.booleans()):  # a pod just created has no status yet
        status: JSON = draw(
            obj(
                phase=PHASES,
                reason=st.sampled_from(["Evicted", "NodeLost", ""]),
                message=TEXT,
                conditions=CONDITIONS,
            )
        )
        if statuses or draw(st.booleans()):
            status["containerStatuses"] = draw(nullable(st.just(statuses)))
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        pod["status"] = draw(nullable(st.just(status)))
    return pod


@st.composite
def pod_lists(draw: st.DrawFn, nodes: list[str], max_size: int = 8) -> list[JSON]:
    names = draw(st.lists(NAMES, max_size=max_size, unique=True))
    uids = draw(
        st.lists(st.uuids().map(str), min_size=len(names), max_size=len(names), unique=True)
    )
    return [draw(pods(n, u, nodes)) for n, u in zip(names, uids, strict=True)]


DEPLOYMENTS = st.builds(
    lambda meta, spec, status: {
        "metadata": {"name": DEPLOYMENT, "namespace": "predictiq", **meta},
        "spec": spec,
        "status": status,
    },
    obj(generation=st.integers(0, 50), uid=st.uuids().map(str)),
    obj(
        replicas=st.integers(0, 100),
        paused=st.booleans(),
        template=obj(metadata=obj(annotations=obj(**{"kubectl.kubernetes.io/restartedAt": TIMES}))),
    ),
    obj(
        observedGeneration=st.integers(0, 50),
        replicas=st.integers(0, 100),
        updatedReplicas=st.integers(0, 100),
        readyReplicas=st.integers(0, 100),
        availableReplicas=st.integers(0, 100),
        conditions=st.lists(
            obj(
                {"type": st.just("Progressing")},
                reason=st.sampled_from(["ProgressDeadlineExceeded", "NewReplicaSetAvailable"]),
                message=TEXT,
            ),
            max_size=1,
        ),
    ),
)

HPAS = st.builds(
    lambda name, spec, status: {
        "metadata": {"name": name, "uid": name},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": DEPLOYMENT}, **spec},
        "status": status,
    },
    dns_label(),
    obj(
        minReplicas=st.integers(1, 10),
        maxReplicas=st.integers(0, 100),
        targetCPUUtilizationPercentage=st.integers(1, 100),
        metrics=st.lists(
            obj(
                {"type": st.just("Resource")},
                resource=obj(
                    {"name": st.just("cpu")}, target=obj(averageUtilization=st.integers(1, 100))
                ),
            ),
            max_size=2,
        ),
    ),
    obj(currentReplicas=st.integers(0, 100), desiredReplicas=st.integers(0, 100)),
)


def events(pod_names: list[str]) -> st.SearchStrategy[list[JSON]]:
    about = st.sampled_from(pod_names) if pod_names else st.just(f"{DEPLOYMENT}-gone")
    event = st.builds(
        lambda uid, name, rest: {
            "metadata": {"uid": uid},
            "type": "Warning",
            "involvedObject": {"kind": "Pod", "name": name},
            **rest,
        },
        st.uuids().map(str),
        about,
        obj(
            reason=st.sampled_from(["BackOff", "OOMKilling", "FailedScheduling", "Evicted"]),
            message=NON_ASCII | TEXT,
            count=st.integers(0, 10_000),
            series=obj(count=st.integers(0, 10_000)),
            lastTimestamp=TIMES,
            eventTime=TIMES,
            firstTimestamp=TIMES,
        ),
    )
    return st.lists(event, max_size=5)


def node_objects(names: list[str]) -> st.SearchStrategy[list[JSON]]:
    condition = obj(
        {"type": st.sampled_from(["Ready", "DiskPressure", "MemoryPressure", "PIDPressure"])},
        status=st.sampled_from(["True", "False", "Unknown"]),
    )
    return st.tuples(
        *(
            st.builds(
                lambda n, s: {"metadata": {"name": n}, "status": s},
                st.just(n),
                obj(conditions=st.lists(condition, max_size=4)),
            )
            for n in names
        )
    ).map(list)


def pod_metrics(pod_names: list[str]) -> st.SearchStrategy[list[JSON]]:
    usage = obj(cpu=QUANTITIES, memory=QUANTITIES)
    return st.tuples(
        *(
            st.builds(
                lambda n, cs: {"metadata": {"name": n}, "containers": cs},
                st.just(n),
                st.lists(obj(usage=usage), max_size=2),
            )
            for n in pod_names
        )
    ).map(list)
