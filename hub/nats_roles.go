package hub

import (
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/webcamhub/webcamhub/contract"
)

// Roles on the embedded NATS server: one nkey each (seed files in the store
// directory), each allowed only what it does. docs/scaling.md lists them;
// deploy/nats/permissions.conf gives the same permissions to users of an external
// server (nats_roles_test.go keeps the two equal).
const (
	roleHub    = "hub"
	roleWorker = "worker"
	roleCLI    = "cli"
)

var natsRoles = []string{roleHub, roleWorker, roleCLI}

// Inbox prefixes of the hub and the workers: replies to each land on
// subjects only its own role may subscribe to, so no other client can read
// the results the workers send the hub. The nats CLI keeps the default _INBOX.
const (
	hubInboxPrefix    = "_INBOX_hub"
	workerInboxPrefix = "_INBOX_worker"
	cliInboxPrefix    = "_INBOX"
)

// Streams the hub keeps in JetStream: the recordings, and the bucket of
// resume tokens (a key-value bucket is the stream KV_<bucket>).
var hubStreams = []string{framesStream, resultsStream, "KV_" + resumeBucket}

// replyTTL is how long a client may answer a request it received
// (allow_responses): the longest a frame waits for a worker is
// HUB_FRAME_TIMEOUT (at most 5 minutes), a ping or session lookup far less.
const replyTTL = 5 * time.Minute

// rolePermissions returns what each role may publish and subscribe to.
func rolePermissions() map[string]*server.Permissions {
	var hubJS []string
	for _, s := range hubStreams {
		hubJS = append(hubJS, "$JS.API.STREAM.CREATE."+s, "$JS.API.STREAM.UPDATE."+s, "$JS.API.STREAM.INFO."+s)
	}
	for _, s := range recordingStreams {
		hubJS = append(hubJS, "$JS.API.STREAM.DELETE."+s) // HUB_RECORD_DELETE_OLD
	}
	var workerResults []string
	for _, k := range contract.Kinds {
		workerResults = append(workerResults, contract.ResultSubject(k, "*"))
	}
	responses := &server.ResponsePermission{MaxMsgs: 1, Expires: replyTTL}
	return map[string]*server.Permissions{
		roleHub: {
			Publish: &server.SubjectPermission{Allow: append([]string{
				contract.InferAnyModelSubject(contract.KindLive, "*"),  // a live frame, as a request to one worker of its model-version
				contract.InferAnyModelSubject(contract.KindAPI, "*"),   // an analyze API image
				contract.InferAnyModelSubject(contract.KindBatch, "*"), // several frames of one model-version, as one request (frame_batch.go)
				contract.ResultSubject(contract.KindLive, "*"),         // "ended", for a session's watchers
				contract.RecordingFrameSubject("*"),                    // a copy of a live frame, for the FRAMES stream (HUB_RECORD)
				contract.SessionInfoSubject("*"),                       // is this session live on some hub?
				contract.WorkerPingSubject,                             // /readyz, and which workers are there
				contract.WorkerPingIDSubject("*"),                      // is this worker gone? (failover)
				contract.WorkerInfoSubject,                             // which model-versions are served (nats_models.go)
			}, append(hubJS,
				"$JS.API.INFO",                             // creating the bucket checks the account's JetStream
				"$KV."+resumeBucket+".*",                   // storing a session's resume token hash
				"$JS.API.DIRECT.GET.KV_"+resumeBucket+".>", // reading it back
				"$JS.API.STREAM.MSG.GET.KV_"+resumeBucket,
			)...)},
			Subscribe: &server.SubjectPermission{Allow: []string{
				hubInboxPrefix + ".>",                          // replies: results, pongs, session info, JetStream API
				contract.SessionInfoSubject("*"),               // answering for its own sessions
				contract.ResultSubject(contract.KindLive, "*"), // watchers
			}},
			Response: responses, // answers sessions.info.<id>
		},
		roleWorker: {
			Publish: &server.SubjectPermission{Allow: append(workerResults,
				// Replay discovery (inference_server/serving/replay.py): read-only JetStream API.
				"$JS.API.STREAM.LIST", "$JS.API.CONSUMER.LIST.*", "$JS.API.CONSUMER.INFO.*.*",
				"$JS.ACK."+framesStream+".>", // acknowledging a replayed frame
			)},
			Subscribe: &server.SubjectPermission{Allow: []string{
				contract.InferWildcard + " " + contract.QueueGroup, // frames only as a member of a model-version's queue group
				workerInboxPrefix + ".>",
				"$JS.EVENT.ADVISORY.CONSUMER.CREATED.>", // a replay starting
				"$JS.EVENT.ADVISORY.CONSUMER.DELETED.>", // a replay removed
				"$SRV.>",                                // the micro service inference: ping (/readyz), info, stats
			}},
			Response: responses, // the reply to each frame and ping
		},
		roleCLI: {
			Publish: &server.SubjectPermission{Allow: []string{
				contract.InferAnyModelSubject(contract.KindCLI, ">"), // classify a file with a named model (README)
				"$JS.API.INFO",
				"$JS.API.STREAM.INFO." + framesStream,            // nats stream subjects FRAMES
				"$JS.API.CONSUMER.CREATE." + framesStream + ".>", // nats consumer add FRAMES (a replay)
				"$JS.API.CONSUMER.DURABLE.CREATE." + framesStream + ".*",
				"$JS.API.CONSUMER.INFO." + framesStream + ".*",
				"$JS.API.CONSUMER.DELETE." + framesStream + ".*", // nats consumer rm FRAMES
				"$SRV.>", // nats micro list / info / stats
			}},
			Subscribe: &server.SubjectPermission{Allow: []string{
				cliInboxPrefix + ".>",
				contract.ResultSubject(contract.KindReplay, "*"), // nats sub results.replay.<name>
			}},
		},
	}
}
