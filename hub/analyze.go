package hub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/webcamhub/webcamhub/hub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/sessionid"
	"github.com/webcamhub/webcamhub/hub/internal/traceparent"
)

// analyzeRequest is the seed article's gateway API body.
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
// live frames (kind api, a fresh request id) and answers its top-3.
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
	info, code := h.checkImage(image)
	if code != "" {
		h.metrics.CountError(code)
		return apiError(c, code)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), h.cfg.FrameTimeout)
	defer cancel()
	frame := FrameRequest{Kind: contract.KindAPI, Session: sessionid.New(), Seq: 1, ContentType: info.ContentType, Image: image}
	if tp := c.Get(contract.HeaderTraceparent); traceparent.Valid(tp) {
		frame.Traceparent = tp // the caller's trace goes on to the worker
	} else if h.cfg.Trace {
		frame.Traceparent = traceparent.New()
	}
	reply, err := h.dispatch.Request(ctx, frame)
	if err != nil {
		code := codeOf(err)
		if code == contract.CodeInternal {
			h.log.Error("analyze failed", "err", err)
		}
		h.metrics.CountError(code)
		return apiError(c, code)
	}
	var msg workerReply
	if err := json.Unmarshal(reply, &msg); err != nil {
		err = errors.Join(ErrBadReply, err)
	} else {
		err = checkReply(msg.replyHead, frame.Seq)
	}
	if err != nil {
		h.log.Error("bad worker reply", "err", err)
		h.metrics.CountError(contract.CodeInternal)
		return apiError(c, contract.CodeInternal)
	}
	if msg.Type == contract.TypeError {
		h.log.Debug("worker answered an error", "code", msg.Code, "message", msg.Message)
		code := publicCode(msg.Code)
		h.metrics.CountError(code)
		return apiError(c, code)
	}
	h.metrics.Results.Add(1)
	out := make([]analyzePrediction, len(msg.Predictions))
	for i, p := range msg.Predictions {
		out[i] = analyzePrediction{Label: p.Label, Confidence: p.Confidence}
	}
	return c.JSON(out)
}
