// Command devcert keeps a local CA and a certificate for this machine's
// names and LAN addresses (internal/devcert), then prints the hub's LAN URL
// as text and as a QR code, and how to trust the CA on a phone. `make run
// HTTPS=1` runs it before the hub.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/mdp/qrterminal/v3"

	"github.com/webcamhub/webcamhub/internal/devcert"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("devcert", flag.ContinueOnError)
	fs.SetOutput(errOut)
	dir := fs.String("dir", ".data/tls", "directory of the CA and the certificate")
	port := fs.Int("port", 8080, "the hub's port, for the URLs printed")
	qr := fs.Bool("qr", true, "print the LAN URL as a QR code")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	names, err := devcert.LocalNames()
	if err != nil {
		fmt.Fprintln(errOut, "devcert:", err)
		return 1
	}
	res, err := devcert.Ensure(*dir, names, time.Now())
	if err != nil {
		fmt.Fprintln(errOut, "devcert:", err)
		return 1
	}
	files := devcert.FilesIn(*dir)
	switch {
	case res.NewCA:
		fmt.Fprintf(out, "devcert: made a new local CA %s (install it on each phone once, below)\n", files.CA)
	case res.NewCert:
		fmt.Fprintf(out, "devcert: made a new certificate (%s); the CA stays the same\n", res.Why)
	}
	fmt.Fprintf(out, "devcert: certificate %s for %v %v\n", files.Cert, names.DNS, names.IPs)
	lan := names.LANAddresses()
	if len(lan) == 0 {
		fmt.Fprintf(out, "devcert: no LAN address found; open https://localhost:%d on this machine\n", *port)
		return 0
	}
	url := "https://" + net.JoinHostPort(lan[0].String(), strconv.Itoa(*port)) + "/"
	fmt.Fprintf(out, `
On a phone on the same network, open %s
  First trust the local CA, once per phone: open %sca.crt (accept the warning
  this one time) to download it, then
  - Android: Settings > Security > More security settings > Encryption & credentials >
    Install a certificate > CA certificate, and pick the downloaded file.
  - iOS: Settings > Profile Downloaded > Install; then Settings > General > About >
    Certificate Trust Settings > turn on full trust for "%s".
  The CA signs only localhost, *.local and private addresses (its name constraints).
`, url, url, devcert.CAName)
	for _, ip := range lan[1:] {
		fmt.Fprintf(out, "  Also reachable at https://%s/\n", net.JoinHostPort(ip.String(), strconv.Itoa(*port)))
	}
	if *qr {
		qrterminal.GenerateHalfBlock(url, qrterminal.L, out)
	}
	return 0
}
