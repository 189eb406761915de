package embeddednats

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"
)

// ErrBadSeed is returned when a seed file exists but does not hold a user
// nkey seed.
var ErrBadSeed = errors.New("not a NATS user nkey seed")

// SeedFile is where the seed of role lives in dir: <dir>/<role>.nk, the
// form `nats --nkey`, nats.go and nats-py read.
func SeedFile(dir, role string) string { return filepath.Join(dir, role+".nk") }

// LoadOrCreateSeeds returns one user key pair per role: the seed kept in
// SeedFile(dir, role) when there is one, else a new one written there
// (mode 0600, the directory 0700), so that later starts reuse it and the
// workers and the operator can be handed their file.
func LoadOrCreateSeeds(dir string, roles []string) (map[string]nkeys.KeyPair, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("nkey seeds: %w", err)
	}
	out := make(map[string]nkeys.KeyPair, len(roles))
	for _, role := range roles {
		kp, err := loadOrCreateSeed(SeedFile(dir, role))
		if err != nil {
			return nil, fmt.Errorf("nkey seed of role %s: %w", role, err)
		}
		out[role] = kp
	}
	return out, nil
}

func loadOrCreateSeed(path string) (nkeys.KeyPair, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := os.Chmod(path, 0o600); err != nil { // a copy made with looser modes is tightened
			return nil, err
		}
		kp, err := nkeys.FromSeed(bytes.TrimSpace(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w (%w); delete it to make a new one", path, ErrBadSeed, err)
		}
		if pub, _ := kp.PublicKey(); !nkeys.IsValidPublicUserKey(pub) {
			return nil, fmt.Errorf("%s: %w (a seed of another kind)", path, ErrBadSeed)
		}
		return kp, nil
	case errors.Is(err, fs.ErrNotExist):
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, err
		}
		seed, err := kp.Seed()
		if err != nil {
			return nil, err
		}
		// O_EXCL: two hubs started on one store at once do not overwrite each other's seed.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		_, werr := f.Write(append(seed, '\n'))
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			_ = os.Remove(path)
			return nil, werr
		}
		return kp, nil
	default:
		return nil, err
	}
}
