// The article's architecture: its gateway, kept as the baseline of `make bench`.
//
// The article this project grew from put an Echo gateway in front of a
// FastAPI model service: the browser posts {"base64Image": …}, the gateway
// forwards the image as JSON over HTTP and returns the service's top-3. This
// program is that gateway, in its own Go module so that Echo stays out of the
// hub's dependencies.
//
//	gateway -listen 127.0.0.1:8002 -model http://127.0.0.1:8001/predict
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// modelTimeout matches the article's client: a prediction on CPU takes tens
// of milliseconds, queued ones longer; ten seconds only catches a dead service.
const modelTimeout = 10 * time.Second

type analyzeRequest struct {
	Base64Image string `json:"base64Image"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8002", "address of the gateway")
	model := flag.String("model", "http://127.0.0.1:8001/predict", "URL of the model service")
	flag.Parse()

	client := &http.Client{Timeout: modelTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	e := echo.New()
	e.HideBanner = true
	e.POST("/api/v1/analyze", func(c echo.Context) error {
		var req analyzeRequest
		if err := c.Bind(&req); err != nil || req.Base64Image == "" {
			return c.JSON(http.StatusBadRequest, map[string]string{"message": "base64Image is required"})
		}
		img := req.Base64Image
		if i := strings.Index(img, ","); strings.HasPrefix(img, "data:") && i >= 0 {
			img = img[i+1:]
		}
		body, _ := json.Marshal(map[string]string{"image": img})
		resp, err := client.Post(*model, "application/json", bytes.NewReader(body))
		if err != nil {
			return c.JSON(http.StatusBadGateway, map[string]string{"message": "model service unreachable"})
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			return c.JSON(http.StatusBadGateway, map[string]string{"message": "model service failed"})
		}
		return c.Blob(resp.StatusCode, "application/json", out)
	})
	log.Fatal(e.Start(*listen))
}
