"""Pure mapping from span records to AgentSight ingest bodies: no I/O, no clock."""
