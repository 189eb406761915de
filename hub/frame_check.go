package hub

import (
	"github.com/webcamhub/webcamhub/contract"
	"github.com/webcamhub/webcamhub/hub/internal/imagesniff"
)

// checkImage decides from an image's first bytes, before any worker spends
// time on it, whether it is sent on: what its header says (content type,
// decode cost), or the error code it is answered with. What the header says
// decoding would cost counts, not the size on the wire: a 300 KB PNG can ask
// for gigabytes.
func (h *Hub) checkImage(image []byte) (info imagesniff.Info, code string) {
	if len(image) == 0 {
		return info, contract.CodeBadImage
	}
	if len(image) > h.cfg.MaxFrameBytes {
		return info, contract.CodeTooLarge
	}
	info, ok := imagesniff.Inspect(image)
	if !ok {
		return info, contract.CodeBadImage
	}
	if info.DecodedBytes > h.cfg.MaxDecodedBytes {
		return info, contract.CodeTooLarge
	}
	return info, ""
}
