"""Rollout progress as `kubectl rollout status` judges it, from a deployment's JSON."""

from __future__ import annotations

from actions.restart import rollout_progress


def deployment(generation: int, observed: int, replicas: int = 5, **status: int) -> dict:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": observed, **status},
    }


def test_status_of_the_old_generation_is_not_done_even_when_its_counts_are_full():
    """Right after the PATCH the status still counts the old pods as updated and ready."""
    done, line = rollout_progress(
        deployment(2, 1, replicas=5, updatedReplicas=5, readyReplicas=5, availableReplicas=5)
    )
    assert not done and "generation 2" in line


def test_progress_then_done():
    done, line = rollout_progress(
        deployment(2, 2, replicas=5, updatedReplicas=2, readyReplicas=5, availableReplicas=5)
    )
    assert not done and line == "updated 2/5, ready 5/5, available 5/5"
    full = deployment(2, 2, replicas=5, updatedReplicas=5, readyReplicas=5, availableReplicas=5)
    full["status"]["replicas"] = 5
    assert rollout_progress(full) == (True, "updated 5/5, ready 5/5, available 5/5")


def test_old_pods_still_terminating_is_not_done():
    dep = deployment(2, 2, replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=3)
    dep["status"]["replicas"] = 4  # one old pod not gone yet
    assert rollout_progress(dep)[0] is False
