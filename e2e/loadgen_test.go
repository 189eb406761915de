//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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

	"github.com/webcamhub/webcamhub/contract"
)

// The load generator (putLoad): many WebSocket sessions against the real
// hub binary, each keeping a fixed number of frames in flight (a new frame
// as soon as one is answered, whatever the answer), as the page does at
// full speed, or paced as a webcam page does; an observer is told of every
// frame's answer (runLoad, runFleetLoad, pacedSession).

// loadGeneratorEnv is env for a hub under the load generator, with the
// hub's per-address connection limits lifted (the load generator opens all
// its sessions from one address) and the per-session frame cap too (its
// sessions send a frame on every answer: on a fast machine past the cap,
// where the hub closes a session that keeps sending while rate_limited).
// A later entry of env overrides these.
func loadGeneratorEnv(env ...string) []string {
	return append([]string{"HUB_MAX_CONNS_PER_CLIENT=100000", "HUB_CONNECT_RATE_PER_CLIENT=100000", "HUB_SESSION_FPS=100000"}, env...)
}

// sessionLoad is what one run of the load generator saw.
type sessionLoad struct {
	elapsed time.Duration
	sent    int
	answers map[string]int  // "result", "dropped/<reason>", "error/<code>"
	latency []time.Duration // send -> result, results only, sorted
	outside []time.Duration // send -> result less the worker's decode and model call, sorted
	model   []time.Duration // the model call of each result (timing.infer_ms), sorted
	// decode and decodeCPU: each result's decode on the clock and in CPU
	// (timing.decode_ms, decode_cpu_ms), sorted: the hub charges the CPU.
	decode    []time.Duration
	decodeCPU []time.Duration
	answered  []time.Duration // send -> any answer, sorted
	workers   map[string]int  // results per worker
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
	res := sessionLoad{answers: map[string]int{}, workers: map[string]int{}, elapsed: measure}
	err := putLoad(base, loadSpec{sessions: sessions, inFlight: inFlight, frame: frame, d: warmup + measure},
		res.measured(warmup, measure, nil))
	if err != nil {
		t.Fatal(err)
	}
	return res.sorted()
}

// measured is an observer of a load that counts into r the frames sent
// from warmup after its start, for measure (frames left unanswered too);
// unanswered, when not nil, is told why each was left.
func (r *sessionLoad) measured(warmup, measure time.Duration, unanswered func(error)) func(frameOutcome) {
	var measureFrom, stopAt time.Time
	return func(o frameOutcome) {
		if measureFrom.IsZero() {
			measureFrom = o.start.Add(warmup)
			stopAt = measureFrom.Add(measure)
		}
		if o.sentAt.Before(measureFrom) || !o.sentAt.Before(stopAt) {
			return
		}
		if !o.answered {
			r.sent++
			if unanswered != nil {
				unanswered(o.err)
			}
			return
		}
		r.count(o.answer, o.at.Sub(o.sentAt))
	}
}

// loadSpec is a load to put on a hub: sessions sessions, each keeping
// inFlight frames outstanding (a new frame as soon as one is answered,
// whatever the answer, and no sooner than pace after its last) for d.
type loadSpec struct {
	sessions, inFlight int
	frame              []byte
	// model, when not empty, is the model reference every session asks for
	// (options{model}) and has acknowledged before its first frame; empty:
	// the hub's default model.
	model string
	pace  time.Duration // least time between two frames of a session; 0: none
	d     time.Duration // how long sessions send frames
	// tick, when not nil, is called every 100 ms with the time since the
	// load began, on the goroutine that called putLoad.
	tick func(elapsed time.Duration)
}

// frameOutcome is what became of one frame of a load: its answer, or why
// it has none.
type frameOutcome struct {
	answer                 // the hub's answer, when answered
	answered     bool      //
	start        time.Time // when the load began sending
	sentAt, at   time.Time // when the frame was sent, and answered
	frameTimeout time.Duration
	// err: unanswered, why its session stopped waiting (errSendFailed, a
	// read that failed or waited answerWait in vain).
	err error
}

// errSendFailed: a session of a load could not send a frame.
var errSendFailed = errors.New("sending a frame failed")

// putLoad is the load generator: it opens spec.sessions sessions to the hub
// at base, has each send frames as spec says, then wait (up to answerWait
// an answer) for its outstanding answers, and tells observe, one call at a
// time, what became of every frame. It returns an error when a session
// cannot open; a session whose frame cannot be sent stops there.
func putLoad(base string, spec loadSpec, observe func(frameOutcome)) error {
	dialer := *fws.DefaultDialer
	dialer.HandshakeTimeout = answerWait
	u := "ws" + strings.TrimPrefix(base, "http") + contract.WebSocketPath
	conns := make([]*fws.Conn, 0, spec.sessions)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	timeouts := make([]time.Duration, 0, spec.sessions)
	for i := range spec.sessions {
		c, _, err := dialer.Dial(u, nil)
		if err != nil {
			return fmt.Errorf("session %d: %w", i+1, err)
		}
		conns = append(conns, c)
		welcome, err := readWelcome(c)
		if err != nil {
			return fmt.Errorf("session %d welcome: %w", i+1, err)
		}
		timeouts = append(timeouts, time.Duration(welcome.FrameTimeoutMs)*time.Millisecond)
		if spec.model != "" {
			if err := chooseModel(c, spec.model); err != nil {
				return fmt.Errorf("session %d: %w", i+1, err)
			}
		}
	}
	var mu sync.Mutex
	report := func(o frameOutcome) {
		mu.Lock()
		defer mu.Unlock()
		observe(o)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loadSession(c, spec, start, timeouts[i], report)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var tick <-chan time.Time
	if spec.tick != nil {
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-done:
			return nil
		case <-tick:
			spec.tick(time.Since(start))
		}
	}
}

// readWelcome is the hub's first message on a session just opened.
func readWelcome(c *fws.Conn) (message, error) {
	_ = c.SetReadDeadline(time.Now().Add(answerWait))
	_, data, err := c.ReadMessage()
	var welcome message
	if err == nil {
		err = json.Unmarshal(data, &welcome)
	}
	return welcome, err
}

// chooseModel asks for the model ref on a session that has no frame
// out yet (options{model}) and waits for the hub's model message.
func chooseModel(c *fws.Conn, ref string) error {
	options, _ := json.Marshal(map[string]string{"type": contract.TypeOptions, "model": ref})
	if err := c.WriteMessage(fws.TextMessage, options); err != nil {
		return fmt.Errorf("options{model %q}: %w", ref, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(answerWait))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("waiting for the model message for %q: %w", ref, err)
		}
		var m message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		switch m.Type {
		case contract.TypeModel:
			return nil
		case contract.TypeError:
			return fmt.Errorf("options{model %q} answered %s: %s", ref, m.Code, m.Message)
		}
	}
}

// loadSession is one session of putLoad on c.
func loadSession(c *fws.Conn, spec loadSpec, start time.Time, frameTimeout time.Duration, report func(frameOutcome)) {
	stopAt := start.Add(spec.d)
	sentAt := map[int64]time.Time{}
	seq := int64(0)
	var last time.Time
	// send sends the next frame, no sooner than pace after the last; false
	// once the next would go at stopAt or later.
	send := func() (bool, error) {
		next := time.Now()
		if paced := last.Add(spec.pace); paced.After(next) {
			next = paced
		}
		if !next.Before(stopAt) {
			return false, nil
		}
		time.Sleep(time.Until(next))
		seq++
		last = time.Now()
		sentAt[seq] = last
		if err := c.WriteMessage(fws.BinaryMessage, spec.frame); err != nil {
			return false, fmt.Errorf("%w: %w", errSendFailed, err)
		}
		return true, nil
	}
	var failed error
	for range spec.inFlight {
		if ok, err := send(); !ok {
			failed = err
			break
		}
	}
	for failed == nil && len(sentAt) > 0 {
		_ = c.SetReadDeadline(time.Now().Add(answerWait))
		_, data, err := c.ReadMessage()
		if err != nil {
			failed = err
			break
		}
		m, ok := decodeAnswer(data)
		if !ok {
			continue
		}
		at, ok := sentAt[m.Seq]
		if !ok {
			continue
		}
		delete(sentAt, m.Seq)
		report(frameOutcome{answer: m, answered: true, start: start, sentAt: at, at: time.Now(), frameTimeout: frameTimeout})
		_, failed = send()
	}
	for _, s := range slices.Sorted(maps.Keys(sentAt)) {
		report(frameOutcome{start: start, sentAt: sentAt[s], frameTimeout: frameTimeout, err: failed})
	}
}

// answer is one answer of the hub to a frame, with the worker's timing of a result.
type answer struct {
	message
	Timing struct {
		DecodeMS    float64 `json:"decode_ms"`
		DecodeCPUMS float64 `json:"decode_cpu_ms"`
		InferMS     float64 `json:"infer_ms"`
	} `json:"timing"`
}

// decodeAnswer: the answer in a message from the hub; false for anything
// that answers no frame (no seq: welcome, notices) or is not JSON.
func decodeAnswer(data []byte) (answer, bool) {
	var m answer
	if json.Unmarshal(data, &m) != nil || m.Seq == 0 {
		return m, false
	}
	return m, true
}

// kind is the answer's kind: result, dropped/<reason>, error/<code>.
func (m answer) kind() string {
	switch m.Type {
	case contract.TypeDropped:
		return m.Type + "/" + m.Reason
	case contract.TypeError:
		return m.Type + "/" + m.Code
	}
	return m.Type
}

// count records the answer to one measured frame, took after it was sent:
// by kind (result, dropped/<reason>, error/<code>), and a result's latency
// and timing.
func (r *sessionLoad) count(m answer, took time.Duration) {
	r.sent++
	if m.Type == contract.TypeResult {
		model := time.Duration(m.Timing.InferMS * float64(time.Millisecond))
		decode := time.Duration(m.Timing.DecodeMS * float64(time.Millisecond))
		r.latency = append(r.latency, took)
		r.model = append(r.model, model)
		r.outside = append(r.outside, took-model-decode)
		r.decode = append(r.decode, decode)
		r.decodeCPU = append(r.decodeCPU, time.Duration(m.Timing.DecodeCPUMS*float64(time.Millisecond)))
		r.workers[m.Worker]++
	}
	r.answers[m.kind()]++
	r.answered = append(r.answered, took)
}

// runPacedSession is one session sending a frame every pace, as a webcam page
// does, with one frame in flight: when an answer comes later than pace the
// next frame goes at once. Frames sent during measure (after warmup) count,
// every answer by kind; a frame not answered within answerWait ends the run
// and shows up in unanswered().
func runPacedSession(t testing.TB, base string, frame []byte, pace, warmup, measure time.Duration) sessionLoad {
	t.Helper()
	r, err := pacedSession(base, frame, pace, warmup, measure, t.Logf)
	if err != nil {
		t.Fatalf("paced session: %v", err)
	}
	return r
}

// pacedSession is runPacedSession's session, for any goroutine: a session
// that cannot open or send ends with an error, what it saw until then counted.
func pacedSession(base string, frame []byte, pace, warmup, measure time.Duration, logf func(string, ...any)) (sessionLoad, error) {
	res := sessionLoad{answers: map[string]int{}, workers: map[string]int{}, elapsed: measure}
	var sendErr error
	err := putLoad(base, loadSpec{sessions: 1, inFlight: 1, frame: frame, pace: pace, d: warmup + measure},
		res.measured(warmup, measure, func(err error) {
			if errors.Is(err, errSendFailed) {
				sendErr = err
				return
			}
			logf("paced session: a frame unanswered: %v", err)
		}))
	if err == nil {
		err = sendErr
	}
	return res.sorted(), err
}

// sorted sorts r's durations, for quantile.
func (r sessionLoad) sorted() sessionLoad {
	slices.Sort(r.latency)
	slices.Sort(r.model)
	slices.Sort(r.outside)
	slices.Sort(r.decode)
	slices.Sort(r.decodeCPU)
	slices.Sort(r.answered)
	return r
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
	r.decode = slices.Sorted(slices.Values(append(r.decode, o.decode...)))
	r.decodeCPU = slices.Sorted(slices.Values(append(r.decodeCPU, o.decodeCPU...)))
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
	Batch1MS       float64   `json:"batch1_ms"`        // one image, one call
	BatchedPerS    float64   `json:"batched_images_s"` // images/s at the batched size
	BatchedSize    int       `json:"batched_size"`
	DecodePageMS   float64   `json:"decode_page_ms"` // decode of a 224x224 JPEG
	ModelThreads   int       `json:"threads"`
	MachineSummary string    `json:"machine"`
	Runtime        string    `json:"runtime"`
	PacedMS        float64   `json:"paced_p50_ms"` // batch 1, one call every pace (bareOptions.pace)
	PacedP90MS     float64   `json:"paced_p90_ms"`
	PacedCallsMS   []float64 `json:"paced_calls_ms"` // each paced call, sorted
	Error          string    `json:"error"`          // the runtime could not load the model
}

// bareOptions: what measureBareModel times, beyond the defaults (the uint8
// .tflite file on its first runner, batch 1 and batched back to back).
type bareOptions struct {
	model   string        // a .tflite file; empty: tfliteModel
	runtime string        // --runtime; empty: the model's first runner
	pace    time.Duration // also batch-1 calls one every pace (PacedMS); 0: none
	paceFor time.Duration // how long the paced calls go on; 0: pacedMeasure
	// brief: back to back timed once and briefly (a later round's, whose
	// back-to-back figures are not reported).
	brief bool
}

func measureBareModel(t testing.TB, frame []byte, o bareOptions) bareModel {
	t.Helper()
	if o.model == "" {
		o.model = tfliteModel(t)
	}
	dir := t.TempDir()
	framePath := filepath.Join(dir, "frame.jpg")
	if err := os.WriteFile(framePath, frame, 0o600); err != nil {
		t.Fatal(err)
	}
	python := envOr("WORKER_PYTHON", filepath.Join(repoRoot(t), ".venv", "bin", "python"))
	repeats, minTime := "3", "1"
	if o.brief {
		repeats, minTime = "1", "0.2"
	}
	args := []string{"-m", "bench.worker.throughput", "--json", "--model", "tflite:" + o.model,
		"--worker-frames", "0", "--repeats", repeats, "--min-time", minTime, "--frame", framePath}
	if o.runtime != "" {
		args = append(args, "--runtime", o.runtime)
	}
	if o.pace > 0 {
		paceFor := o.paceFor
		if paceFor == 0 {
			paceFor = pacedMeasure
		}
		args = append(args, "--pace-ms", strconv.FormatFloat(ms(o.pace), 'f', -1, 64), "--pace-time", strconv.FormatFloat(paceFor.Seconds(), 'f', -1, 64))
	}
	cmd := exec.Command(python, args...)
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
	if m.Error != "" {
		t.Fatalf("bare model on %s: %s", m.Runtime, m.Error)
	}
	return m
}
