"""The local server's internals; its public names are in ``agentsight_otel.server``."""
