"""The OTLP bridge's internals; its public names are in ``agentsight_otel.bridge``."""
