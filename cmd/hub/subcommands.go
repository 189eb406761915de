package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/webcamhub/webcamhub/hub"
)

// probeTimeout bounds `hub probe`: a healthy hub answers /healthz at once;
// a container healthcheck needs an answer well inside its own timeout.
const probeTimeout = 2 * time.Second

// subcommand runs `hub keys`, `hub apikey`, `hub probe` or `hub config-doc` when args name one; ok is false
// for anything else (the hub itself).
func subcommand(args []string) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "keys":
		return runKeys(args[1:]), true
	case "probe":
		return runProbe(args[1:]), true
	case "apikey":
		return runAPIKey(args[1:]), true
	case "-version", "--version", "version":
		// Before the configuration is read: the version of a hub whose
		// environment is incomplete or wrong is still known.
		fmt.Println("hub", hub.Version, runtime.Version())
		return 0, true
	case "config-doc":
		// The hub's table of docs/configuration.md (make docs-config).
		fmt.Print(hub.ConfigDoc())
		return 0, true
	}
	return 0, false
}

// runKeys: `hub keys -dir DIR [-owners hub=UID,worker=UID]` makes the role
// nkeys (or keeps them) and the nats-server auth file for an external NATS.
func runKeys(args []string) int {
	fs := flag.NewFlagSet("hub keys", flag.ContinueOnError)
	dir := fs.String("dir", ".data/nats", "directory of the role seeds (<role>.nk) and the files made for nats-server")
	ownersFlag := fs.String("owners", "", "comma-separated role=uid: hand each role's seed to that user (containers)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	owners := map[string]int{}
	for _, pair := range strings.Split(*ownersFlag, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		role, uid, found := strings.Cut(pair, "=")
		n, err := strconv.Atoi(uid)
		if !found || err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "hub keys: owner %q: want role=uid\n", pair)
			return 2
		}
		owners[role] = n
	}
	if err := hub.WriteNATSKeys(*dir, owners); err != nil {
		fmt.Fprintln(os.Stderr, "hub keys:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "hub keys: role seeds in %s; nats-server: include %s (public keys in %s)\n", *dir, hub.NATSAuthFile, hub.NATSRolesEnvFile)
	return 0
}

// runAPIKey: `hub apikey -name NAME [-file FILE]` makes an API key,
// appends its hash to the keys file (HUB_API_KEYS_FILE) and prints the key
// once, on stdout: the file never holds it. A running hub picks the new
// key up within a second.
func runAPIKey(args []string) int {
	fs := flag.NewFlagSet("hub apikey", flag.ContinueOnError)
	file := fs.String("file", os.Getenv("HUB_API_KEYS_FILE"), "the hub's API keys file, made when missing (HUB_API_KEYS_FILE)")
	name := fs.String("name", "", "who or what the key is for, e.g. laptop or ci (letters, digits, . _ @ -)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || *name == "" {
		fmt.Fprintln(os.Stderr, "hub apikey: want -name and -file (or HUB_API_KEYS_FILE)")
		return 2
	}
	key, err := hub.AddAPIKey(*file, *name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub apikey:", err)
		return 1
	}
	fmt.Println(key)
	fmt.Fprintf(os.Stderr, "hub apikey: the key %q above is shown this once; its hash is in %s (delete its line to revoke it)\n", *name, *file)
	return 0
}

// runProbe: `hub probe [URL]` exits 0 when URL (the hub's /healthz) answers
// 200: the healthcheck of an image without curl. An https URL on the loopback
// (a hub serving TLS, docker-compose.tls.yml) is probed without checking the
// certificate: it names the public host, not 127.0.0.1, and the probe asks the
// process beside it whether it is up, trusting nothing it answers.
func runProbe(args []string) int {
	target := "http://127.0.0.1:8080/healthz"
	if len(args) > 0 {
		target = args[0]
	}
	client := http.Client{Timeout: probeTimeout}
	if u, err := url.Parse(target); err == nil && u.Scheme == "https" && isLoopback(u.Hostname()) {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // loopback liveness probe
	}
	url := target
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub probe:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "hub probe:", url, resp.Status)
		return 1
	}
	return 0
}

// isLoopback: localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
