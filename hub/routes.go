package hub

import (
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/limiter"
)

// routes builds the HTTP app: /ws, the API, health, metrics and the page.
func (h *Hub) routes() *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		AppName:               "webcam-hub",
		// The analyze API carries a base64 image: 4/3 of the largest frame plus the JSON around it.
		BodyLimit:    h.cfg.MaxFrameBytes/3*4 + 64<<10,
		ErrorHandler: h.httpError,
		// Slowloris guard for plain HTTP; WebSocket connections leave
		// fasthttp's deadlines behind when they are hijacked.
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
	})
	app.Use(h.logRequests)
	if len(h.cfg.AllowedOrigins) > 0 {
		app.Use("/api", cors.New(cors.Config{AllowOrigins: strings.Join(h.cfg.AllowedOrigins, ","), AllowMethods: "POST,OPTIONS"}))
	}
	app.Get("/healthz", h.healthz)
	app.Get("/readyz", h.readyz)
	app.Get("/metrics", h.serveMetrics)
	app.Post("/api/v1/analyze", limiter.New(limiter.Config{
		Max:        h.cfg.APIRatePerMin,
		Expiration: time.Minute,
		LimitReached: func(c *fiber.Ctx) error {
			h.metrics.CountError(CodeRateLimited)
			return apiError(c, CodeRateLimited)
		},
	}), h.analyze)
	app.Get("/ws", h.upgrade, h.websocketHandler())
	h.servePage(app)
	return app
}

// httpError turns errors that reach Fiber (unknown routes, bodies over the
// limit, …) into JSON {"message":…} without internal detail.
func (h *Hub) httpError(c *fiber.Ctx, err error) error {
	status := fiber.StatusInternalServerError
	message := publicMessage(CodeInternal)
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status = fe.Code
		switch status {
		case fiber.StatusRequestEntityTooLarge:
			message = publicMessage(CodeTooLarge)
		case fiber.StatusInternalServerError:
		default:
			message = fe.Message
		}
	} else {
		h.log.Error("http handler failed", "path", c.Path(), "err", err)
	}
	return c.Status(status).JSON(fiber.Map{"message": message})
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
		"ms", float64(time.Since(start).Microseconds())/1000, "ip", c.IP())
	return err
}

// originAllowed: requests without an Origin (not from a browser), the hub's
// own origin, and the configured ones.
func (h *Hub) originAllowed(c *fiber.Ctx) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return true
	}
	for _, o := range h.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, string(c.Request().Host()))
}

// servePage serves the built frontend at / when it exists, and otherwise a
// short page that says how to build it.
func (h *Hub) servePage(app *fiber.App) {
	index := filepath.Join(h.cfg.StaticDir, "index.html")
	if _, err := os.Stat(index); err != nil {
		h.log.Warn("no built page; / shows how to build it", "static_dir", h.cfg.StaticDir)
		app.Get("/", func(c *fiber.Ctx) error {
			c.Type("html")
			return c.SendString(`<!doctype html><title>webcam hub</title><p>The page is not built. Run <code>make run</code> (or <code>cd frontend-ui &amp;&amp; npm ci &amp;&amp; npm run build</code>) and reload.</p>`)
		})
		return
	}
	app.Static("/", h.cfg.StaticDir, fiber.Static{Compress: true, MaxAge: 60})
}
