"""Assembly of finished traces and their delivery to AgentSight."""
