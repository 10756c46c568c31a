"""The Kubernetes API simulator: the REST protocol the official client speaks, one module per
concern."""
