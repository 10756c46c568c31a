"""The tamper-evident audit trail (log), who the operator is (operator) and `cockpit audit`
(cli)."""
