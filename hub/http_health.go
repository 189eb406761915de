package hub

import (
	"github.com/gofiber/fiber/v2"
)

// healthz: the process is up and serving HTTP.
func (h *Hub) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz: NATS is connected (else the reason: which servers, which role,
// what failed, e.g. credentials refused) and at least one worker answers a ping, so a
// frame sent now would be classified.
func (h *Hub) readyz(c *fiber.Ctx) error {
	if reason := h.broker.NotReadyReason(); reason != "" {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "reason": reason})
	}
	if err := h.broker.PingWorkers(c.UserContext()); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "reason": "no inference worker answered"})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}
