# kubernetes/config: the two kubeconfig readers the cockpit calls (unannotated in the client).
from kubernetes.client import ApiClient, Configuration

def list_kube_config_contexts(
    config_file: str | None = None,
) -> tuple[list[dict[str, object]], dict[str, object]]: ...
def new_client_from_config(
    config_file: str | None = None,
    context: str | None = None,
    persist_config: bool = True,
    client_configuration: Configuration | None = None,
) -> ApiClient: ...
