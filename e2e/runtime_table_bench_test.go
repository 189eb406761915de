//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// The runtime table of docs/benchmarks.md: each model file on each runtime that
// can run it, bare (bench.worker.throughput --json) and through the system (the
// hub binary and the default workers of `make run`, scripts/worker-plan.sh), in
// one run. Short windows on a shared machine: the figures are noisy, the table
// says where each runtime stands, not its last percent.

const (
	// tableWarmup and tableMeasure: a few seconds of load per row, so that the
	// whole table (6 rows, each starting a hub and its workers) stays near
	// six minutes on 2 cores. BENCH_TABLE_MEASURE lengthens it.
	tableWarmup  = 1500 * time.Millisecond
	tableMeasure = 4 * time.Second
)

// tableRuntimes: the CPU runtimes the table compares (BENCH_TABLE_RUNTIMES;
// "auto" there adds a row of the worker's own pick, without a bare figure).
var tableRuntimes = []string{"litert", "openvino", "keras"}

// bareRow is one line of bench.worker.throughput --json.
type bareRow struct {
	Model       string  `json:"model"`
	Runtime     string  `json:"runtime"`
	Threads     int     `json:"threads"`
	Batch1PerS  float64 `json:"batch1_images_s"`
	BatchedPerS float64 `json:"batched_images_s"`
	BatchedSize int     `json:"batched_size"`
	Error       string  `json:"error"`
}

// tableRow is a bare row and what the system did with the same model and runtime.
type tableRow struct {
	bare   bareRow
	system sessionLoad
	err    string // the system's row could not run: why
}

func BenchmarkRuntimeTable(b *testing.B) {
	frame := pageFrame(b)
	models := tableModels(b)
	runtimes := tableRuntimes
	if v := os.Getenv("BENCH_TABLE_RUNTIMES"); v != "" {
		runtimes = strings.Split(v, ",")
	}
	workers, threads := workerPlan(b)
	measure := tableMeasure
	if v := os.Getenv("BENCH_TABLE_MEASURE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("BENCH_TABLE_MEASURE=%q: %v", v, err)
		}
		measure = d
	}

	// Each row's bare figures just before its system figures: a shared machine's
	// load changes by the minute, and the ratio compares like with like.
	bareRuntimes := slices.DeleteFunc(slices.Clone(runtimes), func(r string) bool { return r == "auto" })
	var rows []tableRow
	for _, m := range models {
		for _, r := range bareRuntimes {
			for _, bare := range measureBare(b, m, r) {
				rows = append(rows, systemOf(b, bare, workers, threads, frame, measure))
			}
		}
		if slices.Contains(runtimes, "auto") {
			rows = append(rows, systemOf(b, bareRow{Model: m, Runtime: "auto"}, workers, threads, frame, measure))
		}
	}
	fmt.Print(runtimeTable(rows, workers, threads, measure))
	b.ReportMetric(0, "ns/op")
}

// tableModels: every shared .tflite file and keras-random (BENCH_TABLE_MODELS:
// a comma-separated list of substrings keeps only the models that contain one).
func tableModels(b *testing.B) []string {
	files, err := filepath.Glob(filepath.Join(testdata(b, "models"), "*.tflite"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no .tflite files in %s", testdata(b, "models"))
	}
	var models []string
	for _, f := range files {
		models = append(models, "tflite:"+f)
	}
	models = append(models, "keras-random")
	if v := os.Getenv("BENCH_TABLE_MODELS"); v != "" {
		models = slices.DeleteFunc(models, func(m string) bool {
			return !slices.ContainsFunc(strings.Split(v, ","), func(s string) bool { return strings.Contains(m, s) })
		})
	}
	return models
}

// workerPlan: the workers and threads each of `make run` on this machine
// (scripts/worker-plan.sh; WORKERS in the environment as make run takes it).
func workerPlan(b *testing.B) (workers, threads int) {
	out, err := exec.Command(filepath.Join(repoRoot(b), "scripts", "worker-plan.sh")).Output()
	if err != nil {
		b.Fatalf("scripts/worker-plan.sh: %v", err)
	}
	if _, err := fmt.Sscan(string(out), &workers, &threads); err != nil {
		b.Fatalf("scripts/worker-plan.sh printed %q: %v", out, err)
	}
	return workers, threads
}

// systemOf: the system's figures beside a bare row (none when the bare model
// could not load).
func systemOf(b *testing.B, bare bareRow, workers, threads int, frame []byte, measure time.Duration) tableRow {
	row := tableRow{bare: bare}
	if bare.Error != "" {
		row.err = "cannot load"
		return row
	}
	start := time.Now()
	row.system, row.err = systemRow(b, bare.Model, bare.Runtime, workers, threads, frame, measure)
	b.Logf("%s on %s: system row in %v", modelName(bare.Model), bare.Runtime, time.Since(start).Round(time.Second))
	return row
}

// measureBare: the model on the runtime (no line when the runtime cannot run it),
// with all the machine's cores (the worker's default threads), batch 1 and the
// best of 4 and 8. A process of its own: TensorFlow and OpenVINO in one process
// stalled each other's thread pools here, and a worker runs one runtime.
func measureBare(b *testing.B, model, runtime string) []bareRow {
	python := envOr("WORKER_PYTHON", filepath.Join(repoRoot(b), ".venv", "bin", "python"))
	cmd := exec.Command(python, "-m", "bench.worker.throughput", "--json", "--worker-frames", "0",
		"--repeats", "2", "--min-time", "0.5", "--batch", "8", "--search-batch", "4", "--model", model, "--runtime", runtime)
	cmd.Dir = repoRoot(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("bare %s on %s: %v\n%s", model, runtime, err, tail(stderr.Bytes(), 4000))
	}
	var rows []bareRow
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var row bareRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			b.Fatalf("bare model line %q: %v", sc.Text(), err)
		}
		rows = append(rows, row)
	}
	return rows
}

// systemRow: a hub and `workers` workers running model on runtime, loaded by 8
// sessions with 2 frames in flight each.
func systemRow(b *testing.B, model, runtime string, workers, threads int, frame []byte, measure time.Duration) (sessionLoad, string) {
	var load sessionLoad
	var failed string
	// A sub-benchmark owns this row's processes: they stop when it ends.
	b.Run(modelName(model)+"/"+runtime, func(b *testing.B) {
		hub := startHub(b, hubOptions{extraEnv: loadGeneratorEnv("LOG_LEVEL=warn")})
		procs := make([]*proc, 0, workers)
		probes := make([]string, 0, workers)
		for i := range workers {
			addr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(b))
			probes = append(probes, "http://"+addr+"/readyz")
			args := []string{"--model", model, "--runtime", runtime, "--num-threads", strconv.Itoa(threads), "--log-level", "warning", "--metrics-addr", addr}
			if model == "keras-random" {
				args = append(args, "--labels", testdata(b, "imagenet_labels.txt"))
			}
			procs = append(procs, startWorker(b, hub.nats, fmt.Sprintf("table-worker-%d", i+1), args...))
		}
		if !waitReady(hub, procs, probes) {
			failed = "a worker did not start (see its log)"
			for _, p := range procs {
				if p.exited() {
					data, _ := os.ReadFile(p.log)
					b.Logf("---- %s log ----\n%s", p.name, tail(data, 2000))
				}
			}
			return
		}
		load = runLoad(b, hub.base, 8, 2, frame, tableWarmup, measure)
		logLoad(b, modelName(model)+" on "+runtime, load)
	})
	return load, failed
}

// waitReady: every worker's own /readyz (model loaded, subscribed), then the
// hub's; false when a worker exits first or startupWait passes.
func waitReady(hub *hubProc, procs []*proc, probes []string) bool {
	deadline := time.Now().Add(startupWait)
	ready := func(u string) bool {
		resp, err := http.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for time.Now().Before(deadline) {
		if slices.ContainsFunc(procs, (*proc).exited) {
			return false
		}
		if !slices.ContainsFunc(probes, func(u string) bool { return !ready(u) }) && ready(hub.base+"/readyz?workers=1") {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

func modelName(spec string) string {
	if rest, ok := strings.CutPrefix(spec, "tflite:"); ok {
		return filepath.Base(rest)
	}
	return spec
}

// runtimeTable prints the rows as one markdown table.
func runtimeTable(rows []tableRow, workers, threads int, measure time.Duration) string {
	var s strings.Builder
	fmt.Fprintf(&s, "\nRuntimes × models, bare and through the system (hub + %d worker(s) × %d threads, 8 sessions × 2 in flight, 224×224 JPEG, %v measured per row; short windows on a shared machine: noisy)\n\n", workers, threads, measure)
	s.WriteString("| model | runtime | bare threads | bare img/s batch 1 | bare img/s best batch | system results/s | results | dropped | errors | unanswered | system/bare best |\n")
	s.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
	for _, r := range rows {
		bare1, bareBest, thr := "—", "—", "—"
		if r.bare.Runtime != "auto" && r.bare.Error == "" {
			bare1 = fmt.Sprintf("%.1f", r.bare.Batch1PerS)
			bareBest = fmt.Sprintf("%.1f (batch %d)", r.bare.BatchedPerS, r.bare.BatchedSize)
			thr = strconv.Itoa(r.bare.Threads)
		}
		if r.bare.Error != "" {
			fmt.Fprintf(&s, "| %s | %s | — | cannot load: %s | — | — | — | — | — | — | — |\n", modelName(r.bare.Model), r.bare.Runtime, strings.ReplaceAll(r.bare.Error, "|", "/"))
			continue
		}
		if r.err != "" {
			fmt.Fprintf(&s, "| %s | %s | %s | %s | %s | %s | — | — | — | — | — |\n", modelName(r.bare.Model), r.bare.Runtime, thr, bare1, bareBest, r.err)
			continue
		}
		l := r.system
		dropped, errs := 0, []string{}
		for k, v := range l.answers {
			switch {
			case strings.HasPrefix(k, contract.TypeDropped):
				dropped += v
			case k != contract.TypeResult:
				errs = append(errs, fmt.Sprintf("%s %d", strings.TrimPrefix(k, contract.TypeError+"/"), v))
			}
		}
		slices.Sort(errs)
		errText := "0"
		if len(errs) > 0 {
			errText = strings.Join(errs, ", ")
		}
		ratio := "—"
		if r.bare.BatchedPerS > 0 {
			ratio = fmt.Sprintf("%.2f", l.resultsPerS()/r.bare.BatchedPerS)
		}
		fmt.Fprintf(&s, "| %s | %s | %s | %s | %s | %.1f | %d | %d | %s | %d | %s |\n", modelName(r.bare.Model), r.bare.Runtime, thr, bare1, bareBest,
			l.resultsPerS(), l.answers[contract.TypeResult], dropped, errText, l.unanswered(), ratio)
	}
	return s.String()
}
