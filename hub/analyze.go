package hub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/webcamhub/webcamhub/hub/internal/imagesniff"
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

// analyze classifies one base64 image through the same NATS path as the
// live frames (subject frames.api.<request id>) and answers its top-3.
func (h *Hub) analyze(c *fiber.Ctx) error {
	h.metrics.APIRequests.Add(1)
	var req analyzeRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil || req.Base64Image == "" {
		h.metrics.CountError(CodeBadRequest)
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"message": `the body must be JSON {"base64Image": "<base64 of a JPEG, PNG, WebP or BMP>"}`})
	}
	encoded := req.Base64Image
	if strings.HasPrefix(encoded, "data:") { // a data URL from a FileReader
		if i := strings.Index(encoded, ","); i >= 0 {
			encoded = encoded[i+1:]
		}
	}
	image, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		h.metrics.CountError(CodeBadRequest)
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"message": "base64Image is not valid base64"})
	}
	if len(image) > h.cfg.MaxFrameBytes {
		h.metrics.CountError(CodeTooLarge)
		return apiError(c, CodeTooLarge)
	}
	contentType, ok := imagesniff.ContentType(image)
	if !ok {
		h.metrics.CountError(CodeBadImage)
		return apiError(c, CodeBadImage)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), h.cfg.FrameTimeout)
	defer cancel()
	frame := FrameRequest{Kind: "api", Session: sessionid.New(), Seq: 1, ContentType: contentType, Image: image}
	if tp := c.Get(headerTraceparent); traceparent.Valid(tp) {
		frame.Traceparent = tp // the caller's trace goes on to the worker
	} else if h.cfg.Trace {
		frame.Traceparent = traceparent.New()
	}
	reply, err := h.broker.Request(ctx, frame)
	if err != nil {
		code := codeOf(err)
		if code == CodeInternal {
			h.log.Error("analyze failed", "err", err)
		}
		h.metrics.CountError(code)
		return apiError(c, code)
	}
	var msg workerReply
	if err := checkReply(reply, 1, &msg); err != nil {
		h.log.Error("bad worker reply", "err", err)
		h.metrics.CountError(CodeInternal)
		return apiError(c, CodeInternal)
	}
	if msg.Type == "error" {
		h.metrics.CountError(msg.Code)
		return apiError(c, msg.Code)
	}
	h.metrics.Results.Add(1)
	out := make([]analyzePrediction, len(msg.Predictions))
	for i, p := range msg.Predictions {
		out[i] = analyzePrediction{Label: p.Label, Confidence: p.Confidence}
	}
	return c.JSON(out)
}

func apiError(c *fiber.Ctx, code string) error {
	return c.Status(httpStatus(code)).JSON(fiber.Map{"message": publicMessage(code), "code": code})
}
