// Command wsclassify sends image files to a running hub over its WebSocket,
// the way the page does, and prints each file's result (or error) as one JSON
// line. It exits 1 when any file was not classified.
//
//	go run ./cmd/wsclassify [-url ws://localhost:8080/ws] FILE...
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/webcamhub/webcamhub/contract"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsclassify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("HUB_WS", "ws://localhost:8080"+contract.WebSocketPath), "the hub's WebSocket URL (HUB_WS)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for each answer")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: wsclassify [-url ws://host:port/ws] FILE...")
		return 2
	}
	conn, _, err := websocket.DefaultDialer.Dial(*url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "wsclassify: connecting to %s: %v\n", *url, err)
		return 1
	}
	defer conn.Close()
	if _, err := next(conn, *timeout); err != nil { // welcome
		fmt.Fprintln(stderr, "wsclassify:", err)
		return 1
	}
	status := 0
	for seq, path := range fs.Args() {
		image, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(stderr, "wsclassify:", err)
			return 1
		}
		if err := conn.WriteMessage(websocket.BinaryMessage, image); err != nil {
			fmt.Fprintln(stderr, "wsclassify: sending:", err)
			return 1
		}
		answer, err := answerFor(conn, int64(seq+1), *timeout)
		if err != nil {
			fmt.Fprintf(stderr, "wsclassify: %s: %v\n", path, err)
			return 1
		}
		fmt.Fprintln(stdout, string(answer.raw))
		if answer.Type != contract.TypeResult {
			status = 1
		}
	}
	return status
}

type answer struct {
	Type string `json:"type"`
	Seq  int64  `json:"seq"`
	raw  []byte
}

// answerFor reads until the result, error or dropped of frame seq.
func answerFor(conn *websocket.Conn, seq int64, timeout time.Duration) (answer, error) {
	for {
		a, err := next(conn, timeout)
		if err != nil {
			return a, err
		}
		if a.Seq == seq && (a.Type == contract.TypeResult || a.Type == contract.TypeError || a.Type == contract.TypeDropped) {
			return a, nil
		}
	}
}

func next(conn *websocket.Conn, timeout time.Duration) (answer, error) {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	_, data, err := conn.ReadMessage()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return answer{}, fmt.Errorf("the hub closed the connection: %d %s", ce.Code, ce.Text)
		}
		return answer{}, err
	}
	a := answer{raw: data}
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("unreadable message %q", data)
	}
	return a, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
