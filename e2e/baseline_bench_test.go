//go:build e2e

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// baselineLoadDuration is how long each configuration is loaded: long enough for
// a few hundred Keras predictions on 2 cores, short enough that the whole
// comparison (3 paths × 2 client counts) stays near two minutes.
const baselineLoadDuration = 8 * time.Second

// BenchmarkBaselineArchitecture measures the article's architecture — an Echo gateway
// forwarding base64 JSON to a FastAPI service that calls Keras model.predict
// per request (bench/baseline) — against our /api/v1/analyze and /ws in the same
// run, with the same MobileNetV2 (random weights: same compute as ImageNet's,
// no download) and the page's frames (224×224 JPEG), at 1 and 8 clients.
func BenchmarkBaselineArchitecture(b *testing.B) {
	frame := pageFrame(b)
	body, _ := json.Marshal(map[string]string{"base64Image": base64.StdEncoding.EncodeToString(frame)})

	baselineURL := startBaseline(b)
	hub := startHub(b, hubOptions{extraEnv: []string{"LOG_LEVEL=warn", "HUB_API_RATE=100000000", "HUB_SESSION_FPS=100000"}})
	// The same Keras weights on the runtime the system would pick for them on this
	// CPU (RUNTIME=auto times Keras against OpenVINO for real weights; random
	// weights are never cached, so auto keeps them on Keras: name the runtime).
	// BENCH_BASELINE_RUNTIME=keras gives the Keras-on-Keras comparison of before.
	runtime := envOr("BENCH_BASELINE_RUNTIME", "openvino")
	b.Logf("our worker: keras-random on RUNTIME=%s", runtime)
	startWorker(b, hub.nats, "bench-keras", "--model", "keras-random", "--labels", testdata(b, "imagenet_labels.txt"), "--runtime", runtime)
	hub.waitFor(b, "/readyz?workers=1")

	type path struct {
		name string
		run  func(clients int) loadResult
	}
	paths := []path{
		{"baseline", func(n int) loadResult { return loadHTTP(b, baselineURL, body, n) }},
		{"api", func(n int) loadResult { return loadHTTP(b, hub.base+"/api/v1/analyze", body, n) }},
		{"ws", func(n int) loadResult { return loadWS(b, hub.base, frame, n) }},
	}
	for _, clients := range []int{1, 8} {
		results := map[string]loadResult{}
		for _, p := range paths {
			p.run(clients) // warm-up: connections, the model's first batches
			r := p.run(clients)
			results[p.name] = r
			b.ReportMetric(r.perSecond, fmt.Sprintf("%s-%dc-answers/s", p.name, clients))
			b.ReportMetric(r.p50Ms, fmt.Sprintf("%s-%dc-p50-ms", p.name, clients))
		}
		baseline := results["baseline"]
		for _, ours := range []string{"api", "ws"} {
			b.ReportMetric(results[ours].perSecond/baseline.perSecond, fmt.Sprintf("%s/baseline-%dc-throughput-x", ours, clients))
			b.ReportMetric(results[ours].p50Ms/baseline.p50Ms, fmt.Sprintf("%s/baseline-%dc-p50-x", ours, clients))
		}
	}
	b.ReportMetric(0, "ns/op")
}

type loadResult struct {
	perSecond float64
	p50Ms     float64
}

// answers collects the latencies of good answers and counts the others,
// from many client goroutines.
type answers struct {
	mu       sync.Mutex
	latency  []time.Duration
	failures int
}

func (a *answers) record(ok bool, since time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ok {
		a.latency = append(a.latency, time.Since(since))
	} else {
		a.failures++
	}
}

func (a *answers) summarize(b *testing.B, elapsed time.Duration) loadResult {
	if a.failures > 0 || len(a.latency) == 0 {
		b.Fatalf("%d answers, %d failures", len(a.latency), a.failures)
	}
	slices.Sort(a.latency)
	return loadResult{
		perSecond: float64(len(a.latency)) / elapsed.Seconds(),
		p50Ms:     float64(a.latency[len(a.latency)/2].Microseconds()) / 1000,
	}
}

// loadHTTP keeps `clients` requests in flight for baselineLoadDuration.
func loadHTTP(b *testing.B, url string, body []byte, clients int) loadResult {
	client := &http.Client{Timeout: answerWait, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var got answers
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Since(start) < baselineLoadDuration {
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					var preds []map[string]any
					ok = ok && json.NewDecoder(resp.Body).Decode(&preds) == nil && len(preds) == 3
					resp.Body.Close()
				}
				got.record(ok, t0)
			}
		})
	}
	wg.Wait()
	return got.summarize(b, time.Since(start))
}

// loadWS runs the realtime benchmarks' load generator: `clients` sessions,
// each with one frame always in flight, every frame answered by a result.
func loadWS(b *testing.B, base string, frame []byte, clients int) loadResult {
	r := runLoad(b, base, clients, 1, frame, 0, baselineLoadDuration)
	if r.unanswered() > 0 || r.answers[contract.TypeResult] != r.sent || r.sent == 0 {
		b.Fatalf("/ws: %d frames sent, answers %v", r.sent, r.answers)
	}
	return loadResult{perSecond: r.resultsPerS(), p50Ms: ms(quantile(r.latency, 0.5))}
}

// pageFrame is what the page sends: the centre square of a camera picture
// scaled to 224×224, as JPEG.
func pageFrame(b testing.TB) []byte {
	f, err := os.Open(testdata(b, "images", "cat_720p.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	src, err := jpeg.Decode(f)
	if err != nil {
		b.Fatal(err)
	}
	r := src.Bounds()
	side := min(r.Dx(), r.Dy())
	x0, y0 := r.Min.X+(r.Dx()-side)/2, r.Min.Y+(r.Dy()-side)/2
	dst := image.NewRGBA(image.Rect(0, 0, 224, 224))
	for y := range 224 {
		for x := range 224 {
			dst.Set(x, y, src.At(x0+x*side/224, y0+y*side/224))
		}
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 80}); err != nil {
		b.Fatal(err)
	}
	return out.Bytes()
}

// startBaseline runs the baseline service and its Echo gateway; it returns the
// gateway's analyze URL once the whole path answers.
func startBaseline(b *testing.B) string {
	root := repoRoot(b)
	python := envOr("WORKER_PYTHON", filepath.Join(root, ".venv", "bin", "python"))
	servicePort, gatewayPort := testkit.FreePort(b), testkit.FreePort(b)
	startProc(b, "baseline-service", nil, python, filepath.Join(root, "bench", "baseline", "service.py"),
		"--port", strconv.Itoa(servicePort), "--weights", "random")

	gateway := filepath.Join(b.TempDir(), "baseline-gateway")
	build := exec.Command("go", "build", "-o", gateway, ".")
	build.Dir = filepath.Join(root, "bench", "baseline", "gateway")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building the baseline gateway: %v\n%s", err, out)
	}
	startProc(b, "baseline-gateway", nil, gateway,
		"-listen", "127.0.0.1:"+strconv.Itoa(gatewayPort),
		"-model", "http://127.0.0.1:"+strconv.Itoa(servicePort)+"/predict")

	url := "http://127.0.0.1:" + strconv.Itoa(gatewayPort) + "/api/v1/analyze"
	probe, _ := json.Marshal(map[string]string{"base64Image": base64.StdEncoding.EncodeToString(pageFrame(b))})
	deadline := time.Now().Add(startupWait)
	for {
		resp, err := http.Post(url, "application/json", bytes.NewReader(probe))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the baseline architecture did not answer within %v", startupWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
