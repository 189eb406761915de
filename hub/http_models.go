package hub

import (
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/webcamhub/webcamhub/contract"
)

// The models' REST API (x-rest): what the workers serve now, shaped like
// the Open Inference Protocol's model metadata, and each model's and
// version's readiness. Answered from the model table alone (no NATS
// request per call); behind the same credential as the analyze API.

// Route parameters of the models' paths.
const (
	paramModel   = "name"
	paramVersion = "version"
)

func (h *Hub) modelRoutes(app *fiber.App) {
	model := contract.APIModelPath(":" + paramModel)
	version := contract.APIModelVersionPath(":"+paramModel, ":"+paramVersion)
	app.Get(contract.APIModelsPath, h.requireAPIAuth, h.listModels)
	app.Get(model, h.requireAPIAuth, h.modelMetadata)
	app.Get(model+contract.APIReadySuffix, h.requireAPIAuth, h.modelReady)
	app.Get(version, h.requireAPIAuth, h.modelMetadata)
	app.Get(version+contract.APIReadySuffix, h.requireAPIAuth, h.modelReady)
}

// listModels is GET /api/v1/models: every model known, served now or not;
// for a JWT with a models claim, those of the claim.
func (h *Hub) listModels(c *fiber.Ctx) error {
	grant := grantOf(c)
	list := contract.ModelList{Models: []contract.ModelMetadata{}}
	for _, name := range h.models.names() {
		if !grant.Models.allows(name) {
			continue
		}
		if md, err := h.models.metadata(name, 0); err == nil {
			list.Models = append(list.Models, md)
		}
	}
	return c.JSON(list)
}

// modelMetadata is GET /api/v1/models/{name}[/versions/{version}].
func (h *Hub) modelMetadata(c *fiber.Ctx) error {
	md, _, err := h.modelOf(c)
	if err != nil {
		return h.modelError(c, err)
	}
	return c.JSON(md)
}

// modelReady is GET .../ready: 200 when served now, 503 when not.
func (h *Hub) modelReady(c *fiber.Ctx) error {
	md, version, err := h.modelOf(c)
	if err != nil {
		return h.modelError(c, err)
	}
	ready := contract.ModelReady{Name: md.Name, Version: version, Ready: md.Ready}
	if !md.Ready {
		return c.Status(fiber.StatusServiceUnavailable).JSON(ready)
	}
	return c.JSON(ready)
}

// modelOf is the metadata the path names, and its version as the path has it ("" for none).
func (h *Hub) modelOf(c *fiber.Ctx) (contract.ModelMetadata, string, error) {
	name, v := c.Params(paramModel), c.Params(paramVersion)
	version := 0
	if v != "" {
		if _, parsed, err := contract.ParseModelRef(name + contract.ModelRefVersionSeparator + v); err == nil {
			version = parsed
		} else {
			return contract.ModelMetadata{}, v, errBadModelPath
		}
	} else if !contract.ValidModelName(name) {
		return contract.ModelMetadata{}, v, errBadModelPath
	}
	if !grantOf(c).Models.allows(name) {
		return contract.ModelMetadata{}, v, fmt.Errorf("model %q: %w", name, ErrModelForbidden)
	}
	md, err := h.models.metadata(name, version)
	return md, v, err
}

// errBadModelPath: a model name or version that is not one of the contract.
var errBadModelPath = errors.New("not a model name or version")

func (h *Hub) modelError(c *fiber.Ctx, err error) error {
	code := contract.CodeBadRequest
	if !errors.Is(err, errBadModelPath) {
		code = codeOf(err)
	}
	h.metrics.CountError(code)
	return apiError(c, code)
}
