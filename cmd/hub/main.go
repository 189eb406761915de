// Command hub runs the realtime webcam classification hub: the page, the
// WebSocket sessions and the analyze API, with NATS embedded unless NATS_URL
// points at a server or cluster. Configuration: hub -h, docs/configuration.md. Helpers:
// `hub keys` makes the role nkeys and the auth file for an external NATS,
// `hub apikey` makes a client API key (HUB_API_KEYS_FILE),
// `hub probe` checks /healthz (container healthchecks),
// `hub -version` prints the version,
// `hub config-doc` prints the flags' table of docs/configuration.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/webcamhub/webcamhub/hub"
)

func main() {
	os.Exit(run())
}

func run() int {
	if code, ok := subcommand(os.Args[1:]); ok {
		return code
	}
	cfg, err := hub.ConfigFromEnv(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := hub.Run(ctx, cfg, log); err != nil {
		log.Error("hub failed", "err", err)
		return 1
	}
	return 0
}
