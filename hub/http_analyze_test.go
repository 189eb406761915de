package hub

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// overBodyLimit marks the case whose body the hub refuses unread.
const overBodyLimit = "(over the body limit)"

// postHeadOfOversized sends only the head of a request whose Content-Length
// is over the body limit, then reads the answer: the hub answers from the
// head without reading the body, and closes. (A client that went on writing
// the body would race that close and could see a reset instead of the 413.)
func postHeadOfOversized(t *testing.T, base string, length int) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "POST /api/v1/analyze HTTP/1.1\r\nHost: " + strings.TrimPrefix(base, "http://") +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(length) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	return readAnswer(t, resp, err)
}

func TestAnalyzeAnswersTopLabels(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), nil)

	for _, body := range []string{analyzeBody(fakeJPEG), `{"base64Image":"data:image/jpeg;base64,` + base64.StdEncoding.EncodeToString(fakeJPEG) + `"}`} {
		status, data := postAnalyze(t, base, body)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, data)
		}
		var preds []analyzePrediction
		if err := json.Unmarshal(data, &preds); err != nil {
			t.Fatal(err)
		}
		if len(preds) != 3 || preds[0].Label != "Egyptian cat" || preds[0].Confidence <= 0 {
			t.Fatalf("predictions %+v", preds)
		}
	}
}

func TestAnalyzeErrorsHaveStatusAndMessage(t *testing.T) {
	ns := startNATS(t, 0)
	_, noWorker := startHub(t, ns.ClientURL(), nil)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	ns2 := startNATS(t, 0)
	startWorker(t, ns2.ClientURL(), testworker.Options{Hold: hold})
	_, hanging := startHub(t, ns2.ClientURL(), func(c *Config) { c.FrameTimeout = 100 * time.Millisecond; c.MaxFrameBytes = 20_000 })

	big := append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte{1}, 30_000)...)
	cases := []struct {
		name, base, body string
		code             string
	}{
		{"not json", hanging, `{"base64`, contract.CodeBadRequest},
		{"no image", hanging, `{}`, contract.CodeBadRequest},
		{"bad base64", hanging, `{"base64Image":"%%%"}`, contract.CodeBadRequest},
		{"not an image", hanging, analyzeBody([]byte("hello, world, this is text")), contract.CodeBadImage},
		{"too large", hanging, analyzeBody(big), contract.CodeTooLarge},
		{"decodes too large", hanging, analyzeBody(pngHeaderOnly(6300, 6300, 16, 6)), contract.CodeTooLarge},
		{"over the body limit", hanging, overBodyLimit, contract.CodeTooLarge},
		{"worker hangs", hanging, analyzeBody(fakeJPEG), contract.CodeTimeout},
		{"no worker", noWorker, analyzeBody(fakeJPEG), contract.CodeUnavailable},
	}
	for _, c := range cases {
		want, _ := contract.LookupError(c.code)
		var status int
		var data []byte
		if c.body == overBodyLimit {
			status, data = postHeadOfOversized(t, c.base, len(analyzeBody(bytes.Repeat(big, 4))))
		} else {
			status, data = postAnalyze(t, c.base, c.body)
		}
		if status != want.HTTPStatus {
			t.Errorf("%s: status %d, want %d (%s)", c.name, status, want.HTTPStatus, data)
			continue
		}
		var e contract.APIError
		if err := json.Unmarshal(data, &e); err != nil || e.Code != c.code || e.Message != want.Message {
			t.Errorf("%s: body %s, want {\"code\":%q,\"message\":%q}", c.name, data, c.code, want.Message)
		}
		if strings.Contains(string(data), "127.0.0.1") || strings.Contains(string(data), "nats") {
			t.Errorf("%s: internal detail in %s", c.name, data)
		}
	}
}

func TestAnalyzeIsRateLimited(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), func(c *Config) { c.APIRatePerMin = 2 })
	statuses := []int{}
	for range 3 {
		status, _ := postAnalyze(t, base, analyzeBody(fakeJPEG))
		statuses = append(statuses, status)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != http.StatusTooManyRequests {
		t.Fatalf("statuses %v, want 200 200 429", statuses)
	}
}

// A worker's own error text never reaches a client: the WebSocket answer,
// the watcher's copy and the REST answer all carry the code's fixed
// sentence, and a code the contract does not know becomes internal.
func TestWorkerErrorsAreAnsweredWithTheFixedSentence(t *testing.T) {
	const leak = "Traceback: cannot open /srv/secret/model at 10.0.0.7"
	for _, c := range []struct{ workerCode, want string }{
		{contract.CodeBadImage, contract.CodeBadImage},
		{contract.CodeBadBatch, contract.CodeInternal}, // a worker-only code: the hub never sends a malformed batch
		{"disk_on_fire", contract.CodeInternal},
	} {
		ns := startNATS(t, 0)
		startWorker(t, ns.ClientURL(), testworker.Options{FailCode: c.workerCode, FailMessage: leak})
		_, base := startHub(t, ns.ClientURL(), nil)
		want, _ := contract.LookupError(c.want)

		streamer := dial(t, base, "", nil)
		session := streamer.Welcome()
		watcher := dial(t, base, "?"+contract.QueryWatch+"="+session, nil)
		watcher.Welcome()
		streamer.SendFrame(fakeJPEG)
		for who, cl := range map[string]*testkit.Client{"streamer": streamer, "watcher": watcher} {
			if m := cl.Next(); m.Type != contract.TypeError || m.Seq != 1 || m.Code != c.want || m.Message != want.Message {
				t.Errorf("worker code %s: %s got %+v, want %s with %q", c.workerCode, who, m, c.want, want.Message)
			}
		}

		status, data := postAnalyze(t, base, analyzeBody(fakeJPEG))
		var e contract.APIError
		if err := json.Unmarshal(data, &e); err != nil || status != want.HTTPStatus || e.Code != c.want || e.Message != want.Message {
			t.Errorf("worker code %s: analyze %d %s, want %d with %s", c.workerCode, status, data, want.HTTPStatus, c.want)
		}
		if strings.Contains(string(data), "secret") {
			t.Errorf("the worker's text reached the API client: %s", data)
		}
	}
}

// do sends a request with the given headers and returns its status and body.
func do(t *testing.T, method, url, body string, header map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// A page on another origin can POST text/plain without a CORS preflight;
// the API takes only application/json.
func TestAnalyzeRequiresJSON(t *testing.T) {
	ns := startNATS(t, 0)
	w := startWorker(t, ns.ClientURL(), testworker.Options{})
	_, base := startHub(t, ns.ClientURL(), nil)
	url := base + "/api/v1/analyze"

	for _, contentType := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		header := map[string]string{"Origin": "https://evil.example"}
		if contentType != "" {
			header["Content-Type"] = contentType
		}
		status, data := do(t, http.MethodPost, url, analyzeBody(fakeJPEG), header)
		var e contract.APIError
		_ = json.Unmarshal(data, &e)
		if status != http.StatusUnsupportedMediaType || e.Code != contract.CodeUnsupportedMedia || e.Message == "" {
			t.Fatalf("Content-Type %q: status %d %s, want 415 %s with a message", contentType, status, data, contract.CodeUnsupportedMedia)
		}
	}
	if w.Frames() != 0 {
		t.Fatalf("the worker classified %d frames sent as non-JSON", w.Frames())
	}
	for _, contentType := range []string{"application/json", "application/json; charset=utf-8"} {
		if status, data := do(t, http.MethodPost, url, analyzeBody(fakeJPEG), map[string]string{"Content-Type": contentType}); status != http.StatusOK {
			t.Fatalf("%s: status %d %s", contentType, status, data)
		}
	}
}

// Real sites send several KB of cookies with every request, the WebSocket
// upgrade included.
func TestSixteenKBOfHeadersAreAccepted(t *testing.T) {
	ns := startNATS(t, 0)
	_, base := startHub(t, ns.ClientURL(), nil)
	cookie := "session=" + strings.Repeat("c", 14<<10)

	if status, _ := do(t, http.MethodGet, base+"/healthz", "", map[string]string{"Cookie": cookie}); status != http.StatusOK {
		t.Fatalf("GET /healthz with 14 KB of cookies: status %d", status)
	}
	dial(t, base, "", http.Header{"Cookie": {cookie}}).Welcome()
	if status, _ := do(t, http.MethodGet, base+"/healthz", "", map[string]string{"Cookie": "session=" + strings.Repeat("c", 20<<10)}); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("GET /healthz with 20 KB of cookies: status %d, want 431", status)
	}
}
