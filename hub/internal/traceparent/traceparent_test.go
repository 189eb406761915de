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

func TestValid(t *testing.T) {
	if !Valid(New()) {
		t.Fatal("New() is not Valid")
	}
	for _, s := range []string{
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\n",
	} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
	if !Valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") {
		t.Error("the W3C example is not Valid")
	}
}
