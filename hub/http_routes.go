package hub

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"github.com/webcamhub/webcamhub/contract"
)

// maxHeaderBytes is the header allowance of a request: 16 KiB, as large
// proxies (nginx large_client_header_buffers, AWS ALB) allow.
const maxHeaderBytes = 16 << 10

// routes builds the public HTTP app: /ws, the API, health and the page.
// Metrics are not among them: they are the operator's (http_metrics.go).
func (h *Hub) routes() *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		AppName:               "webcam-hub",
		// The analyze API carries a base64 image in JSON, as a text message does.
		BodyLimit:    textMessageLimit(h.cfg.MaxFrameBytes),
		ErrorHandler: h.httpError,
		// Slowloris guard for plain HTTP; WebSocket connections leave
		// fasthttp's deadlines behind when they are hijacked.
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
		// Request line and headers must fit one read buffer (431 otherwise);
		// real sites put several KB of cookies on every request.
		ReadBufferSize: maxHeaderBytes,
		// No route takes a form; a multipart body is refused (415) by the
		// API, not parsed before any handler sees it.
		DisablePreParseMultipartForm: true,
	})
	app.Use(h.logRequests)
	if len(h.cfg.AllowedOrigins) > 0 {
		app.Use("/api", cors.New(cors.Config{AllowOrigins: strings.Join(h.cfg.AllowedOrigins, ","), AllowMethods: "POST,OPTIONS"}))
	}
	app.Get("/healthz", h.healthz)
	app.Get("/readyz", h.readyz)
	app.Post("/api/v1/analyze", h.timeAPI, limiter.New(limiter.Config{
		Max:          h.cfg.APIRatePerMin,
		Expiration:   time.Minute,
		KeyGenerator: func(c *fiber.Ctx) string { return clientKey(h.clientAddr(c)).String() },
		LimitReached: func(c *fiber.Ctx) error {
			h.metrics.CountError(contract.CodeRateLimited)
			return apiError(c, contract.CodeRateLimited)
		},
	}), h.requireAPIAuth, h.analyze)
	app.Get(contract.WebSocketPath, h.upgrade, h.websocketHandler())
	h.serveCACert(app)
	h.servePage(app)
	return app
}

// timeAPI records each analyze request's duration by the status it got
// (rate-limited ones included).
func (h *Hub) timeAPI(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	status := c.Response().StatusCode()
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status = fe.Code // answered by httpError after this returns
	}
	h.metrics.ObserveAPI(status, time.Since(start))
	return err
}

// httpError turns errors that reach Fiber (unknown routes, bodies over the
// limit, …) into JSON without internal detail: {"code","message"} with the
// code's fixed sentence when the status is one of the contract's codes,
// {"message"} with Fiber's own text (such as "Cannot GET /x") otherwise.
func (h *Hub) httpError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if !errors.As(err, &fe) {
		h.log.Error("http handler failed", "path", c.Path(), "err", err)
		return apiError(c, contract.CodeInternal)
	}
	switch fe.Code {
	case fiber.StatusBadRequest:
		return apiError(c, contract.CodeBadRequest)
	case fiber.StatusRequestEntityTooLarge:
		return apiError(c, contract.CodeTooLarge)
	case fiber.StatusInternalServerError:
		return apiError(c, contract.CodeInternal)
	default:
		return c.Status(fe.Code).JSON(fiber.Map{"message": fe.Message})
	}
}

// apiError answers code with its status and fixed sentence.
func apiError(c *fiber.Ctx, code string) error {
	row, _ := contract.LookupError(code)
	return c.Status(row.HTTPStatus).JSON(contract.APIError{Code: row.Code, Message: row.Message})
}

func (h *Hub) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	level := slog.LevelDebug
	if strings.HasPrefix(c.Path(), "/api/") {
		level = slog.LevelInfo
	}
	h.log.Log(c.UserContext(), level, "http request",
		"method", c.Method(), "path", c.Path(), "status", c.Response().StatusCode(),
		"ms", float64(time.Since(start).Microseconds())/1000, "client", h.clientAddr(c))
	return err
}
