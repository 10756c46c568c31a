"""`cockpit snapshot`: collect every source once (collect) and print it as JSON or tables
(table)."""
