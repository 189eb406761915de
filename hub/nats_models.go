package hub

import (
	"encoding/json"
	"errors"
	"maps"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/webcamhub/webcamhub/contract"
)

// Model discovery: the hub learns which model-versions are served from the
// workers' micro service info ($SRV.INFO.inference, every instance answers
// with its endpoints, one per model-version), with no configuration of its
// own. It asks at connect, whenever its worker pings (watchWorkers) see an
// instance come or go or a pong's `models` change, every
// modelRefreshInterval, and when a frame finds no worker for its
// model-version or names a model it does not know (modelTable).

const (
	// modelRefreshInterval: the pings catch every change a pong shows
	// within workerWatchInterval; this is the backstop for what they miss
	// (an info lost on the way, endpoint metadata that changed alone), cheap
	// at one small request per worker every few seconds.
	modelRefreshInterval = 5 * time.Second
	// modelInfoWindow is how long the answers to one info request are
	// gathered when fewer than the workers last seen have answered: as
	// long as a ping's gathering, for the same reason (a busy event loop).
	modelInfoWindow = workerWatchWindow
)

// refreshModels asks every worker what it serves and sets the model table;
// concurrent callers share one request.
func (b *natsBroker) refreshModels() {
	b.refreshMu.Lock()
	if running := b.refreshing; running != nil {
		b.refreshMu.Unlock()
		<-running
		return
	}
	running := make(chan struct{})
	b.refreshing = running
	b.refreshMu.Unlock()
	defer func() {
		b.refreshMu.Lock()
		b.refreshing = nil
		b.refreshMu.Unlock()
		close(running)
	}()
	if !b.nc.IsConnected() {
		return // the table stays as it was; asked again once reconnected
	}
	infos, err := b.gatherInfo(int(b.workersSeen.Load()))
	if err != nil {
		b.log.Warn("could not ask the workers which models they serve", "err", err)
		return
	}
	b.models.set(infos)
}

// gatherInfo requests the inference service's info and returns the answers
// of modelInfoWindow, or fewer once expect instances answered.
func (b *natsBroker) gatherInfo(expect int) ([]contract.WorkerInfo, error) {
	inbox := b.nc.NewRespInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := b.nc.PublishRequest(contract.WorkerInfoSubject, inbox, nil); err != nil {
		return nil, err
	}
	var infos []contract.WorkerInfo
	until := time.Now().Add(modelInfoWindow)
	for expect <= 0 || len(infos) < expect {
		left := time.Until(until)
		if left <= 0 {
			break
		}
		msg, err := sub.NextMsg(left)
		// No responders: no worker is subscribed, so none serves a model.
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
			break
		}
		if err != nil {
			return nil, err
		}
		var info contract.WorkerInfo
		if json.Unmarshal(msg.Data, &info) == nil && info.Type == micro.InfoResponseType && info.Name == contract.WorkerService {
			infos = append(infos, info)
		}
	}
	return infos, nil
}

// workersChanged reports whether the pings' answers differ from known:
// an instance came or went, or one serves other model-versions.
func workersChanged(known, seen map[string]string) bool {
	return !maps.Equal(known, seen)
}
