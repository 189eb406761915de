package hub

import (
	"github.com/webcamhub/webcamhub/hub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/imagesniff"
)

// checkImage decides from an image's first bytes, before any worker spends
// time on it, whether it is sent on: its content type, or the error code it
// is answered with. What its header says it would cost to decode counts, not
// its size on the wire: a 300 KB PNG can ask for gigabytes.
func (h *Hub) checkImage(image []byte) (contentType, code string) {
	if len(image) == 0 {
		return "", contract.CodeBadImage
	}
	if len(image) > h.cfg.MaxFrameBytes {
		return "", contract.CodeTooLarge
	}
	info, ok := imagesniff.Inspect(image)
	if !ok {
		return "", contract.CodeBadImage
	}
	if info.DecodedBytes > h.cfg.MaxDecodedBytes {
		return "", contract.CodeTooLarge
	}
	return info.ContentType, ""
}
