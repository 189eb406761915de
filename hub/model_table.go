package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/webcamhub/webcamhub/contract"
)

// The model table: which model-versions the workers serve now, learnt from
// their micro service info (nats_models.go), and which names were ever
// served (unknown_model against model_unavailable). A session or an analyze
// request names a model (or none: the default) and the table picks the
// model-version its frame goes to, at the moment it is sent.

var (
	// ErrUnknownModel: no worker has served a model of that name since the hub started.
	ErrUnknownModel = errors.New("no worker serves a model of that name")
	// ErrModelUnavailable: the name was served, but no worker serves it (or that version) now.
	ErrModelUnavailable = errors.New("the model is not served right now")
)

// modelMissRefreshEvery bounds how often a frame or request naming a model
// the table does not hold makes the hub ask the workers again: a worker
// that just started is found at once, while a client repeating an unknown
// name costs the workers at most four info requests a second.
const modelMissRefreshEvery = 250 * time.Millisecond

// modelTarget is the model-version a frame is sent to.
type modelTarget struct {
	Name    string
	Version int
	// Pinned: the client asked for this version; name-only requests follow
	// the name's default version.
	Pinned bool
}

// Ref is name@version, or "" for the zero target.
func (t modelTarget) Ref() string {
	if t.Name == "" {
		return ""
	}
	return contract.ModelRef(t.Name, t.Version)
}

// servedVersion is one model-version as the workers advertise it.
type servedVersion struct {
	meta      map[string]string // endpoint metadata (of the first instance seen)
	instances int               // workers serving it now
	// framesPerMessage is the least frames_per_message among its workers
	// (1 for one that does not advertise it): the most frames one message
	// to the model-version may carry (frame_batch.go).
	framesPerMessage int
}

// modelTable is what the workers serve now; safe for concurrent use.
type modelTable struct {
	defaultRef string // HUB_DEFAULT_MODEL, "" for the alphabetically first served name
	// refresh asks the workers again and calls set (natsBroker.refreshModels);
	// nil where no workers are asked (tests of the table alone).
	refresh func()

	mu          sync.RWMutex
	served      map[string]map[int]*servedVersion // name -> version -> served now
	errors      map[string]map[string]string      // name -> version -> why it failed to load (model_errors)
	seen        map[string]bool                   // every name ever served or failed
	lastMissRef time.Time                         // when a miss last refreshed
	missRefresh chan struct{}                     // closed when the miss's refresh under way is done; nil when none is
}

func newModelTable(defaultRef string) *modelTable {
	return &modelTable{defaultRef: defaultRef, served: map[string]map[int]*servedVersion{},
		errors: map[string]map[string]string{}, seen: map[string]bool{}}
}

// set replaces what is served with what infos advertise: every endpoint of
// the inference service whose metadata names a valid model-version on its
// own subject, and the versions that failed to load (model_errors).
func (t *modelTable) set(infos []contract.WorkerInfo) {
	served := map[string]map[int]*servedVersion{}
	failed := map[string]map[string]string{}
	for _, info := range infos {
		perMessage := framesPerMessage(info.Metadata)
		for _, ep := range info.Endpoints {
			name := ep.Metadata[contract.MetaModel]
			version, err := strconv.Atoi(ep.Metadata[contract.MetaVersion])
			if err != nil || !contract.ValidModelName(name) || version < contract.MinModelVersion || version > contract.MaxModelVersion ||
				ep.Subject != contract.InferEndpointSubject(name, version) {
				continue // not an endpoint of the contract: nothing is sent there
			}
			if served[name] == nil {
				served[name] = map[int]*servedVersion{}
			}
			if v := served[name][version]; v != nil {
				v.instances++
				v.framesPerMessage = min(v.framesPerMessage, perMessage)
			} else {
				served[name][version] = &servedVersion{meta: ep.Metadata, instances: 1, framesPerMessage: perMessage}
			}
		}
		var errs map[string]string
		if json.Unmarshal([]byte(info.Metadata[contract.MetaModelErrors]), &errs) != nil {
			continue
		}
		for ref, why := range errs {
			name, version, err := contract.ParseModelRef(ref)
			if err != nil || version == 0 {
				continue
			}
			if failed[name] == nil {
				failed[name] = map[string]string{}
			}
			failed[name][strconv.Itoa(version)] = why
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.served, t.errors = served, failed
	for name := range served {
		t.seen[name] = true
	}
	for name := range failed {
		t.seen[name] = true
	}
}

// framesPerMessage is what a worker's service metadata says one message to
// it may carry: 1 (single frames only) when it says nothing or nonsense.
func framesPerMessage(meta map[string]string) int {
	n, err := strconv.Atoi(meta[contract.MetaFramesPerMessage])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// perMessage is the most frames one message to target may carry now: the
// least its known workers advertise; 1 when it is not served.
func (t *modelTable) perMessage(target modelTarget) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if v := t.served[target.Name][target.Version]; v != nil {
		return v.framesPerMessage
	}
	return 1
}

// pick is the model-version a frame for name (empty: the default model) at
// version (0: the name's default version) goes to now. When the table
// holds no such model it asks the workers once more (at most every
// modelMissRefreshEvery) before it answers an error wrapping
// ErrUnknownModel, ErrModelUnavailable or, with no model served at all and
// none named, ErrUnavailable.
func (t *modelTable) pick(name string, version int) (modelTarget, error) {
	target, err := t.lookup(name, version)
	if err == nil || t.refresh == nil {
		return target, err
	}
	t.mu.Lock()
	if running := t.missRefresh; running != nil { // another miss is asking: its answer will do
		t.mu.Unlock()
		<-running
		return t.lookup(name, version)
	}
	if time.Since(t.lastMissRef) < modelMissRefreshEvery {
		t.mu.Unlock()
		return target, err
	}
	running := make(chan struct{})
	t.missRefresh, t.lastMissRef = running, time.Now()
	t.mu.Unlock()
	t.refresh()
	t.mu.Lock()
	t.missRefresh = nil
	t.mu.Unlock()
	close(running)
	return t.lookup(name, version)
}

// lookup is pick without asking the workers.
func (t *modelTable) lookup(name string, version int) (modelTarget, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	pinned := version > 0
	if name == "" {
		name, version, pinned = t.defaultModelLocked()
		if name == "" {
			return modelTarget{}, fmt.Errorf("no model served: %w", ErrUnavailable)
		}
	}
	versions := t.served[name]
	switch {
	case !t.seen[name]:
		return modelTarget{}, fmt.Errorf("model %q: %w", name, ErrUnknownModel)
	case len(versions) == 0:
		return modelTarget{}, fmt.Errorf("model %q: %w", name, ErrModelUnavailable)
	case pinned && versions[version] == nil:
		return modelTarget{}, fmt.Errorf("model %s: %w", contract.ModelRef(name, version), ErrModelUnavailable)
	case !pinned:
		version = slices.Max(slices.Collect(maps.Keys(versions)))
	}
	return modelTarget{Name: name, Version: version, Pinned: pinned}, nil
}

// defaultModelLocked is the model of a frame that names none: the
// configured one, else the alphabetically first served name (version 0
// unless the configured reference pins one). Called with mu held.
func (t *modelTable) defaultModelLocked() (name string, version int, pinned bool) {
	if t.defaultRef != "" {
		name, version, _ = contract.ParseModelRef(t.defaultRef) // checked by Config.Validate
		return name, version, version > 0
	}
	if len(t.served) == 0 {
		return "", 0, false
	}
	return slices.Min(slices.Collect(maps.Keys(t.served))), 0, false
}

// gone reports whether target is no longer served, after asking the
// workers again (a "no responders" for it may mean its endpoint vanished,
// or only that every worker of it is full).
func (t *modelTable) gone(target modelTarget) bool {
	if t.refresh != nil {
		t.refresh()
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.served[target.Name][target.Version] == nil
}

// summaries lists the models served now for the welcome, by name; never nil.
func (t *modelTable) summaries() []contract.ModelSummary {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := []contract.ModelSummary{}
	for _, name := range slices.Sorted(maps.Keys(t.served)) {
		versions := slices.Sorted(maps.Keys(t.served[name]))
		def := versions[len(versions)-1]
		meta := t.served[name][def].meta
		classes, _ := strconv.Atoi(meta[contract.MetaClasses])
		out = append(out, contract.ModelSummary{
			Name: name, Versions: versions, DefaultVersion: def, DisplayName: meta[contract.MetaDisplayName],
			Description: meta[contract.MetaDescription], Classes: classes, Task: meta[contract.MetaTask],
		})
	}
	return out
}

// names lists every model name known: served now, or seen before.
func (t *modelTable) names() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Sorted(maps.Keys(t.seen))
}

// metadata is GET /api/v1/models/{name} (version 0) or
// .../versions/{version}; an unknown name wraps ErrUnknownModel.
func (t *modelTable) metadata(name string, version int) (contract.ModelMetadata, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !t.seen[name] {
		return contract.ModelMetadata{}, fmt.Errorf("model %q: %w", name, ErrUnknownModel)
	}
	served := t.served[name]
	md := contract.ModelMetadata{Name: name, Versions: []string{}, Inputs: []contract.ModelTensor{}, Outputs: []contract.ModelTensor{},
		Errors: map[string]string{}}
	versions := slices.Sorted(maps.Keys(served))
	for k, why := range t.errors[name] {
		if version == 0 || k == strconv.Itoa(version) {
			md.Errors[k] = why
		}
	}
	if version > 0 {
		versions = slices.DeleteFunc(versions, func(v int) bool { return v != version })
	}
	for _, v := range versions {
		md.Versions = append(md.Versions, strconv.Itoa(v))
	}
	if len(versions) == 0 {
		return md, nil // known, not served now: not ready
	}
	shown := versions[len(versions)-1]
	md.Ready = true
	if version == 0 {
		md.DefaultVersion = shown
	}
	describe(&md, served[shown].meta)
	return md, nil
}

// describe fills md from one version's endpoint metadata: the Open
// Inference Protocol's platform and tensors, and what the page shows.
func describe(md *contract.ModelMetadata, meta map[string]string) {
	classes, _ := strconv.Atoi(meta[contract.MetaClasses])
	md.Platform = meta[contract.MetaPlatform]
	md.DisplayName, md.Description = meta[contract.MetaDisplayName], meta[contract.MetaDescription]
	md.Classes, md.LabelsSource, md.Task = classes, meta[contract.MetaLabelsSource], meta[contract.MetaTask]
	if shape, ok := inputShape(meta[contract.MetaInput], meta[contract.MetaLayout]); ok {
		md.Inputs = []contract.ModelTensor{{Name: "input", Datatype: oipDatatype(meta[contract.MetaInputDtype]), Shape: shape}}
	}
	md.Outputs = []contract.ModelTensor{{Name: "scores", Datatype: "FP32", Shape: []int64{-1, int64(classes)}}}
}

// inputShape is the batch-first shape of an input HxWxC in layout (-1: any batch size).
func inputShape(hwc, layout string) ([]int64, bool) {
	var h, w, c int64
	if _, err := fmt.Sscanf(hwc, "%dx%dx%d", &h, &w, &c); err != nil {
		return nil, false
	}
	if layout == "NCHW" {
		return []int64{-1, c, h, w}, true
	}
	return []int64{-1, h, w, c}, true
}

// oipDatatype names a worker's input dtype as the Open Inference Protocol does.
func oipDatatype(dtype string) string {
	switch dtype {
	case "uint8":
		return "UINT8"
	case "int8":
		return "INT8"
	case "float16":
		return "FP16"
	default:
		return "FP32"
	}
}
