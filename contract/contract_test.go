package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// docPath is docs/asyncapi.yaml, relative to this package.
const docPath = "../docs/asyncapi.yaml"

// docURL names the document for the schema compiler; schemas are compiled
// as docURL#/components/schemas/X so that their $refs resolve in it.
const docURL = "file:///asyncapi.yaml"

// loadDoc reads the document as JSON values: yaml.v3's maps and numbers
// go through encoding/json so that it looks exactly as a JSON document would.
func loadDoc(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var y any
	if err := yaml.Unmarshal(data, &y); err != nil {
		t.Fatalf("%s: %v", docPath, err)
	}
	return asJSON(t, y).(map[string]any)
}

// asJSON turns a value decoded from YAML into what jsonschema.UnmarshalJSON
// makes of its JSON encoding (objects with string keys, json.Number).
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonable converts yaml.v3's map[any]any (maps with non-string keys) for
// encoding/json.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonable(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonable(e)
		}
		return out
	default:
		return v
	}
}

// at walks the document along keys, failing the test when one is missing.
func at(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for i, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object", strings.Join(keys[:i], "."))
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("%s: missing", strings.Join(keys[:i+1], "."))
		}
	}
	return v
}

func obj(t *testing.T, v any, keys ...string) map[string]any {
	t.Helper()
	m, ok := at(t, v, keys...).(map[string]any)
	if !ok {
		t.Fatalf("%s: not an object", strings.Join(keys, "."))
	}
	return m
}

func str(t *testing.T, v any, keys ...string) string {
	t.Helper()
	s, ok := at(t, v, keys...).(string)
	if !ok {
		t.Fatalf("%s: not a string", strings.Join(keys, "."))
	}
	return s
}

func strs(t *testing.T, v any, keys ...string) []string {
	t.Helper()
	list, ok := at(t, v, keys...).([]any)
	if !ok {
		t.Fatalf("%s: not a list", strings.Join(keys, "."))
	}
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = fmt.Sprint(e)
	}
	return out
}

func integer(t *testing.T, v any, keys ...string) int {
	t.Helper()
	n, err := strconv.Atoi(fmt.Sprint(at(t, v, keys...)))
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(keys, "."), err)
	}
	return n
}

// keys is m's keys in order.
func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// sameSet fails the test unless go and doc hold the same names, saying
// which are missing on which side.
func sameSet(t *testing.T, what string, goSide, docSide []string) {
	t.Helper()
	for _, g := range goSide {
		if !slices.Contains(docSide, g) {
			t.Errorf("%s: %q is in Go but not in %s", what, g, docPath)
		}
	}
	for _, d := range docSide {
		if !slices.Contains(goSide, d) {
			t.Errorf("%s: %q is in %s but not in Go", what, d, docPath)
		}
	}
}

// substitute fills an address's {param} placeholders.
func substitute(address string, params map[string]string) string {
	for k, v := range params {
		address = strings.ReplaceAll(address, "{"+k+"}", v)
	}
	return address
}

func TestConstantsMatchTheDocument(t *testing.T) {
	doc := loadDoc(t)

	if got := integer(t, doc, "x-protocol-version"); got != ProtocolVersion {
		t.Errorf("x-protocol-version %d, Go ProtocolVersion %d", got, ProtocolVersion)
	}

	// Channels: every address, built the Go way with sample parameters.
	channels := obj(t, doc, "channels")
	p := map[string]string{"model": "MODEL", "version": "7", "kind": "KIND", "id": "ID"}
	goAddresses := map[string]string{
		"ws":             WebSocketPath,
		"infer":          InferSubject("MODEL", 7, "KIND", "ID"),
		"results":        ResultSubject("KIND", "ID"),
		"sessionInfo":    SessionInfoSubject("ID"),
		"recordedFrames": RecordingFrameSubject("ID"),
		"workersPing":    WorkerPingSubject,
		"workerPing":     WorkerPingIDSubject("ID"),
		"workersInfo":    WorkerInfoSubject,
	}
	sameSet(t, "channels", keys(goAddresses), keys(channels))
	for name, want := range goAddresses {
		if _, ok := channels[name]; !ok {
			continue
		}
		if got := substitute(str(t, channels, name, "address"), p); got != want {
			t.Errorf("channel %s: address %q, Go %q", name, got, want)
		}
	}
	// The wildcards: an address up to its first parameter, then ">".
	for name, want := range map[string]string{"infer": InferWildcard, "results": ResultsWildcard} {
		address := str(t, channels, name, "address")
		if got := address[:strings.Index(address, "{")] + ">"; got != want {
			t.Errorf("channel %s: wildcard %q, Go %q", name, got, want)
		}
	}
	if got := InferSubject("m", 1, KindLive, "x"); !strings.HasPrefix(got, InferWildcard[:len(InferWildcard)-1]) {
		t.Errorf("InferSubject %q is not under InferWildcard %q", got, InferWildcard)
	}
	// One micro endpoint per model-version (channels.infer.x-micro-endpoint).
	endpoint := obj(t, channels, "infer", "x-micro-endpoint")
	if got, want := substitute(str(t, endpoint, "name"), p), InferEndpointName("MODEL", 7); got != want {
		t.Errorf("endpoint name %q, Go %q", got, want)
	}
	if got, want := substitute(str(t, endpoint, "subject"), p), InferEndpointSubject("MODEL", 7); got != want {
		t.Errorf("endpoint subject %q, Go %q", got, want)
	}
	if got := str(t, endpoint, "queueGroup"); got != QueueGroup {
		t.Errorf("endpoint queue group %q, Go %q", got, QueueGroup)
	}
	if got := InferSubject("m", 3, KindAPI, "r1"); !strings.HasPrefix(got, strings.TrimSuffix(InferEndpointSubject("m", 3), ">")) {
		t.Errorf("InferSubject %q is not under its endpoint's subject %q", got, InferEndpointSubject("m", 3))
	}
	// Recorded frames are stored under x-stored-as, whatever model took them.
	if got, want := substitute(str(t, channels, "recordedFrames", "x-stored-as"), p), RecordedFrameStoredSubject("ID"); got != want {
		t.Errorf("recorded frames stored as %q, Go %q", got, want)
	}
	for key, want := range map[string]string{"x-ws-subprotocol": Subprotocol, "x-ws-resume-protocol-prefix": ResumeProtocolPrefix, "x-ws-bearer-protocol-prefix": BearerProtocolPrefix} {
		if got := str(t, doc, key); got != want {
			t.Errorf("%s %q, Go %q", key, got, want)
		}
	}
	sameSet(t, "ws query parameters", []string{QueryWatch, QueryResume}, keys(obj(t, channels, "ws", "bindings", "ws", "query", "properties")))
	for ch, want := range map[string][]string{"infer": InferKinds, "results": Kinds} {
		if got := strs(t, channels, ch, "parameters", "kind", "enum"); !slices.Equal(got, want) {
			t.Errorf("channel %s: kinds %v, Go %v", ch, got, want)
		}
	}
	if got := InferSubject("MODEL", 7, KindBatch, "ID"); got != substitute(str(t, channels, "infer", "address"), map[string]string{"model": "MODEL", "version": "7", "kind": "batch", "id": "ID"}) {
		t.Errorf("batch subject %q", got)
	}

	if got := str(t, doc, "operations", "workerReceiveFrame", "bindings", "nats", "queue"); got != QueueGroup {
		t.Errorf("queue group %q, Go %q", got, QueueGroup)
	}

	// Headers, in both directions.
	schemas := obj(t, doc, "components", "schemas")
	sameSet(t, "FrameHeaders", FrameHeaders, keys(obj(t, schemas, "FrameHeaders", "properties")))
	sameSet(t, "ReplyHeaders", ReplyHeaders, keys(obj(t, schemas, "ReplyHeaders", "properties")))
	if got := strs(t, schemas, "FrameHeaders", "properties", HeaderContentType, "enum"); !slices.Equal(got, ContentTypes) {
		t.Errorf("frame content types %v, Go %v", got, ContentTypes)
	}
	if got := str(t, schemas, "ReplyHeaders", "properties", HeaderContentType, "const"); got != ContentTypeJSON {
		t.Errorf("reply content type %q, Go %q", got, ContentTypeJSON)
	}
	// Batches: their headers, content type and entry keys (the msgpack tags).
	sameSet(t, "FrameBatchHeaders", FrameBatchHeaders, keys(obj(t, schemas, "FrameBatchHeaders", "properties")))
	sameSet(t, "BatchReplyHeaders", BatchReplyHeaders, keys(obj(t, schemas, "BatchReplyHeaders", "properties")))
	for _, s := range []string{"FrameBatchHeaders", "BatchReplyHeaders"} {
		if got := str(t, schemas, s, "properties", HeaderContentType, "const"); got != ContentTypeFrameBatch {
			t.Errorf("%s content type %q, Go %q", s, got, ContentTypeFrameBatch)
		}
		if !slices.Contains(strs(t, schemas, s, "required"), HeaderFrameCount) {
			t.Errorf("%s does not require %s", s, HeaderFrameCount)
		}
	}
	for _, m := range []string{"frameBatch", "workerBatchReply"} {
		if got := str(t, doc, "components", "messages", m, "contentType"); got != ContentTypeFrameBatch {
			t.Errorf("message %s content type %q, Go %q", m, got, ContentTypeFrameBatch)
		}
	}
	var entryKeys []string
	entry := reflect.TypeFor[BatchFrame]()
	for i := range entry.NumField() {
		entryKeys = append(entryKeys, entry.Field(i).Tag.Get("msgpack"))
	}
	sameSet(t, "FrameBatchEntry properties", entryKeys, keys(obj(t, schemas, "FrameBatchEntry", "properties")))
	sameSet(t, "FrameBatchEntry required", BatchFrameRequiredKeys, strs(t, schemas, "FrameBatchEntry", "required"))
	if got := strs(t, schemas, "FrameBatchEntry", "properties", "kind", "enum"); !slices.Equal(got, BatchFrameKinds) {
		t.Errorf("batch entry kinds %v, Go %v", got, BatchFrameKinds)
	}

	// The workers' micro service: its ping subject and the name in its pong.
	if got := str(t, schemas, "WorkerPong", "properties", "name", "const"); got != WorkerService || WorkerPingSubject != "$SRV.PING."+got {
		t.Errorf("micro service %q (ping %q), Go %q (%q)", got, str(t, channels, "workersPing", "address"), WorkerService, WorkerPingSubject)
	}
	if got := str(t, schemas, "WorkerInfo", "properties", "name", "const"); got != WorkerService || WorkerInfoSubject != "$SRV.INFO."+got {
		t.Errorf("micro service info %q, Go %q (%q)", got, WorkerService, WorkerInfoSubject)
	}
	if got := str(t, schemas, "WorkerEndpoint", "properties", "queue_group", "const"); got != QueueGroup {
		t.Errorf("endpoint queue_group %q, Go %q", got, QueueGroup)
	}
	// Service and endpoint metadata keys, both ways.
	sameSet(t, "ServiceMetadata required", ServiceMetadataKeys, strs(t, schemas, "ServiceMetadata", "required"))
	sameSet(t, "ServiceMetadata properties", slices.Concat(ServiceMetadataKeys, ServiceMetadataOptionalKeys), keys(obj(t, schemas, "ServiceMetadata", "properties")))
	sameSet(t, "EndpointMetadata properties", slices.Concat(EndpointMetadataRequiredKeys, EndpointMetadataOptionalKeys), keys(obj(t, schemas, "EndpointMetadata", "properties")))
	sameSet(t, "EndpointMetadata required", EndpointMetadataRequiredKeys, strs(t, schemas, "EndpointMetadata", "required"))

	// Models: names, references, versions, tasks, labels sources, platforms.
	for schema, want := range map[string]string{"ModelName": ModelNamePattern, "ModelRef": ModelRefPattern} {
		if got := str(t, schemas, schema, "pattern"); got != want {
			t.Errorf("%s pattern %q, Go %q", schema, got, want)
		}
	}
	if got := str(t, doc, "x-model-ref-version-separator"); got != ModelRefVersionSeparator {
		t.Errorf("x-model-ref-version-separator %q, Go %q", got, ModelRefVersionSeparator)
	}
	if lo, hi := integer(t, schemas, "ModelVersion", "minimum"), integer(t, schemas, "ModelVersion", "maximum"); lo != MinModelVersion || hi != MaxModelVersion {
		t.Errorf("ModelVersion %d..%d, Go %d..%d", lo, hi, MinModelVersion, MaxModelVersion)
	}
	for schema, goSide := range map[string][]string{"ModelTask": ModelTasks, "LabelsSource": LabelsSources, "ModelPlatform": ModelPlatforms} {
		if got := strs(t, schemas, schema, "enum"); !slices.Equal(got, goSide) {
			t.Errorf("%s %v, Go %v", schema, got, goSide)
		}
	}
	if got := str(t, schemas, "ModelSet", "properties", "type", "const"); got != TypeModel {
		t.Errorf("ModelSet type %q, Go %q", got, TypeModel)
	}

	// The REST routes (x-rest), and the analyze API's query parameter.
	rest := obj(t, doc, "x-rest")
	goRoutes := []string{"POST " + APIAnalyzePath, "GET " + APIModelsPath}
	for _, path := range []string{APIModelPath("{name}"), APIModelVersionPath("{name}", "{version}")} {
		goRoutes = append(goRoutes, "GET "+path, "GET "+path+APIReadySuffix)
	}
	sameSet(t, "x-rest routes", goRoutes, keys(rest))
	sameSet(t, "analyze query", []string{QueryModel}, keys(obj(t, rest, "POST "+APIAnalyzePath, "query")))
	for route, r := range rest {
		errs, _ := r.(map[string]any)["errors"].([]any)
		for _, code := range errs {
			if _, ok := LookupError(fmt.Sprint(code)); !ok {
				t.Errorf("x-rest %s: error %v is not a code", route, code)
			}
		}
	}

	// Message types: the type const of every schema that has one.
	var docTypes []string
	for name, s := range schemas {
		props, _ := s.(map[string]any)["properties"].(map[string]any)
		typ, _ := props["type"].(map[string]any)
		if c, ok := typ["const"].(string); ok {
			if !slices.Contains(docTypes, c) {
				docTypes = append(docTypes, c)
			}
			if !slices.Contains(MessageTypes, c) {
				t.Errorf("schema %s: type %q is not in Go", name, c)
			}
		}
	}
	sameSet(t, "message types", MessageTypes, docTypes)

	if got := strs(t, schemas, "DroppedReason", "enum"); !slices.Equal(got, DroppedReasons) {
		t.Errorf("dropped reasons %v, Go %v", got, DroppedReasons)
	}

	// Error codes: the table, the ErrorCode enum and Go, row by row.
	table := obj(t, doc, "x-error-codes")
	goCodes := make([]string, len(ErrorCodes))
	for i, row := range ErrorCodes {
		goCodes[i] = row.Code
	}
	sameSet(t, "x-error-codes", goCodes, keys(table))
	sameSet(t, "ErrorCode enum", goCodes, strs(t, schemas, "ErrorCode", "enum"))
	for _, row := range ErrorCodes {
		if _, ok := table[row.Code]; !ok {
			continue
		}
		doc := ErrorCode{
			Code:       row.Code,
			HTTPStatus: integer(t, table, row.Code, "httpStatus"),
			Message:    str(t, table, row.Code, "message"),
			CountsAs:   str(t, table, row.Code, "countsAs"),
		}
		if doc != row {
			t.Errorf("error code %s: document %+v, Go %+v", row.Code, doc, row)
		}
		if !slices.Contains([]string{CountsRefused, CountsShed, CountsFailed}, row.CountsAs) {
			t.Errorf("error code %s counts as %q", row.Code, row.CountsAs)
		}
	}
	// Codes only a worker answers with: each names the client's code, and
	// a worker's error may carry it (WorkerErrorCode).
	workerOnly := obj(t, doc, "x-worker-only-error-codes")
	sameSet(t, "x-worker-only-error-codes", keys(WorkerOnlyCodes), keys(workerOnly))
	for code, client := range WorkerOnlyCodes {
		if _, ok := LookupError(code); ok {
			t.Errorf("worker-only code %s is also a client's code", code)
		}
		if _, ok := workerOnly[code]; ok && str(t, workerOnly, code, "clientCode") != client {
			t.Errorf("worker-only code %s: client code %q, Go %q", code, str(t, workerOnly, code, "clientCode"), client)
		}
	}
	anyOf, _ := at(t, schemas, "WorkerErrorCode", "anyOf").([]any)
	if len(anyOf) != 2 || str(t, anyOf[0], "$ref") != "#/components/schemas/ErrorCode" {
		t.Errorf("WorkerErrorCode is not ErrorCode or a worker-only code: %v", anyOf)
	} else {
		sameSet(t, "WorkerErrorCode worker-only enum", keys(WorkerOnlyCodes), strs(t, anyOf[1], "enum"))
	}
	if got := str(t, schemas, "WorkerError", "properties", "code", "$ref"); got != "#/components/schemas/WorkerErrorCode" {
		t.Errorf("WorkerError code is %q", got)
	}
	if row, ok := LookupError("no such code"); ok || row.Code != CodeInternal {
		t.Errorf("an unknown code looks up as %+v, %v; want internal", row, ok)
	}

	// Close codes.
	closeTable := obj(t, doc, "x-close-codes")
	var goClose []string
	for _, c := range CloseCodes {
		code := strconv.Itoa(c.Code)
		goClose = append(goClose, code)
		if _, ok := closeTable[code]; !ok {
			continue
		}
		reconnect, _ := at(t, closeTable, code, "reconnect").(bool)
		doc := CloseCode{Code: c.Code, Name: str(t, closeTable, code, "name"), Reason: str(t, closeTable, code, "reason"), Reconnect: reconnect}
		if texts, ok := closeTable[code].(map[string]any)["texts"].(map[string]any); ok {
			doc.Texts = map[string]string{}
			for name := range texts {
				doc.Texts[name] = str(t, texts, name)
			}
		}
		for name, text := range c.Texts {
			if len(text) > 120 { // the hub's closeFrame keeps 120 bytes: a control frame carries at most 125
				t.Errorf("close code %d, text %s: %d bytes, over a close frame's room", c.Code, name, len(text))
			}
		}
		if !reflect.DeepEqual(doc, c) {
			t.Errorf("close code %d: document %+v, Go %+v", c.Code, doc, c)
		}
	}
	sameSet(t, "x-close-codes", goClose, keys(closeTable))
}

// goTypes is the Go type of each JSON message of the document.
var goTypes = map[string]func() any{
	"welcome":          func() any { return new(Welcome) },
	"result":           func() any { return new(Result) },
	"error":            func() any { return new(Error) },
	"dropped":          func() any { return new(Dropped) },
	"pong":             func() any { return new(Pong) },
	"ended":            func() any { return new(Ended) },
	"frame":            func() any { return new(Control) },
	"options":          func() any { return new(Control) },
	"ping":             func() any { return new(Control) },
	"workerResult":     func() any { return new(Result) },
	"workerError":      func() any { return new(WorkerError) },
	"sessionInfoReply": func() any { return new(SessionInfo) },
	"workerPong":       func() any { return new(WorkerPong) },
	"model":            func() any { return new(ModelSet) },
	"workerInfo":       func() any { return new(WorkerInfo) },
}

// bytesMessages carry raw bytes (an image, or nothing): no Go type decodes them.
var bytesMessages = []string{"frameBinary", "frameImage", "sessionInfoRequest", "workerPingRequest", "workerInfoRequest",
	"frameBatch", "workerBatchReply"} // msgpack

// restTypes is the Go type of each REST body schema (x-rest); those with
// examples round-trip them.
var restTypes = map[string]func() any{
	"ModelList":     func() any { return new(ModelList) },
	"ModelMetadata": func() any { return new(ModelMetadata) },
	"ModelReady":    func() any { return new(ModelReady) },
	"ApiError":      func() any { return new(APIError) },
}

func TestParseModelRef(t *testing.T) {
	for _, c := range []struct {
		ref     string
		name    string
		version int
	}{
		{"mobilenet_v2", "mobilenet_v2", 0},
		{"mobilenet_v2@1", "mobilenet_v2", 1},
		{"Eff-Net_2@999999999", "Eff-Net_2", MaxModelVersion},
		{strings.Repeat("a", 64), strings.Repeat("a", 64), 0},
	} {
		name, version, err := ParseModelRef(c.ref)
		if err != nil || name != c.name || version != c.version {
			t.Errorf("ParseModelRef(%q) = %q %d %v; want %q %d", c.ref, name, version, err, c.name, c.version)
		}
		if version != 0 && ModelRef(name, version) != c.ref {
			t.Errorf("ModelRef(%q, %d) = %q; want %q", name, version, ModelRef(name, version), c.ref)
		}
	}
	for _, ref := range []string{"", "a@0", "a@01", "a@1000000000", "a@", "@1", "a.b", "a b", "a@1@2", "a*", ">", strings.Repeat("a", 65), "ü"} {
		if name, version, err := ParseModelRef(ref); !errors.Is(err, ErrBadModelRef) {
			t.Errorf("ParseModelRef(%q) = %q %d %v; want ErrBadModelRef", ref, name, version, err)
		}
	}
	if !ValidModelName("mobilenet_v2") || ValidModelName("mobilenet_v2@1") || ValidModelName("a.b") {
		t.Error("ValidModelName accepts or refuses the wrong names")
	}
}

func TestParseInferSubject(t *testing.T) {
	for _, want := range []InferSubjectParts{
		{"mobilenet_v2", 1, KindLive, "hFP5VvPaCN9Mvu2KjYOEiQ"},
		{"eff-net", 42, KindReplay, "run1.part2"},
	} {
		subject := InferSubject(want.Model, want.Version, want.Kind, want.ID)
		if got, ok := ParseInferSubject(subject); !ok || got != want {
			t.Errorf("ParseInferSubject(%q) = %+v %v; want %+v", subject, got, ok, want)
		}
	}
	for _, subject := range []string{"infer.m.1.live", "infer.m.0.live.x", "infer.m.x.live.x", "infer..1.live.x", "infer.m.1..x", "frames.live.x", "infer.m.1.live."} {
		if got, ok := ParseInferSubject(subject); ok {
			t.Errorf("ParseInferSubject(%q) = %+v; want not ok", subject, got)
		}
	}
}

func TestExamplesValidateAndRoundTrip(t *testing.T) {
	doc := loadDoc(t)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(docURL, doc); err != nil {
		t.Fatal(err)
	}
	compile := func(ref string) *jsonschema.Schema {
		t.Helper()
		s, err := c.Compile(docURL + ref)
		if err != nil {
			t.Fatalf("compiling %s: %v", ref, err)
		}
		return s
	}
	schemas := obj(t, doc, "components", "schemas")
	// The REST bodies: every schema an x-rest route answers with has a Go
	// type, and the examples of those that have some round-trip.
	var restSchemas []string
	for _, r := range obj(t, doc, "x-rest") {
		responses, _ := r.(map[string]any)["responses"].(map[string]any)
		for _, ref := range responses {
			name := strings.TrimPrefix(str(t, ref, "$ref"), "#/components/schemas/")
			if !slices.Contains(restSchemas, name) {
				restSchemas = append(restSchemas, name)
			}
		}
	}
	sameSet(t, "x-rest response schemas and ApiError", keys(restTypes), append(restSchemas, "ApiError"))
	var withExamples []string
	for name, s := range schemas {
		examples, _ := s.(map[string]any)["examples"].([]any)
		if len(examples) == 0 {
			continue
		}
		withExamples = append(withExamples, name)
		newGo, ok := restTypes[name]
		if !ok {
			t.Errorf("schema %s has examples but no Go type", name)
			continue
		}
		schema := compile("#/components/schemas/" + name)
		for i, e := range examples {
			label := fmt.Sprintf("schema %s example %d", name, i)
			if err := schema.Validate(e); err != nil {
				t.Errorf("%s: %v", label, err)
			}
			roundTrip(t, label, e, newGo())
		}
	}
	for _, name := range []string{"ModelMetadata", "ModelReady"} {
		if !slices.Contains(withExamples, name) {
			t.Errorf("schema %s has no examples", name)
		}
	}
	// What Go encodes for an empty list and a fresh welcome is the document's.
	for ref, v := range map[string]any{
		"#/components/schemas/ModelList": ModelList{Models: []ModelMetadata{}},
		"#/components/schemas/Welcome":   Welcome{Type: TypeWelcome, Session: strings.Repeat("A", 22), Protocol: ProtocolVersion, MaxFrameBytes: 1, FramesInFlight: 1, FrameTimeoutMs: 1, Models: []ModelSummary{}},
	} {
		b, _ := json.Marshal(v)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := compile(ref).Validate(inst); err != nil {
			t.Errorf("Go's %s: %v", b, err)
		}
	}

	messages := obj(t, doc, "components", "messages")
	sameSet(t, "messages", append(keys(goTypes), bytesMessages...), keys(messages))
	for _, name := range keys(messages) {
		msg := obj(t, messages, name)
		newGo, isJSON := goTypes[name]
		var payload *jsonschema.Schema
		if isJSON {
			ref := str(t, msg, "payload", "$ref")
			payload = compile(ref)
		}
		var headers *jsonschema.Schema
		if _, ok := msg["headers"]; ok {
			headers = compile(str(t, msg, "headers", "$ref"))
		}
		examples, _ := msg["examples"].([]any)
		if isJSON && len(examples) == 0 {
			t.Errorf("message %s has no example", name)
		}
		for i, e := range examples {
			label := fmt.Sprintf("%s example %d (%v)", name, i, at(t, e, "name"))
			ex := e.(map[string]any)
			if h, ok := ex["headers"]; ok {
				if headers == nil {
					t.Errorf("%s: headers, but the message has no headers schema", label)
				} else if err := headers.Validate(h); err != nil {
					t.Errorf("%s: headers: %v", label, err)
				}
			}
			p, ok := ex["payload"]
			if !ok {
				if isJSON {
					t.Errorf("%s: no payload", label)
				}
				continue
			}
			if !isJSON {
				t.Errorf("%s: a payload, but no Go type decodes message %s", label, name)
				continue
			}
			if err := payload.Validate(p); err != nil {
				t.Errorf("%s: %v", label, err)
			}
			roundTrip(t, label, p, newGo())
		}
	}
}

// roundTrip decodes example into the Go type v (strictly: a field Go does
// not know fails), encodes it again and compares the two as JSON values.
func roundTrip(t *testing.T, label string, example, v any) {
	t.Helper()
	in, err := json.Marshal(example)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s: decoding into %T: %v", label, v, err)
		return
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Errorf("%s: encoding %T: %v", label, v, err)
		return
	}
	var a, b any
	_ = json.Unmarshal(in, &a)
	_ = json.Unmarshal(out, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%s: round trip through %T\n in: %s\nout: %s", label, v, in, out)
	}
}
