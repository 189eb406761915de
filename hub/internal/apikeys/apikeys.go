// Package apikeys keeps the API keys a hub accepts in a file of their
// SHA-256 hashes, one named key a line, and picks up changes to the file
// (a key added by `hub apikey`, a line deleted to revoke one) without a
// restart.
//
// A key is 32 random bytes: a fast unkeyed hash is enough at rest, since
// nobody can search a 256-bit space, so the file needs no slow password
// hash (argon2, bcrypt) and a lookup costs a microsecond.
package apikeys

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// statInterval is how often a lookup may look at the file: a stat per
// second is nothing, and a revoked key is refused a second later.
const statInterval = time.Second

// keyPrefix marks a hub API key, so that one pasted in the wrong place
// (a log, a chat) is recognisable for what it is.
const keyPrefix = "whk_"

// hashPrefix names the hash of a line; another algorithm would get its own.
const hashPrefix = "sha256:"

// ErrBadFile is wrapped by every reason the file cannot be used.
var ErrBadFile = errors.New("unusable API keys file")

// validName is what a key's name may be: it appears in logs and metrics.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// entry is one accepted key: its hash and its name.
type entry struct {
	hash [sha256.Size]byte
	name string
}

// File holds the keys of one file and reloads them when it changes.
type File struct {
	path     string
	onReload func(keys int, err error) // told after each reload attempt

	mu        sync.Mutex
	entries   []entry
	stamp     fileStamp
	lastCheck time.Time
}

// fileStamp is what says the file changed.
type fileStamp struct {
	mod  time.Time
	size int64
}

// Open reads the file now, so that a missing or malformed file stops the
// hub before it listens. onReload (may be nil) hears of every later reload:
// the number of keys and nil when the new file is in use, the reason when
// it is not.
func Open(path string, onReload func(keys int, err error)) (*File, error) {
	f := &File{path: path, onReload: onReload}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFile, err)
	}
	entries, err := read(path)
	if err != nil {
		return nil, err
	}
	f.entries, f.stamp, f.lastCheck = entries, stampOf(st), time.Now()
	return f, nil
}

func stampOf(st fs.FileInfo) fileStamp { return fileStamp{mod: st.ModTime(), size: st.Size()} }

// Len is the number of keys accepted now.
func (f *File) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entries)
}

// Lookup returns the name of key when the file holds its hash. Every hash
// is compared, in constant time, whether or not one matched.
func (f *File) Lookup(key string) (name string, ok bool) {
	sum := sha256.Sum256([]byte(key))
	f.mu.Lock()
	if now := time.Now(); now.Sub(f.lastCheck) >= statInterval {
		f.lastCheck = now
		f.reloadIfChanged()
	}
	entries := f.entries
	f.mu.Unlock()
	for _, e := range entries {
		if subtle.ConstantTimeCompare(sum[:], e.hash[:]) == 1 {
			name, ok = e.name, true
		}
	}
	return name, ok
}

// reloadIfChanged reads the file again when its stamp changed. A removed
// file accepts no key from then on (deleting it revokes them all); a
// malformed one (an edit half written) keeps the keys read before. Called
// with mu held.
func (f *File) reloadIfChanged() {
	st, err := os.Stat(f.path)
	if err != nil {
		if f.stamp == (fileStamp{}) {
			return // already reported
		}
		f.entries, f.stamp = nil, fileStamp{}
		f.report(0, fmt.Errorf("%w: %w: no key is accepted until it is back", ErrBadFile, err))
		return
	}
	stamp := stampOf(st)
	if stamp == f.stamp {
		return
	}
	f.stamp = stamp // the same broken file is reported once
	entries, err := read(f.path)
	if err != nil {
		f.report(len(f.entries), fmt.Errorf("%w (the keys read before stay in use)", err))
		return
	}
	f.entries = entries
	f.report(len(entries), nil)
}

func (f *File) report(keys int, err error) {
	if f.onReload != nil {
		f.onReload(keys, err)
	}
}

// read parses the file: "sha256:<64 hex digits> <name>" lines; blank lines
// and lines starting with # are ignored.
func read(path string) ([]entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFile, err)
	}
	return parse(path, data)
}

func parse(path string, data []byte) ([]entry, error) {
	var out []entry
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%w: %s line %d: want %s<hex> <name>", ErrBadFile, path, n, hashPrefix)
		}
		hexHash, found := strings.CutPrefix(fields[0], hashPrefix)
		raw, err := hex.DecodeString(hexHash)
		if !found || err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("%w: %s line %d: the hash is not %s and 64 hex digits", ErrBadFile, path, n, hashPrefix)
		}
		name := fields[1]
		if !validName.MatchString(name) {
			return nil, fmt.Errorf("%w: %s line %d: name %q: want letters, digits, . _ @ - (at most 64)", ErrBadFile, path, n, name)
		}
		if names[name] {
			return nil, fmt.Errorf("%w: %s line %d: name %q is there twice", ErrBadFile, path, n, name)
		}
		names[name] = true
		e := entry{name: name}
		copy(e.hash[:], raw)
		out = append(out, e)
	}
	return out, sc.Err()
}

// Generate makes a new key: "whk_" and 32 random bytes in base64url, which
// fits an HTTP header and a WebSocket subprotocol token as it is.
func Generate() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Line is the file's line for key under name.
func Line(key, name string) string {
	sum := sha256.Sum256([]byte(key))
	return hashPrefix + hex.EncodeToString(sum[:]) + " " + name + "\n"
}

// Add makes a new key named name, appends its hash to the file at path
// (made, readable by its owner only, when it is not there) and returns the
// key, which is stored nowhere else: it can be shown once only.
func Add(path, name string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("%w: name %q: want letters, digits, . _ @ - (at most 64)", ErrBadFile, name)
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %w", ErrBadFile, err)
	}
	entries, err := parse(path, data)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.name == name {
			return "", fmt.Errorf("%w: %s already has a key named %q (delete its line to revoke it)", ErrBadFile, path, name)
		}
	}
	key, err := Generate()
	if err != nil {
		return "", err
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadFile, err)
	}
	text := Line(key, name)
	if len(data) == 0 {
		text = "# webcamhub API keys (hub apikey): the SHA-256 of each key and its name; delete a line to revoke a key.\n" + text
	} else if data[len(data)-1] != '\n' {
		text = "\n" + text
	}
	if _, err := out.WriteString(text); err != nil {
		out.Close()
		return "", err
	}
	return key, out.Close()
}
