package hub

// Version is the hub's version: "dev" unless the build sets it, as the
// Makefile and cmd/hub/Dockerfile do:
//
//	go build -ldflags "-X github.com/webcamhub/webcamhub/hub.Version=v1.2.3" ./cmd/hub
//
// `hub -version` prints it; the metric hub_build_info carries it.
var Version = "dev"
