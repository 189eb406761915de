//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/webcamhub/webcamhub/hub/contract"
)

// The load generator: many WebSocket sessions against the real hub binary,
// each keeping a fixed number of frames in flight (a new frame as soon as
// one is answered, whatever the answer), as the page does at full speed.

// loadGeneratorEnv is env for a hub under the load generator, with the
// hub's per-address connection limits lifted: the load generator opens all
// its sessions from one address.
func loadGeneratorEnv(env ...string) []string {
	return append([]string{"HUB_MAX_CONNS_PER_CLIENT=100000", "HUB_CONNECT_RATE_PER_CLIENT=100000"}, env...)
}

// sessionLoad is what one run of the load generator saw.
type sessionLoad struct {
	elapsed  time.Duration
	sent     int
	answers  map[string]int  // "result", "dropped/<reason>", "error/<code>"
	latency  []time.Duration // send -> result, results only, sorted
	outside  []time.Duration // send -> result less the worker's decode and model call, sorted
	model    []time.Duration // the model call of each result (timing.infer_ms), sorted
	answered []time.Duration // send -> any answer, sorted
	workers  map[string]int  // results per worker
}

func (r sessionLoad) resultsPerS() float64 {
	return float64(r.answers[contract.TypeResult]) / r.elapsed.Seconds()
}

func (r sessionLoad) unanswered() int {
	n := r.sent
	for _, v := range r.answers {
		n -= v
	}
	return n
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*q))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// runLoad opens sessions to the hub at base, then for warmup+measure keeps
// inFlight frames outstanding per session; only answers to frames sent
// during the measured part count. After the measured part every session
// waits (up to answerWait) for its outstanding answers, so a frame that was
// never answered shows up in unanswered().
func runLoad(t testing.TB, base string, sessions, inFlight int, frame []byte, warmup, measure time.Duration) sessionLoad {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + contract.WebSocketPath
	conns := make([]*fws.Conn, sessions)
	dialer := *fws.DefaultDialer
	dialer.HandshakeTimeout = answerWait
	for i := range conns {
		c, _, err := dialer.Dial(u, nil)
		if err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
		if _, _, err := c.ReadMessage(); err != nil { // welcome
			t.Fatalf("session %d welcome: %v", i+1, err)
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()

	var mu sync.Mutex
	res := sessionLoad{answers: map[string]int{}, workers: map[string]int{}}
	start := time.Now()
	measureFrom := start.Add(warmup)
	stopAt := measureFrom.Add(measure)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sentAt := map[int64]time.Time{}
			seq := int64(0)
			send := func() bool {
				seq++
				sentAt[seq] = time.Now()
				return c.WriteMessage(fws.BinaryMessage, frame) == nil
			}
			for range inFlight {
				if !send() {
					return
				}
			}
			var local sessionLoad
			local.answers, local.workers = map[string]int{}, map[string]int{}
			for len(sentAt) > 0 {
				_ = c.SetReadDeadline(time.Now().Add(answerWait))
				_, data, err := c.ReadMessage()
				if err != nil {
					break
				}
				var m struct {
					message
					Timing struct {
						DecodeMS float64 `json:"decode_ms"`
						InferMS  float64 `json:"infer_ms"`
					} `json:"timing"`
				}
				if json.Unmarshal(data, &m) != nil || m.Seq == 0 {
					continue
				}
				at, ok := sentAt[m.Seq]
				if !ok {
					continue
				}
				delete(sentAt, m.Seq)
				now := time.Now()
				if !at.Before(measureFrom) && at.Before(stopAt) {
					local.sent++
					key := m.Type
					switch m.Type {
					case contract.TypeDropped:
						key += "/" + m.Reason
					case contract.TypeError:
						key += "/" + m.Code
					case contract.TypeResult:
						took := now.Sub(at)
						model := time.Duration(m.Timing.InferMS * float64(time.Millisecond))
						decode := time.Duration(m.Timing.DecodeMS * float64(time.Millisecond))
						local.latency = append(local.latency, took)
						local.model = append(local.model, model)
						local.outside = append(local.outside, took-model-decode)
						local.workers[m.Worker]++
					}
					local.answers[key]++
					local.answered = append(local.answered, now.Sub(at))
				}
				if now.Before(stopAt) && !send() {
					break
				}
			}
			// Frames sent in the measured part and never answered.
			for _, at := range sentAt {
				if !at.Before(measureFrom) && at.Before(stopAt) {
					local.sent++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.sent += local.sent
			for k, v := range local.answers {
				res.answers[k] += v
			}
			for k, v := range local.workers {
				res.workers[k] += v
			}
			res.latency = append(res.latency, local.latency...)
			res.model = append(res.model, local.model...)
			res.outside = append(res.outside, local.outside...)
			res.answered = append(res.answered, local.answered...)
		}()
	}
	wg.Wait()
	res.elapsed = measure
	slices.Sort(res.latency)
	slices.Sort(res.model)
	slices.Sort(res.outside)
	slices.Sort(res.answered)
	return res
}

// add merges another run of the same load into r.
func (r *sessionLoad) add(o sessionLoad) {
	if r.answers == nil {
		r.answers, r.workers = map[string]int{}, map[string]int{}
	}
	r.elapsed += o.elapsed
	r.sent += o.sent
	for k, v := range o.answers {
		r.answers[k] += v
	}
	for k, v := range o.workers {
		r.workers[k] += v
	}
	r.latency = slices.Sorted(slices.Values(append(r.latency, o.latency...)))
	r.answered = slices.Sorted(slices.Values(append(r.answered, o.answered...)))
	r.model = slices.Sorted(slices.Values(append(r.model, o.model...)))
	r.outside = slices.Sorted(slices.Values(append(r.outside, o.outside...)))
}

// logLoad writes one run's figures to the benchmark's log.
func logLoad(b testing.TB, what string, r sessionLoad) {
	b.Logf("%s: %.1f results/s; sent %d, answers %v, unanswered %d; result p50 %.1f ms p99 %.1f ms (any answer p99 %.1f ms); per worker %v",
		what, r.resultsPerS(), r.sent, r.answers, r.unanswered(), ms(quantile(r.latency, 0.5)), ms(quantile(r.latency, 0.99)), ms(quantile(r.answered, 0.99)), r.workers)
}

// cpuSeconds is the user+system CPU time of the processes so far (Linux
// /proc), by name; "loadgen" is this test process.
func cpuSeconds(t testing.TB, procs map[string]*proc) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	read := func(pid int) float64 {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return 0
		}
		fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		utime, _ := strconv.ParseFloat(fields[11], 64)
		stime, _ := strconv.ParseFloat(fields[12], 64)
		return (utime + stime) / 100 // USER_HZ
	}
	for name, p := range procs {
		out[name] = read(p.cmd.Process.Pid)
	}
	out["loadgen"] = read(os.Getpid())
	return out
}

// cpuPerResult: CPU milliseconds per result of each process between two
// cpuSeconds readings.
func cpuPerResult(before, after map[string]float64, r sessionLoad) string {
	var parts []string
	for name, a := range after {
		parts = append(parts, fmt.Sprintf("%s %.1f", name, (a-before[name])*1000/float64(max(1, r.answers[contract.TypeResult]))))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// bareModel is the model alone, in the same run: `python -m
// bench.worker.throughput --json` with the worker's threads.
type bareModel struct {
	Batch1MS       float64 `json:"batch1_ms"`        // one image, one call
	BatchedPerS    float64 `json:"batched_images_s"` // images/s at the batched size
	BatchedSize    int     `json:"batched_size"`
	DecodePageMS   float64 `json:"decode_page_ms"` // decode of a 224x224 JPEG
	ModelThreads   int     `json:"threads"`
	MachineSummary string  `json:"machine"`
}

func measureBareModel(t testing.TB, frame []byte) bareModel {
	t.Helper()
	dir := t.TempDir()
	framePath := filepath.Join(dir, "frame.jpg")
	if err := os.WriteFile(framePath, frame, 0o600); err != nil {
		t.Fatal(err)
	}
	python := envOr("WORKER_PYTHON", filepath.Join(repoRoot(t), ".venv", "bin", "python"))
	cmd := exec.Command(python, "-m", "bench.worker.throughput", "--json", "--model", "tflite:"+tfliteModel(t),
		"--worker-frames", "0", "--repeats", "3", "--min-time", "1", "--frame", framePath)
	cmd.Dir = repoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bare model benchmark: %v\n%s", err, stderr.String())
	}
	var m bareModel
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("bare model benchmark output %q: %v", out, err)
	}
	return m
}
