"""Benchmarks for agentsight_otel (not tests): ``python -m bench`` prints a report.

Modules: ``hot_path`` (per-call cost of tracking), ``export_throughput`` (mapping and
serialization, spans/s), ``wire_size`` (bytes per span); ``spans`` builds the shared span batch,
``timing`` does the interleaved measuring, ``suite`` runs them all and ``report`` prints.
"""
