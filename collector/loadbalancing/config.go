// Package loadbalancing is a small trace-id load-balancing exporter: each trace goes, whole, to
// one of a fixed set of OTLP/gRPC backends, and its log records go with it.
//
// Its keys are the subset of the contrib `load_balancing` exporter the project documents
// (routing_key: traceID, protocol.otlp, resolver.static), so collector-config.yaml reads the same
// on both; it exists because that contrib module is not served by the Go module proxy here.
package loadbalancing

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/exporter/otlpexporter"
)

// Config is the exporter's configuration.
type Config struct {
	Protocol   Protocol `mapstructure:"protocol"`
	Resolver   Resolver `mapstructure:"resolver"`
	RoutingKey string   `mapstructure:"routing_key"`
}

// Protocol holds the settings of the per-backend OTLP/gRPC exporter; its endpoint is ignored.
type Protocol struct {
	OTLP otlpexporter.Config `mapstructure:"otlp"`
}

// Resolver says where the backends are; only a static list is supported.
type Resolver struct {
	Static *StaticResolver `mapstructure:"static"`
}

// StaticResolver is a fixed list of backends, host:port (port 4317 when left out).
type StaticResolver struct {
	Hostnames []string `mapstructure:"hostnames"`
}

// Validate refuses what this exporter does not implement rather than ignoring it.
func (c *Config) Validate() error {
	if c.RoutingKey != "traceID" {
		return fmt.Errorf("routing_key %q is not supported: only traceID", c.RoutingKey)
	}
	if c.Resolver.Static == nil || len(c.Resolver.Static.Hostnames) == 0 {
		return errors.New("resolver.static.hostnames must list at least one backend")
	}
	return nil
}
