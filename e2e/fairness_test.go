//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"sync"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/internal/testkit"
)

// decodeBomb is a 16-bit RGBA PNG of 6300×6300 (under a 40-megapixel cap):
// about 420 KB on the wire, 317 MB to decode.
func decodeBomb(t testing.TB) []byte {
	t.Helper()
	img := image.NewNRGBA64(image.Rect(0, 0, 6300, 6300))
	for i := range img.Pix {
		img.Pix[i] = 0xFF
	}
	img.Pix[len(img.Pix)-1] = 0x7F // one translucent pixel: the encoder keeps the alpha channel
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sendPaced sends frames from next() every interval until n are sent or
// ctx is done, while a reader counts the answers by type and code; it
// returns once every frame sent is answered (each frame gets exactly one
// answer), or after answerWait without one.
func sendPaced(ctx context.Context, t *testing.T, c *testkit.Client, n int, interval time.Duration, next func(i int) []byte) map[string]int {
	answers := map[string]int{}
	var mu sync.Mutex
	answered := 0
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			m, err := c.Read(answerWait)
			if err != nil {
				return // closed below once all is answered, or the hub went away
			}
			mu.Lock()
			answers[m.Type+" "+m.Code]++
			answered++
			mu.Unlock()
		}
	}()
	sent := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for ; sent < n && ctx.Err() == nil; sent++ {
		if err := c.Conn.WriteMessage(fws.BinaryMessage, next(sent)); err != nil {
			t.Errorf("frame %d: %v", sent+1, err)
			break
		}
		<-tick.C
	}
	deadline := time.Now().Add(answerWait)
	for {
		mu.Lock()
		all := answered >= sent
		mu.Unlock()
		if all || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = c.Conn.Close()
	<-readerDone
	mu.Lock()
	defer mu.Unlock()
	answers["sent"] = sent
	answers["answered"] = answered
	return answers
}

// Three sessions send a decode bomb at 10 frames a second while a polite
// session sends photos at 5: the polite one still gets at least 90% of its
// frames classified, and the bombers are refused and then slowed. Counts
// only: nothing here is timed.
func TestDecodeBombSessionsDoNotStarveAPoliteOne(t *testing.T) {
	bomb := decodeBomb(t)
	hub := startHub(t, hubOptions{})
	startWorker(t, hub.nats, "worker-fair")
	hub.waitFor(t, "/readyz?workers=1")
	photos := [][]byte{readImage(t, "cat_720p.jpg"), readImage(t, "parrot.jpg"), readImage(t, "cat.bmp"), readImage(t, "sunflower.bmp")}

	ctx, stopBombers := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	bombers := make([]map[string]int, 3)
	for i := range bombers {
		c := dialHub(t, hub.base, "")
		c.Welcome()
		wg.Add(1)
		go func() {
			defer wg.Done()
			bombers[i] = sendPaced(ctx, t, c, 1000, 100*time.Millisecond, func(int) []byte { return bomb })
		}()
	}
	polite := dialHub(t, hub.base, "")
	polite.Welcome()
	const frames = 75
	got := sendPaced(context.Background(), t, polite, frames, 200*time.Millisecond, func(i int) []byte { return photos[i%len(photos)] })
	stopBombers()
	wg.Wait()

	if got["answered"] != frames {
		t.Errorf("polite session: %d of %d frames answered", got["answered"], frames)
	}
	if got["result "] < frames*9/10 {
		t.Errorf("polite session: %d of %d frames classified (%v), want at least 90%%", got["result "], frames, got)
	}
	for i, b := range bombers {
		if b["error "+contract.CodeRateLimited] == 0 || b["result "] != 0 {
			t.Errorf("bomber %d: answers %v; want its bombs refused and then rate_limited, none classified", i+1, b)
		}
	}
	t.Logf("polite %v; bombers %v", got, bombers)
}
