"""Echo Database (shaped like a generated datastore module)."""

DDL = (
    "CREATE TABLE pings (\n  message_id TEXT PRIMARY KEY,\n  text TEXT NOT NULL\n)",
    "CREATE INDEX pings_text ON pings (text)",
)
