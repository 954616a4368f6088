package loadbalancing

import (
	"context"
	"errors"
	"hash/fnv"
	"net"
	"regexp"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const defaultPort = "4317"

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

type backend struct {
	endpoint string
	exporter exporter.Traces
}

type tracesExporter struct {
	set      exporter.Settings
	cfg      *Config
	backends []backend
}

func newTracesExporter(set exporter.Settings, cfg *Config) *tracesExporter {
	return &tracesExporter{set: set, cfg: cfg}
}

// Start creates and starts one OTLP/gRPC exporter (with its own queue and retries) per backend.
func (e *tracesExporter) Start(ctx context.Context, host component.Host) error {
	factory := otlpexporter.NewFactory()
	for _, hostname := range e.cfg.Resolver.Static.Hostnames {
		endpoint := withDefaultPort(hostname)
		cfg := e.cfg.Protocol.OTLP
		cfg.ClientConfig.Endpoint = endpoint
		set := e.set
		// A stable per-backend id, so a persistent sending_queue finds its data after a restart.
		name := e.set.ID.Name() + "_" + unsafeName.ReplaceAllString(endpoint, "_")
		set.ID = component.NewIDWithName(factory.Type(), name)
		set.Logger = e.set.Logger.With(zapEndpoint(endpoint))
		exp, err := factory.CreateTraces(ctx, set, &cfg)
		if err != nil {
			return err
		}
		if err := exp.Start(ctx, host); err != nil {
			return err
		}
		e.backends = append(e.backends, backend{endpoint: endpoint, exporter: exp})
	}
	return nil
}

// Shutdown stops every backend exporter, which drains (or persists) its queue.
func (e *tracesExporter) Shutdown(ctx context.Context) error {
	var errs []error
	for _, b := range e.backends {
		errs = append(errs, b.exporter.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (e *tracesExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeTraces splits the batch by trace id and hands each backend its share.
func (e *tracesExporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if len(e.backends) == 0 {
		return errors.New("load_balancing: no backend started")
	}
	shares := split(td, e.pick)
	var errs []error
	for index, share := range shares {
		errs = append(errs, e.backends[index].exporter.ConsumeTraces(ctx, share))
	}
	return errors.Join(errs...)
}

// pick chooses a backend by rendezvous hashing: the same trace id always lands on the same
// backend, and adding or removing one moves only the traces that backend gains or held.
func (e *tracesExporter) pick(traceID pcommon.TraceID) int {
	best, bestScore := 0, uint64(0)
	for index, b := range e.backends {
		h := fnv.New64a()
		_, _ = h.Write(traceID[:])
		_, _ = h.Write([]byte(b.endpoint))
		if score := h.Sum64(); index == 0 || score > bestScore {
			best, bestScore = index, score
		}
	}
	return best
}

func withDefaultPort(hostname string) string {
	if _, _, err := net.SplitHostPort(hostname); err == nil {
		return hostname
	}
	return net.JoinHostPort(hostname, defaultPort)
}
