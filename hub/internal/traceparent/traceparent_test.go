package traceparent

import (
	"regexp"
	"testing"
)

func TestNewHasTheW3CForm(t *testing.T) {
	form := regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)
	a, b := New(), New()
	if !form.MatchString(a) || !form.MatchString(b) {
		t.Fatalf("New() = %q, %q", a, b)
	}
	if a == b {
		t.Fatal("two traceparents are equal")
	}
}
