"""The package version, in one place."""

__version__ = "0.1.0"
SDK_NAME = "agentsight-otel"
