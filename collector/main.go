// Program agentsight-otelcol is the OpenTelemetry Collector distribution the project tests the
// Collector route on: core components plus file_storage, and a trace-id load balancer of its own.
//
// Written by hand in the shape cmd/builder generates (see README.md for why not the builder).
package main

import (
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// release is the Collector release every module in go.mod is pinned to.
const release = "0.165.0"

func main() {
	info := component.BuildInfo{
		Command:     "agentsight-otelcol",
		Description: "OpenTelemetry Collector for the agentsight-otel Collector route",
		Version:     release,
	}
	set := otelcol.CollectorSettings{
		BuildInfo: info,
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		// cobra has already printed the error.
		os.Exit(1)
	}
}
