package hub

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

var (
	modelA1 = testworker.Model{Name: "alpha", Version: 1, DisplayName: "Alpha"}
	modelB1 = testworker.Model{Name: "beta", Version: 1, Classes: 10}
	modelB2 = testworker.Model{Name: "beta", Version: 2, Classes: 10}
)

// waitServed waits until h's model table serves ref (name@version) or, with want false, does not.
func waitServed(t *testing.T, h *Hub, name string, version int, want bool) {
	t.Helper()
	waitFor(t, "the model table to follow the workers", func() bool {
		_, err := h.models.lookup(name, version)
		return (err == nil) == want
	})
}

// oneFrame sends one frame and returns its answer.
func oneFrame(t *testing.T, c *testkit.Client) testkit.Message {
	t.Helper()
	c.SendFrame(fakeJPEG)
	return c.Next()
}

// A frame goes to its session's model-version only; a session switches
// models with options (acknowledged by a model message), and a name no
// worker serves is unknown_model, one no longer served model_unavailable.
func TestFramesGoToTheirModel(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{Name: "a", Models: []testworker.Model{modelA1}})
	wb := startWorker(t, ns.ClientURL(), testworker.Options{Name: "b", Models: []testworker.Model{modelB1, modelB2}})
	h, base := startHub(t, ns.ClientURL(), nil)
	waitServed(t, h, "beta", 2, true)
	waitServed(t, h, "alpha", 1, true)

	c := dial(t, base, "", nil)
	w := c.Next()
	if w.Type != contract.TypeWelcome || w.Model != "alpha@1" || len(w.Models) != 2 || w.Models[1].Name != "beta" ||
		w.Models[1].DefaultVersion != 2 || len(w.Models[1].Versions) != 2 || w.Models[0].DisplayName != "Alpha" {
		t.Fatalf("welcome %+v", w)
	}
	if m := oneFrame(t, c); m.Type != contract.TypeResult || m.Model != "alpha" || m.Version != 1 || m.Worker != "a" || m.Task != contract.TaskClassification {
		t.Fatalf("default model: %+v", m)
	}
	for _, step := range []struct {
		ref     string
		version int
	}{{"beta", 2}, {"beta@1", 1}} {
		c.SendText(`{"type":"options","model":"` + step.ref + `"}`)
		if m := c.Next(); m.Type != contract.TypeModel || m.Model != "beta" || m.Version != step.version || m.Requested != step.ref {
			t.Fatalf("switch to %s: %+v", step.ref, m)
		}
		if m := oneFrame(t, c); m.Type != contract.TypeResult || m.Model != "beta" || m.Version != step.version || m.Worker != "b" {
			t.Fatalf("after the switch to %s: %+v", step.ref, m)
		}
	}
	c.SendText(`{"type":"options","model":"gamma"}`)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeUnknownModel || m.Seq != 0 {
		t.Fatalf("an unknown model: %+v", m)
	}
	c.SendText(`{"type":"options","model":"no such@1"}`)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeBadRequest {
		t.Fatalf("not a model reference: %+v", m)
	}
	if m := oneFrame(t, c); m.Type != contract.TypeResult || m.Model != "beta" || m.Version != 1 {
		t.Fatalf("the session keeps its model after a refused switch: %+v", m)
	}

	wb.Stop()
	waitServed(t, h, "beta", 0, false)
	if m := oneFrame(t, c); m.Type != contract.TypeError || m.Code != contract.CodeModelUnavailable {
		t.Fatalf("a frame for a model no longer served: %+v", m)
	}
	c.SendText(`{"type":"options","model":"beta"}`)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeModelUnavailable {
		t.Fatalf("switching to a model no longer served: %+v", m)
	}
}

// The models' REST API answers from what the workers advertise, errors of
// versions that failed to load included; analyze takes ?model=.
func TestModelsAPI(t *testing.T) {
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{Name: "b", Models: []testworker.Model{modelB1, modelB2},
		ModelErrors: map[string]string{"beta@3": "labels: 9 lines, the model has 10 classes"}})
	h, base := startHub(t, ns.ClientURL(), func(c *Config) { c.DefaultModel = "beta@1" })
	waitServed(t, h, "beta", 2, true)

	code, body := get(t, base+contract.APIModelPath("beta"))
	var md contract.ModelMetadata
	if err := json.Unmarshal([]byte(body), &md); code != http.StatusOK || err != nil {
		t.Fatalf("GET model: %d %s", code, body)
	}
	if strings.Join(md.Versions, ",") != "1,2" || md.DefaultVersion != 2 || !md.Ready || md.Classes != 10 || md.Platform != contract.PlatformTFLite ||
		len(md.Inputs) != 1 || len(md.Inputs[0].Shape) != 4 || md.Inputs[0].Shape[1] != 224 || md.Outputs[0].Shape[1] != 10 ||
		md.Errors["3"] == "" || md.LabelsSource != contract.LabelsFromImageNet {
		t.Errorf("model metadata %+v", md)
	}
	code, body = get(t, base+contract.APIModelsPath)
	if code != http.StatusOK || !strings.Contains(body, `"name":"beta"`) {
		t.Errorf("GET models: %d %s", code, body)
	}
	for path, want := range map[string]int{
		contract.APIModelVersionPath("beta", "1"):                           http.StatusOK,
		contract.APIModelVersionPath("beta", "1") + contract.APIReadySuffix: http.StatusOK,
		contract.APIModelPath("beta") + contract.APIReadySuffix:             http.StatusOK,
		contract.APIModelVersionPath("beta", "3") + contract.APIReadySuffix: http.StatusServiceUnavailable,
		contract.APIModelPath("gamma"):                                      http.StatusNotFound,
		contract.APIModelVersionPath("beta", "x"):                           http.StatusBadRequest,
	} {
		if code, body := get(t, base+path); code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, want)
		}
	}
	for query, want := range map[string]int{"": http.StatusOK, "?model=beta@2": http.StatusOK, "?model=gamma": http.StatusNotFound,
		"?model=beta@7": http.StatusServiceUnavailable, "?model=beta@x": http.StatusBadRequest} {
		if code, body := postAnalyzeAt(t, base+contract.APIAnalyzePath+query, analyzeBody(fakeJPEG)); code != want {
			t.Errorf("analyze%s: %d %s, want %d", query, code, body, want)
		}
	}
	c := dial(t, base, "", nil)
	if w := c.Next(); w.Model != "beta@1" {
		t.Errorf("HUB_DEFAULT_MODEL=beta@1: the welcome's model is %q", w.Model)
	}
}

// A rollout loses nothing: while a session streams to a name, a worker
// with the next version comes and the old one goes; every frame is
// answered with a result, the new version's once it is served. A session
// pinned to the old version gets model_unavailable once it is gone.
func TestRolloutLosesNoFrame(t *testing.T) {
	ns := startNATS(t, 0)
	old := startWorker(t, ns.ClientURL(), testworker.Options{Name: "v1", Models: []testworker.Model{modelB1}})
	h, base := startHub(t, ns.ClientURL(), func(c *Config) { c.SessionFPS = 1e6 }) // as fast as answered
	waitServed(t, h, "beta", 1, true)
	pinned := dial(t, base, "", nil)
	pinned.Welcome()
	pinned.SendText(`{"type":"options","model":"beta@1"}`)
	if m := pinned.Next(); m.Type != contract.TypeModel {
		t.Fatalf("pinning: %+v", m)
	}

	c := dial(t, base, "", nil)
	c.Welcome()
	var answered, fromV2 atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			c.SendFrame(fakeJPEG)
			m, err := c.Read(testWait)
			if err != nil || m.Type != contract.TypeResult {
				done <- &rolloutError{m}
				return
			}
			answered.Add(1)
			if m.Version == 2 {
				fromV2.Add(1)
			}
		}
	}()
	streaming := func(n *atomic.Int64, want int64) func() bool {
		return func() bool {
			select {
			case err := <-done:
				t.Fatalf("the session stopped: %v", err)
			default:
			}
			return n.Load() >= want
		}
	}
	waitFor(t, "frames answered by v1", streaming(&answered, 5))
	startWorker(t, ns.ClientURL(), testworker.Options{Name: "v2", Models: []testworker.Model{modelB2}})
	waitFor(t, "frames answered by v2", streaming(&fromV2, 5))
	old.Stop()
	waitServed(t, h, "beta", 1, false)
	n := answered.Load()
	waitFor(t, "frames answered after v1 left", streaming(&answered, n+20))
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := oneFrame(t, pinned); m.Type != contract.TypeError || m.Code != contract.CodeModelUnavailable {
		t.Fatalf("a session pinned to the version gone: %+v", m)
	}
}

type rolloutError struct{ m testkit.Message }

func (e *rolloutError) Error() string {
	return "a frame during the rollout was answered " + e.m.Type + " " + e.m.Code
}

// postAnalyzeAt posts body to url (the analyze path with its query).
func postAnalyzeAt(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	return readAnswer(t, resp, err)
}

// When the last worker leaves, the server answers the hub's ping and info
// requests "no responders": that is an answer (no worker, no model), so the
// model table, the readiness body and hub_workers follow it, and a frame
// for the model that was served is model_unavailable, not sent anywhere.
func TestTheLastWorkerLeavingEmptiesTheModelTable(t *testing.T) {
	ns := startNATS(t, 0)
	w := startWorker(t, ns.ClientURL(), testworker.Options{Name: "last", Models: []testworker.Model{modelA1}})
	h, base := startHub(t, ns.ClientURL(), nil)
	waitServed(t, h, "alpha", 1, true)
	waitFor(t, "the hub to count the worker", func() bool { return h.broker.workersSeen.Load() == 1 })

	w.Stop()
	waitServed(t, h, "alpha", 1, false)
	waitFor(t, "the hub to count no worker", func() bool { return h.broker.workersSeen.Load() == 0 })
	if code, body := get(t, base+contract.APIModelPath("alpha")+contract.APIReadySuffix); code != http.StatusServiceUnavailable {
		t.Errorf("alpha's readiness with no worker: %d %s, want 503", code, body)
	}
	c := dial(t, base, "", nil)
	c.Next() // welcome
	c.SendText(`{"type":"` + contract.TypeOptions + `","model":"alpha"}`)
	if m := c.Next(); m.Type != contract.TypeError || m.Code != contract.CodeModelUnavailable {
		t.Errorf("choosing alpha with no worker: %+v, want model_unavailable", m)
	}
}

// A model-version's frames per message is the least its workers advertise,
// and 1 (single frames only) as soon as one of them does not say, or says
// nonsense: an older worker in a rolling upgrade.
func TestFramesPerMessageIsTheLeastOfItsWorkers(t *testing.T) {
	info := func(perMessage string, models ...testworker.Model) contract.WorkerInfo {
		wi := contract.WorkerInfo{Type: "io.nats.micro.v1.info_response", Name: contract.WorkerService, Metadata: map[string]string{}}
		if perMessage != "" {
			wi.Metadata[contract.MetaFramesPerMessage] = perMessage
		}
		for _, m := range models {
			wi.Endpoints = append(wi.Endpoints, contract.WorkerEndpoint{Name: contract.InferEndpointName(m.Name, m.Version),
				Subject: contract.InferEndpointSubject(m.Name, m.Version), QueueGroup: contract.QueueGroup, Metadata: testworker.EndpointMetadata(m)})
		}
		return wi
	}
	modelC1 := testworker.Model{Name: "gamma", Version: 1}
	table := newModelTable("")
	table.set([]contract.WorkerInfo{info("8", modelA1), info("4", modelA1, modelB1), info("8", modelB2), info("", modelB2), info("0", modelC1)})
	for _, c := range []struct {
		model testworker.Model
		want  int
	}{{modelA1, 4}, {modelB1, 4}, {modelB2, 1}, {modelC1, 1}, {testworker.Model{Name: "none", Version: 1}, 1}} {
		if got := table.perMessage(modelTarget{Name: c.model.Name, Version: c.model.Version}); got != c.want {
			t.Errorf("%s@%d: %d frames per message, want %d", c.model.Name, c.model.Version, got, c.want)
		}
	}
}
