// Package contract is the Go side of the wire contract in docs/asyncapi.yaml:
// every NATS subject, header, message type, error code and close code the
// hub, its test kits (internal/testkit/…) and the e2e tests use is spelled
// here and nowhere else.
// contract_test.go checks this file against the document, both ways.
package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// ProtocolVersion is announced in the welcome message (x-protocol-version);
// it changes only when a message changes incompatibly.
const ProtocolVersion = 1

// WebSocket endpoint and its query parameters (channels.ws).
const (
	WebSocketPath = "/ws"
	QueryWatch    = "watch"  // follow another session's results
	QueryResume   = "resume" // keep this session id after a reconnect (with the resume token)
)

// WebSocket subprotocols (x-ws-subprotocol, x-ws-resume-protocol-prefix): the
// hub selects Subprotocol; a client resuming a session also offers
// ResumeProtocolPrefix + its resume token, which so stays out of URLs.
const (
	Subprotocol          = "webcamhub"
	ResumeProtocolPrefix = "webcamhub.resume."
	// BearerProtocolPrefix + an API key or JWT is how a streaming client
	// presents its credential when the hub requires one
	// (x-ws-bearer-protocol-prefix); a subprotocol, so it never lands in a
	// URL or an access log.
	BearerProtocolPrefix = "webcamhub.bearer."
)

// Frame kinds: the {kind} of infer.{model}.{version}.{kind}.{id} and results.{kind}.{id}.
const (
	KindLive   = "live"   // a browser tab's camera
	KindAPI    = "api"    // POST /api/v1/analyze
	KindCLI    = "cli"    // the command-line tools
	KindReplay = "replay" // a recorded session played again
)

// Kinds lists every frame kind, in the document's order.
var Kinds = []string{KindLive, KindAPI, KindCLI, KindReplay}

// KindBatch is the {kind} of a message that carries several frames
// (infer.{model}.{version}.batch.{hub}); each frame has its own kind inside.
const KindBatch = "batch"

// InferKinds lists the {kind} values of the infer channel: the frame kinds
// and KindBatch (results go per frame, so results.{kind} has no batch).
var InferKinds = []string{KindLive, KindAPI, KindCLI, KindReplay, KindBatch}

// NATS subjects (channels.*.address). The tokens are joined here only.
const (
	// framesToken: the root of the recorded frames' stored subject
	// (channels.recordedFrames.x-stored-as).
	framesToken       = "frames"
	inferToken        = "infer"
	resultsToken      = "results"
	sessionInfoPrefix = "sessions.info."
	// recordingFramesPrefix: copies of live frames for the recording only,
	// never a subject that frames are requested on.
	recordingFramesPrefix = "recording.frames."
	// WorkerService is the NATS micro service every worker is an instance of.
	WorkerService = "inference"
	// WorkerPingSubject is the service's ping ($SRV.PING.<service>): any worker answers.
	WorkerPingSubject = "$SRV.PING." + WorkerService
	// WorkerInfoSubject is the service's info ($SRV.INFO.<service>): every
	// worker answers with its endpoints, one per model-version it serves.
	WorkerInfoSubject = "$SRV.INFO." + WorkerService
	// InferWildcard matches every frame of every model (infer.>).
	InferWildcard = inferToken + ".>"
	// ResultsWildcard matches every result of every kind (the recording stream).
	ResultsWildcard = resultsToken + ".>"
	// QueueGroup is the queue group of every worker endpoint: one group per
	// model-version, since NATS queue groups are per subject.
	QueueGroup = "inference"
)

// InferSubject is where a frame of kind for id is sent to be classified by
// model at version: infer.{model}.{version}.{kind}.{id}. id may be ">" for a
// subscription to every id of the kind.
func InferSubject(model string, version int, kind, id string) string {
	return InferModelPrefix(model, version) + kind + "." + id
}

// InferAnyModelSubject is infer.*.*.{kind}.{id}: frames of kind for id to
// any model-version (a permission); id may be a wildcard.
func InferAnyModelSubject(kind, id string) string {
	return inferToken + ".*.*." + kind + "." + id
}

// InferModelPrefix is infer.{model}.{version}. — every subject of one model-version.
func InferModelPrefix(model string, version int) string {
	return inferToken + "." + model + "." + strconv.Itoa(version) + "."
}

// InferEndpointSubject is what a worker's endpoint for model at version
// listens on (channels.infer.x-micro-endpoint.subject): infer.{model}.{version}.>.
func InferEndpointSubject(model string, version int) string {
	return InferModelPrefix(model, version) + ">"
}

// InferEndpointName is the micro endpoint of model at version
// (channels.infer.x-micro-endpoint.name): {model}-{version}.
func InferEndpointName(model string, version int) string {
	return model + "-" + strconv.Itoa(version)
}

// InferSubjectParts are the parameters of infer.{model}.{version}.{kind}.{id}.
type InferSubjectParts struct {
	Model   string
	Version int
	Kind    string
	ID      string // may hold dots (a cli or replay name)
}

// ParseInferSubject splits infer.{model}.{version}.{kind}.{id}; ok is false
// for anything else (a model name or version the contract does not allow,
// an empty kind or id).
func ParseInferSubject(subject string) (parts InferSubjectParts, ok bool) {
	rest, found := strings.CutPrefix(subject, inferToken+".")
	if !found {
		return InferSubjectParts{}, false
	}
	tokens := strings.SplitN(rest, ".", 4)
	if len(tokens) != 4 || !modelNamePattern.MatchString(tokens[0]) || tokens[2] == "" || tokens[3] == "" {
		return InferSubjectParts{}, false
	}
	version, err := parseVersion(tokens[1])
	if err != nil {
		return InferSubjectParts{}, false
	}
	return InferSubjectParts{Model: tokens[0], Version: version, Kind: tokens[2], ID: tokens[3]}, true
}

// ResultSubject is where the worker publishes a frame's answer: results.{kind}.{id}.
func ResultSubject(kind, id string) string { return resultsToken + "." + kind + "." + id }

// RecordedFrameStoredSubject is the subject the FRAMES stream stores live
// session id's recorded frames under (channels.recordedFrames.x-stored-as,
// a subject transform from RecordingFrameSubject): frames.live.{id}. id may
// be ">" for the transform's destination. A replay filters on it.
func RecordedFrameStoredSubject(id string) string {
	return framesToken + "." + KindLive + "." + id
}

// RecordingFrameSubject is where the hub, recording, publishes a copy of
// live frame id's frames once a worker took them: recording.frames.{id}.
// id may be ">" for the recording stream's subject.
func RecordingFrameSubject(id string) string { return recordingFramesPrefix + id }

// SessionInfoSubject is answered by the hub that holds live session id.
func SessionInfoSubject(id string) string { return sessionInfoPrefix + id }

// WorkerPingIDSubject is the ping of the one worker whose pong has id:
// $SRV.PING.<service>.<id>.
func WorkerPingIDSubject(id string) string { return WorkerPingSubject + "." + id }

// Models (schemas ModelName, ModelVersion, ModelRef, ModelTask).
const (
	// ModelNamePattern: one NATS subject token, a directory name of a model repository.
	ModelNamePattern = `^[A-Za-z0-9_-]{1,64}$`
	// ModelRefPattern: name (its default version) or name@version.
	ModelRefPattern = `^[A-Za-z0-9_-]{1,64}(@[1-9][0-9]{0,8})?$`
	// ModelRefVersionSeparator joins name and version in a reference (x-model-ref-version-separator).
	ModelRefVersionSeparator = "@"
	MinModelVersion          = 1
	MaxModelVersion          = 999999999
	// TaskClassification is the only task now (ModelTask).
	TaskClassification = "classification"
)

// ModelTasks lists every task (ModelTask enum).
var ModelTasks = []string{TaskClassification}

var (
	modelNamePattern = regexp.MustCompile(ModelNamePattern)
	modelRefPattern  = regexp.MustCompile(ModelRefPattern)
	versionPattern   = regexp.MustCompile(`^[1-9][0-9]{0,8}$`)
)

// ErrBadModelRef: a model reference that is not name or name@version.
var ErrBadModelRef = errors.New("not a model reference (name or name@version)")

// ValidModelName reports whether name is a model name of the contract.
func ValidModelName(name string) bool { return modelNamePattern.MatchString(name) }

// ModelRef formats name@version (a session's model in the welcome).
func ModelRef(name string, version int) string {
	return name + ModelRefVersionSeparator + strconv.Itoa(version)
}

// ParseModelRef splits a model reference: name, and its version (0 when the
// reference names none: the name's default version). An error wraps
// ErrBadModelRef.
func ParseModelRef(ref string) (name string, version int, err error) {
	if !modelRefPattern.MatchString(ref) {
		return "", 0, fmt.Errorf("%q: %w", ref, ErrBadModelRef)
	}
	name, v, pinned := strings.Cut(ref, ModelRefVersionSeparator)
	if !pinned {
		return name, 0, nil
	}
	if version, err = parseVersion(v); err != nil {
		return "", 0, fmt.Errorf("%q: %w", ref, ErrBadModelRef)
	}
	return name, version, nil
}

// parseVersion reads a version in decimal, as in subjects and references.
func parseVersion(s string) (int, error) {
	if !versionPattern.MatchString(s) {
		return 0, ErrBadModelRef
	}
	return strconv.Atoi(s)
}

// Service metadata keys of a worker (ServiceMetadata, in its pong and info).
const (
	MetaWorker      = "worker"
	MetaBatchMax    = "batch_max"
	MetaModels      = "models"       // name@version of every endpoint served now, space-separated
	MetaModelErrors = "model_errors" // JSON object string {"name@version": "why"}, {} when none
)

// ServiceMetadataKeys lists the required service metadata keys.
var ServiceMetadataKeys = []string{MetaWorker, MetaBatchMax, MetaModels, MetaModelErrors}

// MetaFramesPerMessage (optional service metadata) is how many frames one
// message to the worker may carry (FrameBatch); absent or 1: single frames only.
const MetaFramesPerMessage = "frames_per_message"

// ServiceMetadataOptionalKeys lists the service metadata keys a worker may lack.
var ServiceMetadataOptionalKeys = []string{MetaFramesPerMessage}

// Endpoint metadata keys (EndpointMetadata): one model-version a worker serves.
const (
	MetaModel             = "model"
	MetaVersion           = "version"
	MetaTask              = "task"
	MetaClasses           = "classes"
	MetaLabelsSHA256      = "labels_sha256"
	MetaLabelsSource      = "labels_source"
	MetaInput             = "input" // HxWxC, e.g. 224x224x3
	MetaInputDtype        = "input_dtype"
	MetaLayout            = "layout"
	MetaPlatform          = "platform"
	MetaRuntime           = "runtime"
	MetaPrecision         = "precision"            // optional
	MetaRuntimeChoice     = "runtime_choice"       // optional
	MetaRuntimeImagesPerS = "runtime_images_per_s" // optional
	MetaDisplayName       = "display_name"
	MetaDescription       = "description"
)

// EndpointMetadataRequiredKeys are the keys every endpoint has (display_name
// and description may be empty); EndpointMetadataOptionalKeys those it has
// where known.
var (
	EndpointMetadataRequiredKeys = []string{
		MetaModel, MetaVersion, MetaTask, MetaClasses, MetaLabelsSHA256, MetaLabelsSource, MetaInput,
		MetaInputDtype, MetaLayout, MetaPlatform, MetaRuntime, MetaDisplayName, MetaDescription,
	}
	EndpointMetadataOptionalKeys = []string{MetaPrecision, MetaRuntimeChoice, MetaRuntimeImagesPerS}
)

// Where a model's labels come from (LabelsSource).
const (
	LabelsFromMetadata  = "metadata"
	LabelsFromFile      = "labels.txt"
	LabelsFromModelYAML = "model.yaml"
	LabelsFromImageNet  = "imagenet"
)

// LabelsSources lists every labels source.
var LabelsSources = []string{LabelsFromMetadata, LabelsFromFile, LabelsFromModelYAML, LabelsFromImageNet}

// Model file formats (ModelPlatform).
const (
	PlatformTFLite   = "tflite"
	PlatformONNX     = "onnx"
	PlatformOpenVINO = "openvino"
	PlatformKeras    = "keras"
)

// ModelPlatforms lists every platform.
var ModelPlatforms = []string{PlatformTFLite, PlatformONNX, PlatformOpenVINO, PlatformKeras}

// REST API routes of the models (x-rest) and the analyze API's query parameter.
const (
	APIAnalyzePath = "/api/v1/analyze"
	APIModelsPath  = "/api/v1/models"
	// APIReadySuffix follows a model's or a version's path for its readiness.
	APIReadySuffix = "/ready"
	// QueryModel is the model reference of POST /api/v1/analyze.
	QueryModel = "model"
)

// APIModelPath is GET /api/v1/models/{name}.
func APIModelPath(name string) string { return APIModelsPath + "/" + name }

// APIModelVersionPath is GET /api/v1/models/{name}/versions/{version}.
func APIModelVersionPath(name, version string) string {
	return APIModelPath(name) + "/versions/" + version
}

// NATS headers of a frame (FrameHeaders) and of a worker's reply (ReplyHeaders).
const (
	HeaderSessionID   = "Session-Id"
	HeaderFrameSeq    = "Frame-Seq"
	HeaderContentType = "Content-Type"
	HeaderTopK        = "Top-K"
	HeaderTraceparent = "traceparent" // W3C trace context; also the HTTP header of the analyze API
	// HeaderFrameDeadline: when the hub stops waiting for the answer, Unix
	// milliseconds; a worker spends no inference on a frame past it.
	HeaderFrameDeadline = "Frame-Deadline"
)

// FrameHeaders and ReplyHeaders list the header names of each direction.
var (
	FrameHeaders = []string{HeaderSessionID, HeaderFrameSeq, HeaderContentType, HeaderTopK, HeaderTraceparent, HeaderFrameDeadline}
	ReplyHeaders = []string{HeaderContentType, HeaderTraceparent}
)

// HeaderFrameCount says how many frames a batch message (and its reply)
// carries, 2 or more; a message without it is a single frame.
const HeaderFrameCount = "Frame-Count"

// FrameBatchHeaders and BatchReplyHeaders list the header names of a
// batch and of its reply; Frame-Deadline is the latest of its frames'.
var (
	FrameBatchHeaders = []string{HeaderFrameCount, HeaderContentType, HeaderFrameDeadline}
	BatchReplyHeaders = []string{HeaderContentType, HeaderFrameCount}
)

// ContentTypeFrameBatch is the content type of a batch and of its reply:
// a msgpack array (BatchFrame entries; reply entries are JSON bytes or nil).
const ContentTypeFrameBatch = "application/vnd.webcamhub.frames+msgpack"

// BatchFrame is one frame of a batch message (FrameBatchEntry), a msgpack
// map; the zero values mean what a missing header means.
type BatchFrame struct {
	Session     string `msgpack:"session"`
	Seq         int64  `msgpack:"seq"`
	Kind        string `msgpack:"kind"`
	ContentType string `msgpack:"content_type"`
	TopK        int    `msgpack:"top_k"`       // 0: the worker's default
	DeadlineMs  int64  `msgpack:"deadline_ms"` // Unix ms; 0: none
	Traceparent string `msgpack:"traceparent"` // "": none
	Image       []byte `msgpack:"image"`
}

// BatchFrameRequiredKeys are the entry keys a worker needs (FrameBatchEntry
// required), and BatchFrameKinds the kinds of the frames a hub batches.
var (
	BatchFrameRequiredKeys = []string{"session", "seq", "image"}
	BatchFrameKinds        = []string{KindLive, KindAPI}
)

// Content types a frame may carry (FrameHeaders Content-Type enum).
const (
	ContentTypeJPEG = "image/jpeg"
	ContentTypePNG  = "image/png"
	ContentTypeWebP = "image/webp"
	ContentTypeBMP  = "image/bmp"
)

// ContentTypes lists the frame content types.
var ContentTypes = []string{ContentTypeJPEG, ContentTypePNG, ContentTypeWebP, ContentTypeBMP}

// ContentTypeJSON is the content type of a worker's reply (ReplyHeaders).
const ContentTypeJSON = "application/json"

// Message types: the "type" field of every JSON message.
const (
	TypeWelcome = "welcome"
	TypeResult  = "result"
	TypeError   = "error"
	TypeDropped = "dropped"
	TypePong    = "pong"
	TypeEnded   = "ended"
	TypeFrame   = "frame"
	TypeOptions = "options"
	TypePing    = "ping"
	// TypeModel acknowledges an options message's model switch.
	TypeModel = "model"
)

// MessageTypes lists every message type.
var MessageTypes = []string{TypeWelcome, TypeResult, TypeError, TypeDropped, TypePong, TypeEnded, TypeFrame, TypeOptions, TypePing, TypeModel}

// Dropped reasons (DroppedReason).
const (
	// DroppedSuperseded: a newer frame of the session took the waiting place.
	DroppedSuperseded = "superseded"
	// DroppedOverloaded: every worker stayed full for as long as a frame may
	// wait at the hub (docs/dispatch.md).
	DroppedOverloaded = "overloaded"
)

// DroppedReasons lists every dropped reason.
var DroppedReasons = []string{DroppedSuperseded, DroppedOverloaded}

// Error codes (x-error-codes, ErrorCode).
const (
	CodeBadImage       = "bad_image"
	CodeTooLarge       = "too_large"
	CodeTimeout        = "timeout"
	CodeUnavailable    = "unavailable"
	CodeRateLimited    = "rate_limited"
	CodeBadRequest     = "bad_request"
	CodeUnknownSession = "unknown_session"
	// CodeUnsupportedMedia answers an API request not declared
	// application/json: a foreign page can send text/plain, a form or
	// multipart without a CORS preflight.
	CodeUnsupportedMedia = "unsupported_media_type"
	// CodeUnauthorized answers an API request without an accepted API key
	// or token when the hub requires one.
	CodeUnauthorized = "unauthorized"
	// CodeUnknownModel: no worker has served a model of that name since the hub started.
	CodeUnknownModel = "unknown_model"
	// CodeModelUnavailable: the model was served, but no worker serves it (or
	// that version) now.
	CodeModelUnavailable = "model_unavailable"
	// CodeModelForbidden: the client's JWT has a models claim that does not
	// list the model.
	CodeModelForbidden = "model_forbidden"
	CodeInternal       = "internal"
)

// CodeBadBatch is a worker's answer to a batch message it cannot take
// (x-worker-only-error-codes); never a client's code.
const CodeBadBatch = "bad_batch"

// WorkerOnlyCodes maps each code only a worker answers with to the code its
// frames' clients get (x-worker-only-error-codes clientCode).
var WorkerOnlyCodes = map[string]string{CodeBadBatch: CodeInternal}

// What an error answer counts as: the client's fault, load shed on purpose,
// or a failure of the system.
const (
	CountsRefused = "refused"
	CountsShed    = "shed"
	CountsFailed  = "failed"
)

// ErrorCode is one row of the error table.
type ErrorCode struct {
	Code string
	// HTTPStatus is the analyze API's status for the code.
	HTTPStatus int
	// Message is the fixed public sentence for the code: a client never
	// sees another text, so nothing internal (addresses, paths, a worker's
	// exception) can leak.
	Message  string
	CountsAs string
}

// ErrorCodes is the error table, in a fixed order (the metrics' order).
var ErrorCodes = [...]ErrorCode{
	{CodeBadImage, http.StatusBadRequest, "the frame is not a readable JPEG, PNG, WebP or BMP image", CountsRefused},
	{CodeTooLarge, http.StatusRequestEntityTooLarge, "the image is larger than the hub accepts", CountsRefused},
	{CodeTimeout, http.StatusGatewayTimeout, "no worker answered in time; the frame was given up", CountsFailed},
	{CodeUnavailable, http.StatusServiceUnavailable, "no inference worker is available right now; frames will be classified again once one is back", CountsFailed},
	{CodeRateLimited, http.StatusTooManyRequests, "too many frames; slow down", CountsShed},
	{CodeBadRequest, http.StatusBadRequest, "the message could not be understood", CountsRefused},
	{CodeUnknownSession, http.StatusNotFound, "there is no live session with that id", CountsRefused},
	{CodeUnsupportedMedia, http.StatusUnsupportedMediaType, "the request body must be application/json", CountsRefused},
	{CodeUnauthorized, http.StatusUnauthorized, "a valid API key or token is required", CountsRefused},
	{CodeUnknownModel, http.StatusNotFound, "no worker serves a model of that name", CountsRefused},
	{CodeModelUnavailable, http.StatusServiceUnavailable, "that model is not being served right now; try again later or pick another model", CountsFailed},
	{CodeModelForbidden, http.StatusForbidden, "your API key or token does not allow that model", CountsRefused},
	{CodeInternal, http.StatusInternalServerError, "something went wrong on the server", CountsFailed},
}

// LookupError returns the row of code; an unknown code gets the row of
// CodeInternal, and ok is false.
func LookupError(code string) (row ErrorCode, ok bool) {
	for _, r := range ErrorCodes {
		if r.Code == code {
			return r, true
		}
	}
	return ErrorCodes[len(ErrorCodes)-1], false
}

// WebSocket close codes of the hub (x-close-codes). 4000–4999 is the
// private range of RFC 6455.
const (
	CloseNormal         = 1000
	CloseGoingAway      = 1001 // the hub is shutting down
	CloseTooBig         = 1009 // sent by the WebSocket package for a message beyond the hard read limit
	CloseInternal       = 1011 // the handler failed
	CloseSlowClient     = 4001 // the client did not read its results fast enough
	CloseUnknownSession = 4004 // a watcher's session id is not live
	CloseRateLimited    = 4029 // the client went on past its limits (control messages, frames, connections per address)
	CloseUnauthorized   = 4401 // no accepted API key or token where the hub requires one
)

// Close texts (x-close-codes, texts): the reason a close frame carries, one
// per case that closes with its code. A 4004 carries the message of its error
// code (ErrorCodes); a 1000 carries no text.
const (
	CloseTextShuttingDown    = "hub shutting down"                               // CloseGoingAway: the hub is closing
	CloseTextNotAccepting    = "hub not accepting sessions"                      // CloseGoingAway: the hub began closing during the handshake
	CloseTextCannotWatch     = "cannot watch now"                                // CloseGoingAway: the watched results cannot be subscribed to
	CloseTextInternal        = "internal error"                                  // CloseInternal: the handler panicked
	CloseTextResultsNotRead  = "slow client: results were not read"              // CloseSlowClient: the send queue is full
	CloseTextSentNotRead     = "slow client: what was sent was not read in time" // CloseSlowClient: a read-progress probe went unanswered
	CloseTextControlMessages = "too many control messages"                       // CloseRateLimited: control messages on while refused
	CloseTextFrames          = "too many frames while rate limited"              // CloseRateLimited: frames on while answered rate_limited
	CloseTextConnections     = "too many connections from this address"          // CloseRateLimited: more handshakes than the address may hold
	CloseTextAuthMissing     = "an API key or token is required"                 // CloseUnauthorized: none was offered
	CloseTextAuthInvalid     = "the API key or token is not accepted"            // CloseUnauthorized: unknown key, bad or expired token
)

// CloseCode is one row of the close-code table.
type CloseCode struct {
	Code      int
	Name      string
	Reason    string // why the hub closes with the code
	Reconnect bool   // whether a client should connect again
	// Texts are the reason texts close frames with the code carry, by case.
	Texts map[string]string
}

// CloseCodes is the close-code table.
var CloseCodes = []CloseCode{
	{CloseNormal, "normal", "normal closure", false, nil},
	{CloseGoingAway, "going_away", "the hub is shutting down; another hub (or this one, restarted) takes the session back", true, map[string]string{
		"shutting_down": CloseTextShuttingDown, "not_accepting": CloseTextNotAccepting, "cannot_watch": CloseTextCannotWatch,
	}},
	{CloseTooBig, "too_big", "a message far beyond the size limit (over 4x the largest frame in base64)", true, nil},
	{CloseInternal, "internal", "the hub failed while serving the connection", true, map[string]string{
		"internal": CloseTextInternal,
	}},
	{CloseSlowClient, "slow_client", "the client did not read its results and the hub's send queue filled up", true, map[string]string{
		"results_not_read": CloseTextResultsNotRead, "sent_not_read": CloseTextSentNotRead,
	}},
	{CloseUnknownSession, "unknown_session", "a watcher's session id is unknown or malformed", false, nil},
	{CloseRateLimited, "rate_limited", "the client went on past its limits (control messages or frames while rate_limited, connections from its address)", false, map[string]string{
		"control_messages": CloseTextControlMessages, "frames": CloseTextFrames, "connections": CloseTextConnections,
	}},
	{CloseUnauthorized, "unauthorized", "the hub requires an API key or token and the connection offered none, or one it does not accept", false, map[string]string{
		"missing": CloseTextAuthMissing, "invalid": CloseTextAuthInvalid,
	}},
}

// Welcome is the first message of every connection.
type Welcome struct {
	Type           string `json:"type"`
	Session        string `json:"session"`
	Watching       string `json:"watching,omitempty"`
	Protocol       int    `json:"protocol"`
	MaxFrameBytes  int    `json:"maxFrameBytes"`
	FramesInFlight int    `json:"framesInFlight"`
	FrameTimeoutMs int64  `json:"frameTimeoutMs"`
	// ResumeToken is the secret the streaming owner resumes the session
	// with; never given to watchers.
	ResumeToken string `json:"resumeToken,omitempty"`
	// Recording: the hub records the live frames this connection sends
	// (and their results); false for watchers.
	Recording bool `json:"recording"`
	// Models are the models served now; never nil in a welcome (the
	// document requires the array, empty while no worker serves one).
	Models []ModelSummary `json:"models"`
	// Model is the session's (the watched session's) model as name@version,
	// when one is served.
	Model string `json:"model,omitempty"`
}

// ModelSummary is a model served now, as the welcome lists it.
type ModelSummary struct {
	Name           string `json:"name"`
	Versions       []int  `json:"versions"`
	DefaultVersion int    `json:"defaultVersion"`
	DisplayName    string `json:"displayName"`
	Description    string `json:"description"`
	Classes        int    `json:"classes"`
	Task           string `json:"task"`
}

// ModelSet acknowledges a model switch (options with model).
type ModelSet struct {
	Type      string `json:"type"`
	Model     string `json:"model"`
	Version   int    `json:"version"`
	Requested string `json:"requested"` // the reference as the client sent it
}

// Error answers a frame (seq > 0) or a message (seq 0) with a code and its
// fixed sentence.
type Error struct {
	Type    string `json:"type"`
	Seq     int64  `json:"seq,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WorkerError is a worker's error reply; its Message is the worker's own
// text, which the hub logs but never passes on.
type WorkerError struct {
	Type    string `json:"type"`
	Seq     int64  `json:"seq"`
	Session string `json:"session"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Dropped answers a frame that will not be classified: superseded or overloaded.
type Dropped struct {
	Type   string `json:"type"`
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// Pong answers a ping.
type Pong struct {
	Type string          `json:"type"`
	ID   json.RawMessage `json:"id,omitempty"`
	Time int64           `json:"time"`
}

// Ended tells watchers that the session they follow closed.
type Ended struct {
	Type    string `json:"type"`
	Session string `json:"session"`
}

// Control is any text message a client sends: frame, options or ping. Its
// fields stay raw JSON until the type is known, so that a frame whose
// image is not valid base64 is still known as a frame (it takes a seq).
type Control struct {
	Type  string          `json:"type"`
	Image json.RawMessage `json:"image,omitempty"` // a base64 string, for "frame"
	ID    json.RawMessage `json:"id,omitempty"`    // echoed in "pong"
	TopK  json.RawMessage `json:"topK,omitempty"`  // an integer, for "options"
	Model json.RawMessage `json:"model,omitempty"` // a model reference, for "options"
}

// Result is a worker's answer to a frame, which the hub forwards unchanged.
type Result struct {
	Type        string       `json:"type"`
	Seq         int64        `json:"seq"`
	Session     string       `json:"session"`
	Model       string       `json:"model"`
	Version     int          `json:"version"`
	Task        string       `json:"task"`
	Predictions []Prediction `json:"predictions"`
	Timing      Timing       `json:"timing"`
	Worker      string       `json:"worker"`
}

// Prediction is one of the top-k labels of a result.
type Prediction struct {
	Label      string  `json:"label"`
	Index      int     `json:"index"`
	Confidence float64 `json:"confidence"`
}

// Timing is the worker's own account of a frame.
type Timing struct {
	DecodeMs float64 `json:"decode_ms"` // wall time of the decode
	// DecodeCPUMs is the decoding thread's CPU time (zero: not reported,
	// an older worker).
	DecodeCPUMs float64 `json:"decode_cpu_ms,omitempty"`
	InferMs     float64 `json:"infer_ms"`
	Batch       int     `json:"batch"`
}

// SessionInfo is the hub's answer on SessionInfoSubject.
type SessionInfo struct {
	Session string `json:"session"`
	Since   string `json:"since"`
}

// WorkerPong is a worker's answer on WorkerPingSubject: the micro
// service's ping response, whose metadata says which worker answered.
type WorkerPong struct {
	Type     string            `json:"type"`
	Name     string            `json:"name"`
	ID       string            `json:"id"`
	Version  string            `json:"version"`
	Metadata map[string]string `json:"metadata"`
}

// WorkerInfo is a worker's answer on WorkerInfoSubject: the micro service's
// info response, one endpoint per model-version it serves.
type WorkerInfo struct {
	Type        string            `json:"type"`
	Name        string            `json:"name"`
	ID          string            `json:"id"`
	Version     string            `json:"version"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
	Endpoints   []WorkerEndpoint  `json:"endpoints"`
}

// WorkerEndpoint is one model-version a worker serves; Metadata has the
// EndpointMetadataKeys.
type WorkerEndpoint struct {
	Name       string            `json:"name"`
	Subject    string            `json:"subject"`
	QueueGroup string            `json:"queue_group"`
	Metadata   map[string]string `json:"metadata"`
}

// ModelTensor is one input or output of a model (Open Inference Protocol).
type ModelTensor struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMetadata is GET /api/v1/models/{name} (and .../versions/{version}).
type ModelMetadata struct {
	Name         string        `json:"name"`
	Versions     []string      `json:"versions"` // strings, as the Open Inference Protocol has them
	Platform     string        `json:"platform"`
	Inputs       []ModelTensor `json:"inputs"`
	Outputs      []ModelTensor `json:"outputs"`
	DisplayName  string        `json:"displayName"`
	Description  string        `json:"description"`
	Classes      int           `json:"classes"`
	LabelsSource string        `json:"labelsSource"`
	Task         string        `json:"task"`
	// DefaultVersion is the highest version served now; 0 (absent) when none is.
	DefaultVersion int  `json:"defaultVersion,omitempty"`
	Ready          bool `json:"ready"`
	// Errors: version -> why it failed to load on a worker (model_errors).
	Errors map[string]string `json:"errors"`
}

// ModelList is GET /api/v1/models.
type ModelList struct {
	Models []ModelMetadata `json:"models"`
}

// ModelReady is GET .../ready of a model or a version: 200 ready, 503 not.
type ModelReady struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"` // only for a version's readiness
	Ready   bool   `json:"ready"`
}

// APIError is the body of every error of the REST API, with the status of
// the code's row.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
