package loadbalancing

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// recorder stands in for one backend's OTLP exporter: it keeps what it was handed.
type recorder struct {
	batches []ptrace.Traces
	err     error
}

func (r *recorder) Start(context.Context, component.Host) error { return nil }
func (r *recorder) Shutdown(context.Context) error              { return r.err }
func (r *recorder) Capabilities() consumer.Capabilities         { return consumer.Capabilities{} }
func (r *recorder) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	r.batches = append(r.batches, td)
	return r.err
}

func traceID(n uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[8:], n)
	id[0] = 0xa5
	return id
}

func exporterWith(endpoints ...string) (*tracesExporter, []*recorder) {
	e := &tracesExporter{}
	recorders := make([]*recorder, len(endpoints))
	for i, endpoint := range endpoints {
		recorders[i] = &recorder{}
		e.backends = append(e.backends, backend[exporter.Traces]{endpoint, recorders[i]})
	}
	return e, recorders
}

// batch builds two resources with two scopes each; span k of trace t is named "t<t>-<k>".
func batch(traces, spansPerTrace int) ptrace.Traces {
	td := ptrace.NewTraces()
	for r := 0; r < 2; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutInt("resource", int64(r))
		rs.SetSchemaUrl("https://example.invalid/schema")
		for s := 0; s < 2; s++ {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("scope-" + string(rune('a'+s)))
			for t := 0; t < traces; t++ {
				for k := 0; k < spansPerTrace; k++ {
					if (t+k+r+s)%2 != 0 {
						continue
					}
					span := ss.Spans().AppendEmpty()
					span.SetTraceID(traceID(uint64(t)))
					span.SetName("span")
				}
			}
		}
	}
	return td
}

func spanCount(td ptrace.Traces) int { return td.SpanCount() }

func TestValidateRefusesWhatIsNotImplemented(t *testing.T) {
	static := Resolver{Static: &StaticResolver{Hostnames: []string{"bridge:4317"}}}
	cases := map[string]struct {
		cfg     Config
		message string
	}{
		"service routing": {Config{RoutingKey: "service", Resolver: static}, "routing_key"},
		"empty routing":   {Config{RoutingKey: "", Resolver: static}, "routing_key"},
		"no resolver":     {Config{RoutingKey: "traceID"}, "hostnames"},
		"no hostnames": {
			Config{RoutingKey: "traceID", Resolver: Resolver{Static: &StaticResolver{}}},
			"hostnames",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.message) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, c.message)
			}
		})
	}
	ok := Config{RoutingKey: "traceID", Resolver: static}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a static traceID config is refused: %v", err)
	}
}

func TestDefaultConfigRoutesByTraceID(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	if cfg.RoutingKey != "traceID" {
		t.Fatalf("default routing key %q", cfg.RoutingKey)
	}
	if NewFactory().Type() != Type || Type.String() != "load_balancing" {
		t.Fatalf("factory type %v", NewFactory().Type())
	}
}

func TestDefaultPortIsAddedOnlyWhenMissing(t *testing.T) {
	cases := map[string]string{
		"bridge":         "bridge:4317",
		"bridge:4417":    "bridge:4417",
		"10.0.0.7":       "10.0.0.7:4317",
		"[::1]:9000":     "[::1]:9000",
		"::1":            "[::1]:4317",
		"bridge.example": "bridge.example:4317",
	}
	for in, want := range cases {
		if got := withDefaultPort(in); got != want {
			t.Errorf("withDefaultPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPickIsStableAndSpreads(t *testing.T) {
	e, _ := exporterWith("a:4317", "b:4317", "c:4317")
	seen := map[int]int{}
	for n := uint64(0); n < 3000; n++ {
		first := e.pick(traceID(n))
		if again := e.pick(traceID(n)); again != first {
			t.Fatalf("trace %d picked %d then %d", n, first, again)
		}
		seen[first]++
	}
	for index := range e.backends {
		// Rendezvous hashing over 3 backends: each should get about a third (1000).
		if seen[index] < 800 || seen[index] > 1200 {
			t.Fatalf("backend %d got %d of 3000 traces: %v", index, seen[index], seen)
		}
	}
}

func TestRemovingABackendMovesOnlyItsTraces(t *testing.T) {
	three, _ := exporterWith("a:4317", "b:4317", "c:4317")
	two, _ := exporterWith("a:4317", "c:4317")
	for n := uint64(0); n < 2000; n++ {
		before := three.backends[three.pick(traceID(n))].endpoint
		after := two.backends[two.pick(traceID(n))].endpoint
		if before != "b:4317" && before != after {
			t.Fatalf("trace %d moved from %s to %s though its backend stayed", n, before, after)
		}
	}
}

func TestSplitKeepsEverySpanOnceWithItsResourceAndScope(t *testing.T) {
	e, _ := exporterWith("a:4317", "b:4317", "c:4317")
	td := batch(40, 3)
	shares := split(td, e.pick)
	total := 0
	for index, share := range shares {
		total += spanCount(share)
		for ri := 0; ri < share.ResourceSpans().Len(); ri++ {
			rs := share.ResourceSpans().At(ri)
			if rs.SchemaUrl() == "" {
				t.Fatal("resource schema URL lost")
			}
			if _, ok := rs.Resource().Attributes().Get("resource"); !ok {
				t.Fatal("resource attributes lost")
			}
			for si := 0; si < rs.ScopeSpans().Len(); si++ {
				ss := rs.ScopeSpans().At(si)
				if !strings.HasPrefix(ss.Scope().Name(), "scope-") {
					t.Fatalf("scope name lost: %q", ss.Scope().Name())
				}
				for pi := 0; pi < ss.Spans().Len(); pi++ {
					if got := e.pick(ss.Spans().At(pi).TraceID()); got != index {
						t.Fatalf("a span of backend %d's trace went to %d", got, index)
					}
				}
			}
		}
	}
	if total != spanCount(td) {
		t.Fatalf("split kept %d of %d spans", total, spanCount(td))
	}
}

func TestConsumeTracesHandsEachBackendItsShare(t *testing.T) {
	e, recorders := exporterWith("a:4317", "b:4317")
	td := batch(30, 2)
	if err := e.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	total := 0
	for index, r := range recorders {
		for _, got := range r.batches {
			total += spanCount(got)
			first := got.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
			if e.pick(first) != index {
				t.Fatalf("backend %d was handed another backend's trace", index)
			}
		}
	}
	if total != spanCount(td) {
		t.Fatalf("backends received %d of %d spans", total, spanCount(td))
	}
}

func TestConsumeTracesReportsBackendErrorsAndNoBackends(t *testing.T) {
	e, recorders := exporterWith("a:4317", "b:4317")
	refused := errors.New("backend refused")
	recorders[0].err = refused
	recorders[1].err = refused
	if err := e.ConsumeTraces(context.Background(), batch(30, 1)); !errors.Is(err, refused) {
		t.Fatalf("ConsumeTraces() = %v, want the backend's error", err)
	}
	if err := e.Shutdown(context.Background()); !errors.Is(err, refused) {
		t.Fatalf("Shutdown() = %v, want the backend's error", err)
	}
	empty := &tracesExporter{}
	if err := empty.ConsumeTraces(context.Background(), batch(1, 1)); err == nil {
		t.Fatal("a batch with no backend started was accepted")
	}
}
