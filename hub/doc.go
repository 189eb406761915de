// Package hub is the realtime classification hub: WebSocket sessions that
// stream camera frames, a NATS request per frame to a queue group of
// inference workers, results back to the session that sent the frame (and to
// anyone watching it), the analyze API and the built page.
//
// One package, its files named by concern with a shared prefix:
//
//	hub.go        Hub: New, Run, Close; the sessions it holds
//	config*.go    Config: flags with env defaults, validation; TLS files;
//	              client authentication
//	errors.go     sentinel errors and the client code each becomes
//	metrics.go    Prometheus metrics (docs/metrics.md)
//	recording.go  JetStream streams of frames and results: capturing when on, nothing when off; the copies of live frames
//	tracing*.go   OpenTelemetry setup; a frame's span and request
//	http_*.go     routes, analyze API, health, page, allowed origins,
//	              TLS listener (certificate reload, ACME); the operator's
//	              metrics port (/metrics, pprof), apart from the public one
//	ws*.go        /ws: upgrade, streamers, watchers, refusals, close frames;
//	              the messages to clients encoded (ws_messages.go)
//	session*.go   one connection: reader, writer, control messages,
//	              read progress, resume tokens
//	frame_*.go    a frame's way to a worker: header check, scheduler, dispatcher
//	limit_*.go    per client: its address, connections, frame credit,
//	              frames refused rate_limited (closing a client that ignores them)
//	auth*.go      who may stream and call the API: API keys, JWTs (HS256,
//	              JWKS), the analyze API's Bearer check; hub apikey
//	nats_*.go     natsBroker; embedded and external login; roles; config checks;
//	              failover (frames of a lost connection or worker); keys for
//	              an external NATS (hub keys)
//
// Tests sit beside what they test (x.go, x_test.go); setup_test.go holds
// what they share. Small self-contained helpers live in internal/.
package hub
