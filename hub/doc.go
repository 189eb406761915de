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
//	version.go    Version, set at build (-ldflags -X; hub -version, hub_build_info)
//	recording.go  JetStream streams of frames and results: capturing when on, nothing when off; the copies of live frames
//	tracing*.go   OpenTelemetry setup; a frame's span and request
//	model_table.go the model-versions served now (from the workers' info),
//	              which a frame goes to (modelTable.pick), unknown vs unavailable
//	model_grant.go the models a client's JWT allows (its models claim):
//	              modelTable.pickFor, model_forbidden
//	http_*.go     routes, analyze API, models API (http_models.go), health, page, allowed origins,
//	              TLS listener (certificate reload, ACME); the operator's
//	              metrics port (/metrics, pprof), apart from the public one
//	ws*.go        /ws: upgrade, streamers, watchers, refusals, close frames;
//	              the messages to clients encoded (ws_messages.go)
//	session*.go   one connection: reader, writer, control messages,
//	              read progress, resume tokens
//	frame_*.go    a frame's way to a worker and back: header check, scheduler
//	              (a session's frames), dispatcher (the one way to a worker,
//	              its request span), batch (frames for one model-version ready
//	              at the same moment as one message, its reply split:
//	              frame_batch.go), answer (a worker's reply read and turned
//	              into the client's answer, for sessions and the API alike)
//	limit_*.go    per client: its address, connections, frame credit,
//	              frames refused rate_limited (closing a client that ignores them)
//	auth*.go      who may stream and call the API: API keys, JWTs (HS256,
//	              JWKS), the analyze API's Bearer check; hub apikey
//	nats_*.go     natsBroker; embedded and external login; roles; config checks;
//	              failover (frames of a lost connection or worker); keys for
//	              an external NATS (hub keys); model discovery from
//	              $SRV.INFO.inference (nats_models.go)
//
// A frame's way, from the WebSocket read to the client's answer:
//
//	session.readLoop (readUpTo; a text frame: session.control)
//	  → session.submit → frameScheduler.submit: rate and credit, header
//	    check (Hub.checkImage), a free slot or the waiting place
//	  → frameScheduler.work → classify: the frame's deadline set
//	    (Config.FrameTimeout, context.WithTimeout); the goroutine then
//	    lingers for the session's next frame (frameWorkerLinger, next)
//	  → dispatcher.Request: request span; waits its turn while every worker
//	    is full (at most DispatchWait, never past the deadline); picks the
//	    model-version at each try (modelTable.pickFor, within what the
//	    credential allows; a "no responders" from
//	    one no longer served: model_unavailable when pinned, else once more
//	    to the name's default of now)
//	  → natsBroker.Request (the dispatcher's workerPool): the frame with its
//	    deadline header to one worker, then failover (nats_failover.go):
//	      1. requestOnce: one attempt, alone, or, where every worker of the
//	         model-version advertises frames_per_message, through its
//	         batchSender (frame_batch.go) with the frames queued for it at
//	         that moment; one whose connection dropped (connectionLost) or
//	         whose worker left (watchWorkers, workerGone) fails at once as
//	         lost;
//	      2. retryLost: a lost frame is sent once more when its deadline
//	         leaves failoverMinBudget, waiting up to failoverReconnectWait
//	         for the connection (awaitReconnect); lost again, or without
//	         the time: unavailable;
//	      3. recordAnswered: a live frame answered is recorded (HUB_RECORD)
//	  → answerFrame (frame_answer.go): reply or error → result, error code
//	    or dropped (a live frame's reply head read by replyHead.decode:
//	    json.Valid, then jsonparser for the head's fields alone); classify
//	    queues it for the writer (session.writeLoop); the hub's own answers
//	    are encoded once per code and reason (seqAnswer, ws_messages.go).
//
// The deadline is checked by dispatcher.inTurn (it ends a frame's wait:
// timeout), natsBroker.requestOnce (it ends the request: timeout; it goes to
// the worker as the frame's deadline header), retryLost (retryBudget) and
// the worker (a frame past it is skipped).
//
// The analyze API (http_analyze.go) takes the same way from
// dispatcher.Request on, with its own deadline, and answers from answerFrame.
//
// Tests sit beside what they test (x.go, x_test.go); setup_test.go holds
// what they share of the hub (a hub, NATS server and test worker started,
// clients); the test kits shared with the e2e tests live in internal/testkit
// (clients, role connections, TLS files, metrics), its testworker (a Go
// worker) and otlptest (an OTLP receiver). Small self-contained helpers
// live in internal/; the wire names in the module's contract package.
package hub
