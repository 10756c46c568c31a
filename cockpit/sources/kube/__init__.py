"""Kubernetes: the source (list, then watch), its cache, the watch, the polls, raw HTTP, parsing and
the client."""
