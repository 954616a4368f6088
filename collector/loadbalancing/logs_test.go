package loadbalancing

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// logRecorder stands in for one backend's OTLP logs exporter.
type logRecorder struct{ batches []plog.Logs }

func (r *logRecorder) Start(context.Context, component.Host) error { return nil }
func (r *logRecorder) Shutdown(context.Context) error              { return nil }
func (r *logRecorder) Capabilities() consumer.Capabilities         { return consumer.Capabilities{} }
func (r *logRecorder) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	r.batches = append(r.batches, ld)
	return nil
}

func logsExporterWith(endpoints ...string) (*logsExporter, []*logRecorder) {
	e := &logsExporter{}
	recorders := make([]*logRecorder, len(endpoints))
	for i, endpoint := range endpoints {
		recorders[i] = &logRecorder{}
		e.backends = append(e.backends, backend[exporter.Logs]{endpoint, recorders[i]})
	}
	return e, recorders
}

// logBatch builds two resources with two scopes each, records of traces 0..traces-1 and one
// record with no trace id per scope.
func logBatch(traces int) plog.Logs {
	ld := plog.NewLogs()
	for r := 0; r < 2; r++ {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutInt("resource", int64(r))
		for s := 0; s < 2; s++ {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("scope-" + string(rune('a'+s)))
			for t := 0; t < traces; t++ {
				sl.LogRecords().AppendEmpty().SetTraceID(traceID(uint64(t)))
			}
			sl.LogRecords().AppendEmpty().Body().SetStr("no trace")
		}
	}
	return ld
}

func TestLogRecordsFollowTheirTracesSpans(t *testing.T) {
	endpoints := []string{"a:4317", "b:4317", "c:4317"}
	spans, _ := exporterWith(endpoints...)
	logs, recorders := logsExporterWith(endpoints...)
	ld := logBatch(60)
	if err := logs.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	total := 0
	for index, r := range recorders {
		for _, got := range r.batches {
			total += got.LogRecordCount()
			for ri := 0; ri < got.ResourceLogs().Len(); ri++ {
				rl := got.ResourceLogs().At(ri)
				if _, ok := rl.Resource().Attributes().Get("resource"); !ok {
					t.Fatal("resource attributes lost")
				}
				for si := 0; si < rl.ScopeLogs().Len(); si++ {
					records := rl.ScopeLogs().At(si).LogRecords()
					for li := 0; li < records.Len(); li++ {
						id := records.At(li).TraceID()
						if spans.pick(id) != index {
							t.Fatalf("a record of trace %v went to backend %d, its spans to %d",
								id, index, spans.pick(id))
						}
					}
				}
			}
		}
	}
	if total != ld.LogRecordCount() {
		t.Fatalf("backends received %d of %d records", total, ld.LogRecordCount())
	}
	if logs.pick(pcommon.TraceID{}) != logs.pick(pcommon.TraceID{}) {
		t.Fatal("records without a trace id are not routed to one backend")
	}
}

func TestTheFactoryBuildsBothSignals(t *testing.T) {
	factory := NewFactory()
	if factory.LogsStability() == component.StabilityLevelUndefined {
		t.Fatal("the factory has no logs exporter")
	}
	if factory.TracesStability() == component.StabilityLevelUndefined {
		t.Fatal("the factory has no traces exporter")
	}
	empty := &logsExporter{}
	if err := empty.ConsumeLogs(context.Background(), logBatch(1)); err == nil {
		t.Fatal("a batch with no backend started was accepted")
	}
}
