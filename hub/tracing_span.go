package hub

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/webcamhub/webcamhub/contract"
)

// Span names and attributes of a frame's trace (docs/metrics.md, "Traces").
const (
	spanFrame  = "frame"
	spanQueued = "frame.queued"

	attrSession     = attribute.Key("session.id")
	attrSeq         = attribute.Key("frame.seq")
	attrKind        = attribute.Key("frame.kind")
	attrOutcome     = attribute.Key("frame.outcome")
	attrErrorType   = attribute.Key("error.type")
	attrMsgSystem   = attribute.Key("messaging.system")
	attrDestination = attribute.Key("messaging.destination.name")

	outcomeAbandoned = "abandoned" // the session ended before the answer; not a metric outcome
)

// requestSpanName names the NATS request span of a frame of each kind
// ("request frames.live.{id}"), built once so that a frame builds no string.
var requestSpanName = func() map[string]string {
	names := make(map[string]string, len(contract.Kinds))
	for _, kind := range contract.Kinds {
		names[kind] = "request " + contract.FrameSubject(kind, "{id}")
	}
	return names
}()

// Span start options every frame uses, made once.
var (
	serverKind = trace.WithSpanKind(trace.SpanKindServer)
	clientKind = trace.WithSpanKind(trace.SpanKindClient)
)

// tracingOff reports whether tracer is the no-op one (no OTEL_* variable
// asked for traces), or none at all: then a frame makes no span and no
// context.
func tracingOff(tracer trace.Tracer) bool {
	_, off := tracer.(noop.Tracer)
	return off || tracer == nil
}

// frameSpan is the span of one frame in the hub, from its receipt to its
// answer queued for the client. With tracing off it is whatever span ctx
// already had (none, or an API caller's remote one), nothing is allocated,
// and attributes are not even built.
type frameSpan struct {
	span trace.Span
	off  bool
}

func startFrameSpan(ctx context.Context, tracer trace.Tracer, kind, session string, seq int64, received time.Time) frameSpan {
	if tracingOff(tracer) {
		return frameSpan{span: trace.SpanFromContext(ctx), off: true}
	}
	_, span := tracer.Start(ctx, spanFrame, trace.WithTimestamp(received), serverKind)
	if span.IsRecording() {
		span.SetAttributes(attrSession.String(session), attrSeq.Int64(seq), attrKind.String(kind))
	}
	return frameSpan{span: span}
}

// context is ctx (its deadline and cancellation) with the frame's span as
// the parent of what follows.
func (f frameSpan) context(ctx context.Context) context.Context {
	if f.off {
		return ctx
	}
	return trace.ContextWithSpan(ctx, f.span)
}

// queued records the time the frame waited for a slot as a child span.
func (f frameSpan) queued(tracer trace.Tracer, since time.Time) {
	if !f.span.IsRecording() {
		return
	}
	_, span := tracer.Start(f.context(context.Background()), spanQueued, trace.WithTimestamp(since))
	span.End()
}

func (f frameSpan) end(outcome, code string) {
	if f.off {
		return // not ours to end
	}
	if f.span.IsRecording() {
		f.span.SetAttributes(attrOutcome.String(outcome))
		if code != "" {
			f.span.SetAttributes(attrErrorType.String(code))
			f.span.SetStatus(codes.Error, code)
		}
	}
	f.span.End()
}

func (f frameSpan) abandon() { f.end(outcomeAbandoned, "") }
