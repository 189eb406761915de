package hub

import (
	"os"
	"path/filepath"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
)

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
	// Compressed in memory as each response goes out, not by fiber.Static's
	// Compress, which writes a .fiber.gz copy beside each file: on a read-only
	// page directory (a container's read-only root, a chart's default) that
	// write fails and every browser, which accepts gzip, got a 404.
	app.Use("/", compress.New())
	app.Static("/", h.cfg.StaticDir, fiber.Static{MaxAge: 60})
}
