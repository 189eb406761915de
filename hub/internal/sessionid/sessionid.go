// Package sessionid makes and checks session ids: 128 random bits, so that
// knowing one session's id says nothing about another's.
package sessionid

import (
	"crypto/rand"
	"encoding/base64"
)

// length is the base64url length of 16 bytes without padding.
const length = 22

// New returns a fresh id of 22 URL- and subject-safe characters.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Valid reports whether s has the form of an id made by New.
func Valid(s string) bool {
	if len(s) != length {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 16
}
