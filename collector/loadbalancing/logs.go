package loadbalancing

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

type logsExporter struct{ balancer[exporter.Logs] }

func newLogsExporter(set exporter.Settings, cfg *Config) *logsExporter {
	create := otlpexporter.NewFactory().CreateLogs
	return &logsExporter{balancer[exporter.Logs]{set: set, cfg: cfg, create: create}}
}

// ConsumeLogs splits the batch by trace id, so each record follows its trace's spans; records
// with no trace id all go to the one backend the zero id picks.
func (e *logsExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if len(e.backends) == 0 {
		return errors.New("load_balancing: no backend started")
	}
	shares := splitLogs(ld, e.pick)
	var errs []error
	for index, share := range shares {
		errs = append(errs, e.backends[index].exporter.ConsumeLogs(ctx, share))
	}
	return errors.Join(errs...)
}

// splitLogs copies each log record into the share of the backend pick names, keeping its
// resource and scope; the result maps backend index to its logs.
func splitLogs(ld plog.Logs, pick func(pcommon.TraceID) int) map[int]plog.Logs {
	shares := map[int]plog.Logs{}
	resources := map[resourceKey]plog.ResourceLogs{}
	scopes := map[scopeKey]plog.ScopeLogs{}
	for ri := 0; ri < ld.ResourceLogs().Len(); ri++ {
		rl := ld.ResourceLogs().At(ri)
		for si := 0; si < rl.ScopeLogs().Len(); si++ {
			sl := rl.ScopeLogs().At(si)
			for li := 0; li < sl.LogRecords().Len(); li++ {
				record := sl.LogRecords().At(li)
				b := pick(record.TraceID())
				sk := scopeKey{b, ri, si}
				out, ok := scopes[sk]
				if !ok {
					out = resourceLogsIn(shares, resources, b, ri, rl).ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(out.Scope())
					out.SetSchemaUrl(sl.SchemaUrl())
					scopes[sk] = out
				}
				record.CopyTo(out.LogRecords().AppendEmpty())
			}
		}
	}
	return shares
}

func resourceLogsIn(
	shares map[int]plog.Logs,
	resources map[resourceKey]plog.ResourceLogs,
	b, ri int,
	rl plog.ResourceLogs,
) plog.ResourceLogs {
	rk := resourceKey{b, ri}
	if out, ok := resources[rk]; ok {
		return out
	}
	share, ok := shares[b]
	if !ok {
		share = plog.NewLogs()
		shares[b] = share
	}
	out := share.ResourceLogs().AppendEmpty()
	rl.Resource().CopyTo(out.Resource())
	out.SetSchemaUrl(rl.SchemaUrl())
	resources[rk] = out
	return out
}
