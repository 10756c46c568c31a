"""The runbook's operational checklists: the lists, their live verifiers, the backup check and the
endpoint probe."""
