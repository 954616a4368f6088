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

// backend is one bridge: its endpoint and the OTLP/gRPC exporter of one signal that feeds it.
type backend[E component.Component] struct {
	endpoint string
	exporter E
}

// balancer holds one signal's backends; traces and logs each get one, and since both pick by
// the same (trace id, endpoint) score, a trace's spans and log records land on one bridge.
type balancer[E component.Component] struct {
	set      exporter.Settings
	cfg      *Config
	create   func(context.Context, exporter.Settings, component.Config) (E, error)
	backends []backend[E]
}

type tracesExporter struct{ balancer[exporter.Traces] }

func newTracesExporter(set exporter.Settings, cfg *Config) *tracesExporter {
	create := otlpexporter.NewFactory().CreateTraces
	return &tracesExporter{balancer[exporter.Traces]{set: set, cfg: cfg, create: create}}
}

// Start creates and starts one OTLP/gRPC exporter (with its own queue and retries) per backend.
func (b *balancer[E]) Start(ctx context.Context, host component.Host) error {
	factoryType := otlpexporter.NewFactory().Type()
	for _, hostname := range b.cfg.Resolver.Static.Hostnames {
		endpoint := withDefaultPort(hostname)
		cfg := b.cfg.Protocol.OTLP
		cfg.ClientConfig.Endpoint = endpoint
		set := b.set
		// A stable per-backend id, so a persistent sending_queue finds its data after a restart.
		name := b.set.ID.Name() + "_" + unsafeName.ReplaceAllString(endpoint, "_")
		set.ID = component.NewIDWithName(factoryType, name)
		set.Logger = b.set.Logger.With(zapEndpoint(endpoint))
		exp, err := b.create(ctx, set, &cfg)
		if err != nil {
			return err
		}
		if err := exp.Start(ctx, host); err != nil {
			return err
		}
		b.backends = append(b.backends, backend[E]{endpoint: endpoint, exporter: exp})
	}
	return nil
}

// Shutdown stops every backend exporter, which drains (or persists) its queue.
func (b *balancer[E]) Shutdown(ctx context.Context) error {
	var errs []error
	for _, be := range b.backends {
		errs = append(errs, be.exporter.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (b *balancer[E]) Capabilities() consumer.Capabilities {
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
func (b *balancer[E]) pick(traceID pcommon.TraceID) int {
	best, bestScore := 0, uint64(0)
	for index, be := range b.backends {
		h := fnv.New64a()
		_, _ = h.Write(traceID[:])
		_, _ = h.Write([]byte(be.endpoint))
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
