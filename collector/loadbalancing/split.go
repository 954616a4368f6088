package loadbalancing

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

type scopeKey struct{ backend, resource, scope int }

type resourceKey struct{ backend, resource int }

// split copies each span into the share of the backend pick names, keeping its resource and
// scope; the result maps backend index to its traces.
func split(td ptrace.Traces, pick func(pcommon.TraceID) int) map[int]ptrace.Traces {
	shares := map[int]ptrace.Traces{}
	resources := map[resourceKey]ptrace.ResourceSpans{}
	scopes := map[scopeKey]ptrace.ScopeSpans{}
	for ri := 0; ri < td.ResourceSpans().Len(); ri++ {
		rs := td.ResourceSpans().At(ri)
		for si := 0; si < rs.ScopeSpans().Len(); si++ {
			ss := rs.ScopeSpans().At(si)
			for pi := 0; pi < ss.Spans().Len(); pi++ {
				span := ss.Spans().At(pi)
				b := pick(span.TraceID())
				sk := scopeKey{b, ri, si}
				out, ok := scopes[sk]
				if !ok {
					out = scopeIn(shares, resources, b, ri, rs).ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(out.Scope())
					out.SetSchemaUrl(ss.SchemaUrl())
					scopes[sk] = out
				}
				span.CopyTo(out.Spans().AppendEmpty())
			}
		}
	}
	return shares
}

func scopeIn(
	shares map[int]ptrace.Traces,
	resources map[resourceKey]ptrace.ResourceSpans,
	b, ri int,
	rs ptrace.ResourceSpans,
) ptrace.ResourceSpans {
	rk := resourceKey{b, ri}
	if out, ok := resources[rk]; ok {
		return out
	}
	share, ok := shares[b]
	if !ok {
		share = ptrace.NewTraces()
		shares[b] = share
	}
	out := share.ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(out.Resource())
	out.SetSchemaUrl(rs.SchemaUrl())
	resources[rk] = out
	return out
}

func zapEndpoint(endpoint string) zap.Field { return zap.String("endpoint", endpoint) }
