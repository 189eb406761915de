package hub

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const configDocPath = "../docs/configuration.md"

// docSection is the text between a generated section's markers.
func docSection(t *testing.T, doc, marker string) string {
	t.Helper()
	begin, end := "<!-- BEGIN "+marker+" (make docs-config) -->\n", "<!-- END "+marker+" -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q … %q section", configDocPath, begin, end)
	}
	return doc[i+len(begin) : j]
}

// Every flag with its variable is in the doc, and the doc has nothing else:
// the section is exactly what ConfigDoc makes from the flag set.
func TestConfigDocMatchesTheFlags(t *testing.T) {
	raw, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := docSection(t, string(raw), "hub"); got != ConfigDoc() {
		t.Fatalf("%s's hub table differs from the hub's flags: run make docs-config\n--- doc\n%s--- code\n%s", configDocPath, got, ConfigDoc())
	}
}

// Every flag names its environment variable at the end of its usage (which
// the doc's table reads), and each variable is one flag's.
func TestConfigDocEveryFlagHasItsVariable(t *testing.T) {
	fs, _, _ := configFlags(&envReader{getenv: func(string) string { return "" }})
	seen := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		m := envInUsage.FindStringSubmatch(f.Usage)
		if m == nil {
			t.Errorf("-%s: usage does not end with its variable, e.g. (HUB_X): %q", f.Name, f.Usage)
			return
		}
		if other, dup := seen[m[1]]; dup {
			t.Errorf("%s names both -%s and -%s", m[1], other, f.Name)
		}
		seen[m[1]] = f.Name
		// The variable sets the flag's default.
		e := envReader{getenv: func(k string) string {
			if k == m[1] {
				return probeValue(f)
			}
			return ""
		}}
		fs2, _, _ := configFlags(&e)
		if got := fs2.Lookup(f.Name).DefValue; got == f.DefValue {
			t.Errorf("%s does not set -%s (default stays %q)", m[1], f.Name, got)
		}
	})
	if len(seen) < 50 {
		t.Fatalf("only %d flags seen", len(seen))
	}
}

// probeValue is a value of f's type that differs from its default.
func probeValue(f *flag.Flag) string {
	switch f.DefValue {
	case "false":
		return "true"
	case "true":
		return "false"
	}
	if _, err := time.ParseDuration(f.DefValue); err == nil {
		return "17s"
	}
	if _, err := strconv.ParseFloat(f.DefValue, 64); err == nil {
		return "17"
	}
	return "probe-value"
}

// Every variable the hub's code reads by name (getenv, os.Getenv) is in the
// doc: the OTEL_* ones no flag stands for, and the subcommands'.
func TestConfigDocHasEveryVariableTheCodeReads(t *testing.T) {
	raw, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	read := regexp.MustCompile(`[gG]etenv\("([A-Z][A-Z0-9_]*)"\)`)
	files, _ := filepath.Glob("*.go")
	cmd, _ := filepath.Glob("../cmd/hub/*.go")
	found := 0
	for _, name := range append(files, cmd...) {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range read.FindAllStringSubmatch(string(src), -1) {
			found++
			if !strings.Contains(doc, "`"+m[1]+"`") {
				t.Errorf("%s reads %s, which %s does not name", name, m[1], configDocPath)
			}
		}
	}
	if found == 0 {
		t.Fatal("no getenv calls found: the pattern is stale")
	}
}
