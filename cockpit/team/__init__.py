"""Team mode: cockpits of one team sharing their audit entries, incidents, leases and presence
through a PostgreSQL database (the team store). See README "Team mode".

  schema    the `cockpit` schema: versioned, idempotent migrations; the GRANTs per role
  store     the SQL every cockpit runs (entries, incident claims, leases, presence)
  sync      the background thread: upload after the local fsync, LISTEN/NOTIFY, catch-up
  verify    `cockpit audit verify --team`: the local log against the store's copy
  cli       `cockpit team init|status`
"""
