package hub

import (
	"errors"
	"fmt"
	"slices"

	"github.com/webcamhub/webcamhub/contract"
)

// The models a client may use: a JWT's `models` claim names them, and a
// frame, a model switch or an analyze request for another one is refused
// with model_forbidden, whether that model is served or not (the answer
// tells nothing of what the hub serves).

// ErrModelForbidden: the client's credential does not allow the model.
var ErrModelForbidden = errors.New("the credential does not allow that model")

// modelGrant is the model names a credential allows; nil allows any (API
// keys, JWTs without the claim, a hub without authentication). An empty,
// non-nil list (a claim of []) allows none.
type modelGrant []string

func (g modelGrant) allows(name string) bool { return g == nil || slices.Contains(g, name) }

// pickFor is modelTable.pick for a client holding g: a name g does not
// allow is ErrModelForbidden; no name is the default model when g allows
// it, else the first name of g served now (alphabetically), else
// ErrModelUnavailable (ErrModelForbidden when g names none).
func (t *modelTable) pickFor(name string, version int, g modelGrant) (modelTarget, error) {
	return t.resolveFor(name, version, g, t.pick)
}

// lookupFor is pickFor without asking the workers (modelTable.lookup).
func (t *modelTable) lookupFor(name string, version int, g modelGrant) (modelTarget, error) {
	return t.resolveFor(name, version, g, t.lookup)
}

func (t *modelTable) resolveFor(name string, version int, g modelGrant, find func(string, int) (modelTarget, error)) (modelTarget, error) {
	switch {
	case g == nil:
		return find(name, version)
	case name != "" && !g.allows(name):
		return modelTarget{}, fmt.Errorf("model %q: %w", name, ErrModelForbidden)
	case len(g) == 0:
		return modelTarget{}, fmt.Errorf("a credential allowing no model: %w", ErrModelForbidden)
	case name != "":
		return find(name, version)
	}
	if target, err := find("", 0); err == nil && g.allows(target.Name) {
		return target, nil
	}
	if first := t.firstServedOf(g); first != "" {
		return find(first, 0)
	}
	return modelTarget{}, fmt.Errorf("no model of %q served: %w", []string(g), ErrModelUnavailable)
}

// firstServedOf is the alphabetically first name of g served now; "" when none is.
func (t *modelTable) firstServedOf(g modelGrant) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, name := range slices.Sorted(slices.Values(g)) {
		if len(t.served[name]) > 0 {
			return name
		}
	}
	return ""
}

// summariesFor is summaries, only the models g allows.
func (t *modelTable) summariesFor(g modelGrant) []contract.ModelSummary {
	all := t.summaries()
	if g == nil {
		return all
	}
	return slices.DeleteFunc(all, func(m contract.ModelSummary) bool { return !g.allows(m.Name) })
}
