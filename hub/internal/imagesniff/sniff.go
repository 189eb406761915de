// Package imagesniff tells an image's format from its first bytes, so the hub
// can refuse what is not an image before it costs a worker anything.
package imagesniff

import (
	"bytes"

	"github.com/webcamhub/webcamhub/contract"
)

var (
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
	pngMagic  = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
)

// ContentType returns the MIME type of data and true when it starts like a
// JPEG, PNG, WebP or BMP file. A matching start does not prove the rest is
// valid: the worker's decoder has the last word.
func ContentType(data []byte) (string, bool) {
	switch {
	case bytes.HasPrefix(data, jpegMagic):
		return contract.ContentTypeJPEG, true
	case bytes.HasPrefix(data, pngMagic):
		return contract.ContentTypePNG, true
	case len(data) >= 12 && bytes.Equal(data[0:4], []byte("RIFF")) && bytes.Equal(data[8:12], []byte("WEBP")):
		return contract.ContentTypeWebP, true
	case len(data) >= 26 && data[0] == 'B' && data[1] == 'M':
		return contract.ContentTypeBMP, true
	default:
		return "", false
	}
}
