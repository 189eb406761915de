package hub

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
	"github.com/webcamhub/webcamhub/internal/testkit/testworker"
)

// startGrantHub is a hub taking JWTs in front of two workers: alpha@1 (the
// default model: the first name served) and beta@1, beta@2.
func startGrantHub(t *testing.T) (h *Hub, base string) {
	t.Helper()
	ns := startNATS(t, 0)
	startWorker(t, ns.ClientURL(), testworker.Options{Name: "a", Models: []testworker.Model{modelA1}})
	startWorker(t, ns.ClientURL(), testworker.Options{Name: "b", Models: []testworker.Model{modelB1, modelB2}})
	h, base = startHub(t, ns.ClientURL(), func(c *Config) { c.JWTSecret, c.JWTAudience = testJWTSecret, testJWTAudience })
	waitServed(t, h, "alpha", 1, true)
	waitServed(t, h, "beta", 2, true)
	return h, base
}

// tokenFor is a valid JWT whose models claim is models (no claim: nil).
func tokenFor(t *testing.T, models []string) string {
	t.Helper()
	claims := goodClaims()
	if models != nil {
		claims["models"] = models
	}
	return signJWT(t, testJWTSecret, claims)
}

// analyzeWith posts one image to analyze with token and ?model=ref (none
// when empty) and returns the status and the error code (empty on 200).
func analyzeWith(t *testing.T, base, token, ref string) (int, string) {
	t.Helper()
	url := base + contract.APIAnalyzePath
	if ref != "" {
		url += "?" + contract.QueryModel + "=" + ref
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(analyzeBody(fakeJPEG)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	status, body := readAnswer(t, resp, err)
	if status == http.StatusOK {
		return status, ""
	}
	var e contract.APIError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%d %s: %v", status, body, err)
	}
	return status, e.Code
}

// A JWT's models claim is what its session may use: a switch to another
// model is model_forbidden whether that model is served or not (the answer
// tells nothing of what is served) and the session keeps its model; the
// welcome lists only the claim's models, and a session that picks none
// starts on the first of them served (alpha, the hub's default, is not
// in the claim).
func TestTokenModelsClaimLimitsTheSessionsModels(t *testing.T) {
	_, base := startGrantHub(t)
	c := dial(t, base, "", testkit.BearerHeader(tokenFor(t, []string{"gamma", "beta"})))
	w := c.Next()
	if w.Type != contract.TypeWelcome || w.Model != "beta@2" || len(w.Models) != 1 || w.Models[0].Name != "beta" {
		t.Fatalf("welcome %+v: want beta alone, the session on beta@2", w)
	}
	if m := oneFrame(t, c); m.Type != contract.TypeResult || m.Model != "beta" || m.Version != 2 {
		t.Fatalf("a frame without a choice: %+v, want beta@2", m)
	}
	for ref, want := range map[string]string{
		"alpha":   contract.CodeModelForbidden, // served, not in the claim
		"alpha@1": contract.CodeModelForbidden,
		"delta":   contract.CodeModelForbidden, // neither served nor in the claim: the same answer
		"gamma":   contract.CodeUnknownModel,   // in the claim, never served
	} {
		c.SendText(`{"type":"options","model":"` + ref + `"}`)
		if m := c.Next(); m.Type != contract.TypeError || m.Code != want || m.Seq != 0 {
			t.Fatalf("switch to %s: %+v, want %s", ref, m, want)
		}
	}
	if m := oneFrame(t, c); m.Type != contract.TypeResult || m.Model != "beta" || m.Version != 2 {
		t.Fatalf("after the refused switches: %+v, want beta@2 still", m)
	}
	c.SendText(`{"type":"options","model":"beta@1"}`)
	if m := c.Next(); m.Type != contract.TypeModel || m.Model != "beta" || m.Version != 1 {
		t.Fatalf("switch to beta@1: %+v", m)
	}
	if m := oneFrame(t, c); m.Type != contract.TypeResult || m.Model != "beta" || m.Version != 1 {
		t.Fatalf("after the switch: %+v, want beta@1", m)
	}
}

// A claim of no model allows none: every frame is model_forbidden and the
// session goes on (answering each); a token without the claim allows any
// model.
func TestTokenModelsClaimOfNoneAndWithout(t *testing.T) {
	h, base := startGrantHub(t)
	c := dial(t, base, "", testkit.BearerHeader(tokenFor(t, []string{})))
	if w := c.Next(); w.Type != contract.TypeWelcome || len(w.Models) != 0 || w.Model != "" {
		t.Fatalf("welcome %+v: want no model listed and none set", w)
	}
	for range 2 {
		if m := oneFrame(t, c); m.Type != contract.TypeError || m.Code != contract.CodeModelForbidden || m.Seq == 0 {
			t.Fatalf("a frame of a token allowing no model: %+v", m)
		}
	}
	anyModel := dial(t, base, "", testkit.BearerHeader(tokenFor(t, nil)))
	if w := anyModel.Next(); w.Model != "alpha@1" || len(w.Models) != 2 {
		t.Fatalf("welcome of a token without the claim %+v: want both models, alpha@1", w)
	}
	anyModel.SendText(`{"type":"options","model":"beta"}`)
	if m := anyModel.Next(); m.Type != contract.TypeModel || m.Model != "beta" {
		t.Fatalf("switch without the claim: %+v", m)
	}
	if got := testutil.ToFloat64(h.metrics.errors.WithLabelValues(contract.CodeModelForbidden)); got != 2 {
		t.Fatalf("model_forbidden counted %v times, want 2", got)
	}
}

// getWith is GET base+path with token: the status and the body.
func getWith(t *testing.T, base, path, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	return readAnswer(t, resp, err)
}

// analyze and the models' routes hold a JWT to its models claim the same
// way: 403 model_forbidden for another model, served or not; without
// ?model= the first of its models served; the list only its models.
func TestTokenModelsClaimLimitsTheAPI(t *testing.T) {
	_, base := startGrantHub(t)
	only := tokenFor(t, []string{"beta"})
	for _, step := range []struct {
		token, ref string
		status     int
		code       string
	}{
		{only, "alpha", http.StatusForbidden, contract.CodeModelForbidden},
		{only, "delta", http.StatusForbidden, contract.CodeModelForbidden},
		{only, "beta@1", http.StatusOK, ""},
		{only, "", http.StatusOK, ""},
		{tokenFor(t, []string{}), "", http.StatusForbidden, contract.CodeModelForbidden},
		{tokenFor(t, nil), "alpha", http.StatusOK, ""},
	} {
		if status, code := analyzeWith(t, base, step.token, step.ref); status != step.status || code != step.code {
			t.Fatalf("analyze ?model=%q: %d %q, want %d %q", step.ref, status, code, step.status, step.code)
		}
	}
	var list contract.ModelList
	if status, body := getWith(t, base, contract.APIModelsPath, only); status != http.StatusOK || json.Unmarshal(body, &list) != nil ||
		len(list.Models) != 1 || list.Models[0].Name != "beta" {
		t.Fatalf("the models list for a beta-only token: %d %s", status, body)
	}
	for path, want := range map[string]int{
		contract.APIModelPath("beta"):                            http.StatusOK,
		contract.APIModelPath("alpha"):                           http.StatusForbidden,
		contract.APIModelPath("delta"):                           http.StatusForbidden,
		contract.APIModelVersionPath("alpha", "1"):               http.StatusForbidden,
		contract.APIModelPath("alpha") + contract.APIReadySuffix: http.StatusForbidden,
		contract.APIModelPath("beta") + contract.APIReadySuffix:  http.StatusOK,
	} {
		status, body := getWith(t, base, path, only)
		var e contract.APIError
		if status != want || want == http.StatusForbidden && (json.Unmarshal(body, &e) != nil || e.Code != contract.CodeModelForbidden) {
			t.Fatalf("GET %s: %d %s, want %d", path, status, body, want)
		}
	}
}
