// Package devcert keeps a local certificate authority and a certificate for
// this machine's names and LAN addresses, so that a phone on the same
// network can open the hub over HTTPS (browsers give the camera only to a
// secure page). The CA is made once and kept; the certificate is remade
// when the machine's addresses change or it nears its end.
//
// The CA may only sign names that cannot be public: its name constraints
// allow localhost, *.local and the private, loopback and CGNAT address
// ranges. A phone that trusts it trusts nothing else from it, should its
// key ever leak.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	// caValidity: the CA is installed on phones by hand; it should outlive
	// the project's use on this machine.
	caValidity = 10 * 365 * 24 * time.Hour
	// leafValidity: Apple refuses TLS server certificates valid for more
	// than 398 days, even from a private CA.
	leafValidity = 397 * 24 * time.Hour
	// renewBefore: a certificate this close to its end is made again.
	renewBefore = 30 * 24 * time.Hour
)

// CAName is the CA's common name, the one a phone shows in its list.
const CAName = "webcamhub local development CA"

// Files are the PEM files in a directory: the CA's certificate and key,
// the machine's certificate and key.
type Files struct {
	CA, CAKey, Cert, Key string
}

// FilesIn names the files in dir.
func FilesIn(dir string) Files {
	return Files{
		CA: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca-key.pem"),
		Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"),
	}
}

// Names are what the certificate is for.
type Names struct {
	DNS []string
	IPs []net.IP
}

// permittedDNS are the name-constraint subtrees of the CA: each allows the
// name and every name under it.
var permittedDNS = []string{"localhost", "local"}

// permittedIPs are the address ranges the CA may sign: loopback, private
// (RFC 1918, RFC 4193), CGNAT (Tailscale and the like) and link-local.
var permittedIPs = mustCIDRs("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
	"::1/128", "fc00::/7", "fe80::/10")

func mustCIDRs(cidrs ...string) []*net.IPNet {
	var out []*net.IPNet
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			panic(err)
		}
		out = append(out, n)
	}
	return out
}

// Signable reports whether the CA may sign ip.
func Signable(ip net.IP) bool {
	for _, n := range permittedIPs {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// LocalNames are localhost, <hostname>.local (mDNS) and the machine's
// addresses the CA may sign: loopback and LAN. Link-local IPv6 addresses
// are left out (a URL needs their zone); public ones cannot be signed.
func LocalNames() (Names, error) {
	n := Names{DNS: []string{"localhost"}}
	if host, err := os.Hostname(); err == nil && validLabel(host) {
		n.DNS = append(n.DNS, strings.ToLower(host)+".local")
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return Names{}, fmt.Errorf("listing the machine's addresses: %w", err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLinkLocalUnicast() || !Signable(ipn.IP) {
			continue
		}
		n.IPs = append(n.IPs, ipn.IP)
	}
	return n.normal(), nil
}

func validLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// normal sorts the names and addresses (IPv4 in 4-byte form) so that two
// sets compare equal when they hold the same names.
func (n Names) normal() Names {
	out := Names{DNS: slices.Clone(n.DNS)}
	for _, ip := range n.IPs {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		out.IPs = append(out.IPs, ip)
	}
	slices.Sort(out.DNS)
	out.DNS = slices.Compact(out.DNS)
	slices.SortFunc(out.IPs, func(a, b net.IP) int { return strings.Compare(string(a), string(b)) })
	out.IPs = slices.CompactFunc(out.IPs, net.IP.Equal)
	return out
}

func (n Names) equal(o Names) bool {
	a, b := n.normal(), o.normal()
	return slices.Equal(a.DNS, b.DNS) && slices.EqualFunc(a.IPs, b.IPs, net.IP.Equal)
}

// LANAddresses are the addresses of n a phone on the network can reach:
// not loopback, IPv4 first.
func (n Names) LANAddresses() []net.IP {
	var v4, v6 []net.IP
	for _, ip := range n.normal().IPs {
		switch {
		case ip.IsLoopback():
		case ip.To4() != nil:
			v4 = append(v4, ip)
		default:
			v6 = append(v6, ip)
		}
	}
	return append(v4, v6...)
}

// Result says what Ensure did.
type Result struct {
	NewCA, NewCert bool
	Why            string // why the certificate was made, when it was
}

// Ensure leaves in dir a CA and a certificate for names, both valid at
// now, making what is missing, near its end, or (the certificate) for
// other names than these. A name the CA may not sign is an error.
func Ensure(dir string, names Names, now time.Time) (Result, error) {
	for _, ip := range names.IPs {
		if !Signable(ip) {
			return Result{}, fmt.Errorf("%s is not a loopback or LAN address: the local CA does not sign it", ip)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Result{}, err
	}
	f := FilesIn(dir)
	var res Result
	caCert, caKey, err := loadPair(f.CA, f.CAKey)
	if err != nil || now.Add(renewBefore).After(caCert.NotAfter) {
		if caCert, caKey, err = makeCA(f, now); err != nil {
			return Result{}, err
		}
		res.NewCA = true
	}
	leaf, _, err := loadPair(f.Cert, f.Key)
	switch {
	case res.NewCA:
		res.Why = "a new CA"
	case err != nil:
		res.Why = "no usable certificate: " + err.Error()
	case leaf.CheckSignatureFrom(caCert) != nil:
		res.Why = "the certificate is not the CA's"
	case now.Add(renewBefore).After(leaf.NotAfter):
		res.Why = "the certificate nears its end"
	case !names.equal(Names{DNS: leaf.DNSNames, IPs: leaf.IPAddresses}):
		res.Why = "the machine's names or addresses changed"
	default:
		return res, nil
	}
	if err := makeLeaf(f, caCert, caKey, names.normal(), now); err != nil {
		return Result{}, err
	}
	res.NewCert = true
	return res, nil
}

func makeCA(f Files, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	tmpl := &x509.Certificate{
		Subject:                     pkix.Name{CommonName: CAName, Organization: []string{"webcamhub (this machine only)"}},
		IsCA:                        true,
		BasicConstraintsValid:       true,
		MaxPathLenZero:              true,
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(caValidity),
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         permittedDNS,
		PermittedIPRanges:           permittedIPs,
	}
	key, der, err := Sign(tmpl, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := WritePair(f.CA, f.CAKey, der, key); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func makeLeaf(f Files, ca *x509.Certificate, caKey *ecdsa.PrivateKey, names Names, now time.Time) error {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "webcamhub on this machine"},
		DNSNames:    names.DNS,
		IPAddresses: names.IPs,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(leafValidity),
	}
	key, der, err := Sign(tmpl, ca, caKey)
	if err != nil {
		return err
	}
	return WritePair(f.Cert, f.Key, der, key)
}

// Sign makes a P-256 key and a certificate of tmpl for it, with a fresh
// random serial number, signed by parent's key (self-signed when parent is
// nil). The one certificate maker of the project: the test kit's
// certificates are made by it too (internal/testkit).
func Sign(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)); err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	return key, der, err
}

// WritePair writes the key (0600) then the certificate, each by rename, so
// a hub reloading them never reads half a file.
func WritePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

var errNoPEM = errors.New("no PEM block")

// loadPair reads a certificate and its ECDSA key, checking they belong together.
func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certDER, err := readPEM(certFile)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certFile, err)
	}
	keyDER, err := readPEM(keyFile)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("%s is not the key of %s", keyFile, certFile)
	}
	return cert, key, nil
}

func readPEM(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: %w", path, errNoPEM)
	}
	return block.Bytes, nil
}
