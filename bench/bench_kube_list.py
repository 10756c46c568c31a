"""How long the Kubernetes source's initial list + parse of 5,000 pods takes (a benchmark, not a
test).

Starts KubeSim with 5,000 pods, then times, with the real client:
- the raw list (`_preload_content=False`) + `json.loads` + `parse_pod` for every pod, as the
  source's watch thread does it;
- the same list through the client's model objects, for comparison;
- `KubeSource`'s first `collect()` (list of pods, deployment and events, then one snapshot) and
  a steady-state `collect()` (the snapshot of the cache).

Run: .venv/bin/python bench/bench_kube_list.py [pods]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client, config

from cockpit.config import KubernetesConfig, RefreshConfig
from cockpit.lab.kubesim.sim import KubeSim
from cockpit.sources.kube.parse import parse_pod
from cockpit.sources.kube.source import KubeSource

NS, APP = "predictiq", "predictiq-api"


def timed(label: str, fn):
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    print(f"{label:<48} {1000 * (time.perf_counter() - started):8.1f} ms")
    # CPU time too: on a loaded machine the wall clock says more about the others
    print(f"{label + ' (CPU)':<48} {1000 * (time.process_time() - cpu):8.1f} ms")
    return result


async def source_timings(kubeconfig: Path) -> None:
    cfg = KubernetesConfig(
        kubeconfig=str(kubeconfig),
        namespace=NS,
        deployment=APP,
        selector=f"app={APP}",
        request_timeout_seconds=120,
    )
    src = KubeSource(cfg, RefreshConfig(timeout_seconds=120))
    try:
        started = time.perf_counter()
        snap = await src.collect()
        print(
            f"{'KubeSource first collect (lists + snapshot)':<48} "
            f"{1000 * (time.perf_counter() - started):8.1f} ms  ({len(snap.pods)} pods)"
        )
        for _ in range(3):
            started = time.perf_counter()
            await src.collect()
            print(
                f"{'KubeSource steady collect':<48} "
                f"{1000 * (time.perf_counter() - started):8.1f} ms"
            )
    finally:
        await src.aclose()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with (
        KubeSim(namespace=NS, deployment=APP, replicas=count, hpa=None, seed=1) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        kubeconfig = sim.write_kubeconfig(Path(tmp) / "config")
        api_client = config.new_client_from_config(config_file=str(kubeconfig))
        core = client.CoreV1Api(api_client)
        print(f"{count} pods in {NS}")

        def raw_list_and_parse():
            resp = core.list_namespaced_pod(
                NS, label_selector=f"app={APP}", _preload_content=False, _request_timeout=(5, 120)
            )
            items = json.loads(resp.data)["items"]
            return [parse_pod(item) for item in items]

        timed("warm-up raw list", raw_list_and_parse)
        pods = timed("raw list + json.loads + parse_pod", raw_list_and_parse)
        assert len(pods) == count, len(pods)
        resp = core.list_namespaced_pod(
            NS, label_selector=f"app={APP}", _preload_content=False, _request_timeout=(5, 120)
        )
        body = resp.data
        items = timed("  of which json.loads", lambda: json.loads(body)["items"])
        timed("  of which parse_pod x N", lambda: [parse_pod(i) for i in items])
        if count <= 5000:  # seconds per thousand pods: only where it still compares
            timed(
                "model-object list (for comparison)",
                lambda: core.list_namespaced_pod(
                    NS, label_selector=f"app={APP}", _request_timeout=(5, 120)
                ),
            )
        api_client.close()
        asyncio.run(source_timings(kubeconfig))


if __name__ == "__main__":
    main()
