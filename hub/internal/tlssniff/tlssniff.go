// Package tlssniff lets a TLS port answer a plain-HTTP request in words a
// person reads, instead of a TLS alert that browsers show as "connection
// reset" or curl as a protocol error: a request for a page is redirected
// to https on the same host and port, anything else gets a 400 that says
// to use https.
package tlssniff

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// recordTypeHandshake is the first byte of every TLS connection: a
// handshake record carrying the ClientHello.
const recordTypeHandshake = 0x16

// plainRequestWait bounds how long a plain-HTTP client may take to send its
// request line and headers before it is answered anyway.
const plainRequestWait = 5 * time.Second

// maxPlainRequest is how much of a plain request is read to answer it: its
// request line and Host header, well within a browser's first packet.
const maxPlainRequest = 16 << 10

// Wrap returns a listener whose connections look at their first byte on
// their first read: a TLS handshake goes on to the TLS server reading it,
// anything else is answered as plain HTTP and reads as closed (io.EOF).
// Wrap it with tls.NewListener.
func Wrap(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c}, nil
}

// conn is a connection whose first byte has been looked at, or not yet.
// The TLS server reads it from one goroutine at a time.
type conn struct {
	net.Conn
	once  sync.Once
	first []byte // the byte read to look at, still owed to the reader
	err   error  // io.EOF after a plain-HTTP request was answered
}

func (c *conn) Read(p []byte) (int, error) {
	c.once.Do(c.sniff)
	if c.err != nil {
		return 0, c.err
	}
	if len(c.first) > 0 && len(p) > 0 {
		p[0] = c.first[0]
		c.first = nil
		return 1, nil
	}
	return c.Conn.Read(p)
}

func (c *conn) sniff() {
	b := make([]byte, 1)
	if _, err := io.ReadFull(c.Conn, b); err != nil {
		c.err = err
		return
	}
	if b[0] == recordTypeHandshake {
		c.first = b
		return
	}
	answerPlain(c.Conn, io.MultiReader(strings.NewReader(string(b)), c.Conn))
	c.err = io.EOF
}

// answerPlain reads a plain-HTTP request from r and answers it on c.
func answerPlain(c net.Conn, r io.Reader) {
	_ = c.SetDeadline(time.Now().Add(plainRequestWait))
	req, err := http.ReadRequest(bufio.NewReader(io.LimitReader(r, maxPlainRequest)))
	target := ""
	if err == nil {
		target = httpsURL(req)
	}
	status, location := http.StatusBadRequest, ""
	body := "This port speaks HTTPS, not plain HTTP: use https://host:port/ in the address.\n"
	if target != "" {
		body = fmt.Sprintf("This port speaks HTTPS, not plain HTTP: use %s\n", target)
		if req.Method == http.MethodGet || req.Method == http.MethodHead {
			// A browser follows this at once; 308 keeps the method.
			status, location = http.StatusPermanentRedirect, "Location: "+target+"\r\n"
		}
	}
	_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), location, len(body), body)
}

// httpsURL is the request's URL with https, or "" when its Host or target
// is not something to put in a Location header.
func httpsURL(req *http.Request) string {
	if req.Host == "" || !strings.HasPrefix(req.RequestURI, "/") {
		return ""
	}
	u, err := url.Parse("https://" + req.Host)
	if err != nil || u.Host != req.Host || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return ""
	}
	u.Path, u.RawQuery = req.URL.Path, req.URL.RawQuery
	return u.String()
}
