package hub

import (
	"strconv"
	"sync/atomic"
)

// maxUnreadBytes is how much a client may have written to it and not yet
// read before the hub asks for proof that it reads: the kernel's socket
// buffers on both sides hold megabytes, so a client that sends frames but
// never reads would otherwise go unnoticed until they fill.
const maxUnreadBytes = 256 << 10

// readProgress tracks whether a client reads what the hub writes. After
// maxUnreadBytes the writer sends a ping carrying a probe id; a client's
// WebSocket answers it only once it has read everything written before it.
// A probe unanswered within the write timeout closes the client as slow.
type readProgress struct {
	lastPong atomic.Uint64 // id of the latest probe answered; set by the reader
	pongs    chan struct{} // wakes the writer when a pong arrives

	// The writer's alone:
	written, acked, probeWritten int64
	probeID                      uint64
	probing                      bool
}

func newReadProgress() *readProgress {
	return &readProgress{pongs: make(chan struct{}, 1)}
}

// wrote counts n bytes written; it returns the payload of a probe ping to
// send when one is due, else nil.
func (p *readProgress) wrote(n int) (probe []byte) {
	p.written += int64(n)
	if p.probing || p.written-p.acked < maxUnreadBytes {
		return nil
	}
	p.probeID++
	p.probing, p.probeWritten = true, p.written
	return strconv.AppendUint(nil, p.probeID, 10)
}

// pong is the reader's record of a pong's payload.
func (p *readProgress) pong(appData string) {
	if id, err := strconv.ParseUint(appData, 10, 64); err == nil {
		p.lastPong.Store(id)
		select {
		case p.pongs <- struct{}{}:
		default:
		}
	}
}

// answered reports, after a pong woke the writer, whether the outstanding
// probe was answered; the bytes before it then count as read.
func (p *readProgress) answered() bool {
	if !p.probing || p.lastPong.Load() != p.probeID {
		return false
	}
	p.probing, p.acked = false, p.probeWritten
	return true
}
