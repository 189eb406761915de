package hub

import (
	"flag"
	"fmt"
	"regexp"
	"strings"
)

// envInUsage is the environment variable a flag's usage names at its end,
// e.g. "... (HUB_LISTEN)": configFlags writes every usage so.
var envInUsage = regexp.MustCompile(`\s*\(([A-Z][A-Z0-9_]*)\)$`)

// envOnlyVars are the variables the hub reads that no flag stands for: the
// standard OpenTelemetry ones (tracingWanted, otlpExporter).
var envOnlyVars = [][2]string{
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP collector for traces (with `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, for traces only): set, the hub exports spans; unset, tracing is off and costs nothing"},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "the collector's traces URL, instead of `OTEL_EXPORTER_OTLP_ENDPOINT`"},
	{"OTEL_EXPORTER_OTLP_PROTOCOL", "`http/protobuf` (default) or `grpc` (`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` for traces only)"},
	{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "the protocol of traces only, instead of `OTEL_EXPORTER_OTLP_PROTOCOL`"},
	{"OTEL_TRACES_EXPORTER", "`otlp` turns tracing on without an endpoint (the SDK's default one); `none` turns it off"},
	{"OTEL_SDK_DISABLED", "`true`: no tracing, whatever else is set"},
}

// ConfigDoc is the hub's part of docs/configuration.md: a Markdown table of
// every flag with its environment variable, default and meaning, then the
// variables no flag stands for. `hub config-doc` prints it, `make
// docs-config` writes it into the doc, TestConfigDoc checks the doc has it.
func ConfigDoc() string {
	fs, _, _ := configFlags(&envReader{getenv: func(string) string { return "" }})
	var b strings.Builder
	b.WriteString("| Flag | Environment variable | Default | What it sets |\n|---|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) {
		env, usage := "", f.Usage
		if m := envInUsage.FindStringSubmatch(usage); m != nil {
			env, usage = "`"+m[1]+"`", strings.TrimSuffix(usage, m[0])
		}
		fmt.Fprintf(&b, "| `-%s` | %s | %s | %s |\n", f.Name, env, docDefault(f.DefValue), docCell(usage))
	})
	for _, v := range envOnlyVars {
		fmt.Fprintf(&b, "| | `%s` | | %s |\n", v[0], v[1])
	}
	return b.String()
}

func docDefault(v string) string {
	if v == "" {
		return "(empty)"
	}
	return "`" + v + "`"
}

// docCell keeps a usage text inside its table cell.
func docCell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
