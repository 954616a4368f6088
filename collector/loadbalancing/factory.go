package loadbalancing

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
)

// Type is the component type, the contrib exporter's current name.
var Type = component.MustNewType("load_balancing")

// NewFactory creates the exporter's factory (traces and logs, both routed by trace id).
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		Type,
		createDefaultConfig,
		exporter.WithTraces(createTraces, component.StabilityLevelDevelopment),
		exporter.WithLogs(createLogs, component.StabilityLevelDevelopment),
	)
}

func createDefaultConfig() component.Config {
	otlp := otlpexporter.NewFactory().CreateDefaultConfig().(*otlpexporter.Config)
	// The per-backend endpoint comes from the resolver; a placeholder keeps the OTLP
	// exporter's own validation (which wants an endpoint) satisfied.
	otlp.ClientConfig.Endpoint = "placeholder:4317"
	return &Config{Protocol: Protocol{OTLP: *otlp}, RoutingKey: "traceID"}
}

func createTraces(
	_ context.Context, set exporter.Settings, cfg component.Config,
) (exporter.Traces, error) {
	return newTracesExporter(set, cfg.(*Config)), nil
}

func createLogs(
	_ context.Context, set exporter.Settings, cfg component.Config,
) (exporter.Logs, error) {
	return newLogsExporter(set, cfg.(*Config)), nil
}
