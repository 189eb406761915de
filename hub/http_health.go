package hub

import (
	"github.com/gofiber/fiber/v2"
)

// healthz: the process is up and serving HTTP.
func (h *Hub) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz: the hub can serve: NATS is connected (else the reason: which
// servers, which role, what failed, e.g. credentials refused) and it is not
// shutting down. Whether a worker answers is not part of it: with no worker a
// hub still serves the page, which says so itself (a load balancer that
// dropped every hub would answer its own 503 instead); the body's "workers"
// and the gauge hub_workers say how many answer. With ?workers=1 (scripts and
// tests waiting for a whole system) it is ready only once a worker answers a
// ping too, so a frame sent now would be classified.
func (h *Hub) readyz(c *fiber.Ctx) error {
	if reason := h.notReadyReason(); reason != "" {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "reason": reason})
	}
	workers := h.broker.workersSeen.Load()
	if c.Query("workers") == "1" {
		if err := h.broker.PingWorkers(c.UserContext()); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "reason": "no inference worker answered", "workers": 0})
		}
		workers = max(workers, 1) // the ping may be newer than the last count
	}
	return c.JSON(fiber.Map{"status": "ready", "workers": workers})
}

// notReadyReason: why the hub cannot serve now; "" when it can.
func (h *Hub) notReadyReason() string {
	h.mu.Lock()
	shuttingDown := h.shuttingDown
	h.mu.Unlock()
	if shuttingDown {
		return "the hub is shutting down"
	}
	return h.broker.NotReadyReason()
}
