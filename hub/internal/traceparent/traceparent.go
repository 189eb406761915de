// Package traceparent makes W3C Trace Context `traceparent` values, so that
// a frame can be followed through the hub's and the worker's logs (and any
// tracing system that reads the header).
package traceparent

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a sampled traceparent with a fresh trace id and span id:
// "00-<32 hex>-<16 hex>-01".
func New() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	var out [55]byte
	copy(out[:], "00-")
	hex.Encode(out[3:35], b[:16])
	out[35] = '-'
	hex.Encode(out[36:52], b[16:])
	copy(out[52:], "-01")
	return string(out[:])
}

// Valid reports whether s has the form of a version-00 traceparent, so that
// one arriving from a client can be passed on as it is.
func Valid(s string) bool {
	if len(s) != 55 || s[:3] != "00-" || s[35] != '-' || s[52] != '-' {
		return false
	}
	for i, c := range s {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s[3:35] != "00000000000000000000000000000000" && s[36:52] != "0000000000000000"
}
