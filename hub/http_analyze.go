package hub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"mime"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/sessionid"
)

// analyzeRequest is the body of the article's gateway API (the baseline architecture).
type analyzeRequest struct {
	Base64Image string `json:"base64Image"`
}

// analyzePrediction is one item of the answer: the article's {label, confidence}.
type analyzePrediction struct {
	Label      string  `json:"label"`
	Confidence float64 `json:"confidence"`
}

// workerReply is a worker's whole answer, which the analyze API reshapes.
type workerReply struct {
	replyHead
	Predictions []contract.Prediction `json:"predictions"`
}

// analyze classifies one base64 image through the same NATS path as the
// live frames (kind api, a fresh request id), with the model of ?model=
// (name or name@version; the default model without it), and answers its top-3.
func (h *Hub) analyze(c *fiber.Ctx) error {
	h.metrics.APIRequests.Add(1)
	if mediaType, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); err != nil || mediaType != fiber.MIMEApplicationJSON {
		h.metrics.CountError(contract.CodeUnsupportedMedia)
		return apiError(c, contract.CodeUnsupportedMedia)
	}
	var req analyzeRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil || req.Base64Image == "" {
		h.metrics.CountError(contract.CodeBadRequest)
		return apiError(c, contract.CodeBadRequest)
	}
	encoded := req.Base64Image
	if strings.HasPrefix(encoded, "data:") { // a data URL from a FileReader
		if i := strings.Index(encoded, ","); i >= 0 {
			encoded = encoded[i+1:]
		}
	}
	image, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		h.metrics.CountError(contract.CodeBadRequest)
		return apiError(c, contract.CodeBadRequest)
	}
	var model string
	var version int
	if ref := c.Query(contract.QueryModel); ref != "" {
		if model, version, err = contract.ParseModelRef(ref); err != nil {
			h.metrics.CountError(contract.CodeBadRequest)
			return apiError(c, contract.CodeBadRequest)
		}
	}
	info, code := h.checkImage(image)
	if code != "" {
		h.metrics.CountError(code)
		return apiError(c, code)
	}
	frame := FrameRequest{Kind: contract.KindAPI, Model: model, Version: version, Allowed: grantOf(c).Models, Session: sessionid.New(), Seq: 1,
		ContentType: info.ContentType, Image: image}
	// A caller's traceparent continues its trace, through the hub to the worker.
	ctx := propagator.Extract(c.UserContext(), fiberHeaderCarrier{c})
	span := startFrameSpan(ctx, h.tracer, frame.Kind, frame.Session, frame.Seq, time.Now())
	outcome := OutcomeError // until a result
	var sentTo modelTarget
	defer func() { span.end(outcome, sentTo, code) }()
	ctx, cancel := context.WithTimeout(span.context(ctx), h.cfg.FrameTimeout)
	defer cancel()
	reply, sentTo, err := h.dispatch.Request(ctx, frame)
	var msg workerReply
	answer := answerFrame(frame, sentTo, reply, err, &msg, h.log, h.metrics)
	if answer.outcome != OutcomeResult {
		code = answer.code
		return apiError(c, code)
	}
	outcome = OutcomeResult
	out := make([]analyzePrediction, len(msg.Predictions))
	for i, p := range msg.Predictions {
		out[i] = analyzePrediction{Label: p.Label, Confidence: p.Confidence}
	}
	return c.JSON(out)
}

// fiberHeaderCarrier lets the propagator read a request's HTTP headers.
type fiberHeaderCarrier struct{ c *fiber.Ctx }

func (h fiberHeaderCarrier) Get(key string) string { return h.c.Get(key) }
func (h fiberHeaderCarrier) Set(key, value string) { h.c.Set(key, value) }
func (h fiberHeaderCarrier) Keys() []string {
	keys := make([]string, 0, 8)
	for k := range h.c.GetReqHeaders() {
		keys = append(keys, k)
	}
	return keys
}
