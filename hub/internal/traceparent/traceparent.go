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
