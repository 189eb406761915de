package imagesniff

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/webcamhub/webcamhub/contract"
)

// Info is what an image's header says before any pixel is decoded.
type Info struct {
	ContentType   string
	Width, Height int // 0 when the header could not be read
	// DecodedBytes estimates the least memory a decoder fills to read the
	// image (pixels × bytes per pixel, before any conversion): the cost of
	// a frame to a worker. 0 when the header could not be read.
	DecodedBytes int64
}

// maxDecodedBytes is where DecodedBytes stops counting (2^62): any image
// near it is refused long before.
const maxDecodedBytes = 1 << 62

// classifySide is the side of the square the workers classify: a JPEG is
// decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) as long as its
// short side stays at least this long.
const classifySide = 224

// Inspect returns the format of data and, when its header can be read, its
// dimensions and decode cost. ok is false when data is not a JPEG, PNG, WebP
// or BMP at all. Like ContentType it proves nothing about the rest of the
// data; it never reads past len(data) and never allocates per byte.
func Inspect(data []byte) (info Info, ok bool) {
	info.ContentType, ok = ContentType(data)
	if !ok {
		return info, false
	}
	var w, h int
	var bytesPerPixel float64
	switch info.ContentType {
	case contract.ContentTypePNG:
		w, h, bytesPerPixel = pngHeader(data)
	case contract.ContentTypeJPEG:
		w, h, bytesPerPixel = jpegHeader(data)
	case contract.ContentTypeWebP:
		w, h, bytesPerPixel = webpHeader(data)
	case contract.ContentTypeBMP:
		w, h, bytesPerPixel = bmpHeader(data)
	}
	if w <= 0 || h <= 0 {
		return info, true
	}
	info.Width, info.Height = w, h
	// Headers can claim up to 2^31 on a side: the product is clamped rather
	// than overflowing.
	info.DecodedBytes = int64(min(float64(w)*float64(h)*bytesPerPixel, maxDecodedBytes))
	return info, true
}

// pngHeader reads IHDR, which the format puts first.
func pngHeader(d []byte) (w, h int, bpp float64) {
	if len(d) < 8+8+13 || !bytes.Equal(d[12:16], []byte("IHDR")) {
		return 0, 0, 0
	}
	w = int(binary.BigEndian.Uint32(d[16:20]))
	h = int(binary.BigEndian.Uint32(d[20:24]))
	// The format caps each side at 2^31 - 1; a header past that is no PNG.
	if w > math.MaxInt32 || h > math.MaxInt32 {
		return 0, 0, 0
	}
	depth, colorType := int(d[24]), d[25]
	channels := map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colorType]
	if channels == 0 || depth == 0 {
		return 0, 0, 0
	}
	// Samples under 8 bits are unpacked to a byte each.
	return w, h, float64(channels * max(1, depth/8))
}

// jpegHeader walks the marker segments to the first start-of-frame.
func jpegHeader(d []byte) (w, h int, bpp float64) {
	i := 2
	for i+4 <= len(d) {
		if d[i] != 0xFF {
			return 0, 0, 0
		}
		marker := d[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) { // no length
			i += 2
			continue
		}
		length := int(binary.BigEndian.Uint16(d[i+2 : i+4]))
		if length < 2 {
			return 0, 0, 0
		}
		isSOF := marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC
		if isSOF {
			if i+10 > len(d) {
				return 0, 0, 0
			}
			h = int(binary.BigEndian.Uint16(d[i+5 : i+7]))
			w = int(binary.BigEndian.Uint16(d[i+7 : i+9]))
			components := int(d[i+9])
			if components == 0 {
				return 0, 0, 0
			}
			progressive := marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE
			if progressive || marker == 0xC3 || marker == 0xC7 || marker == 0xCB || marker == 0xCF {
				// Progressive (and lossless) JPEGs keep every DCT coefficient
				// of the whole image, 2 bytes each, whatever the output scale.
				return w, h, float64(2 * components)
			}
			scale := 1
			for scale < 8 && w/(scale*2) >= classifySide && h/(scale*2) >= classifySide {
				scale *= 2
			}
			return w, h, float64(components) / float64(scale*scale)
		}
		if marker == 0xDA { // start of scan before any frame header
			return 0, 0, 0
		}
		i += 2 + length
	}
	return 0, 0, 0
}

// webpHeader reads the first chunk: VP8 (lossy), VP8L (lossless) or VP8X
// (extended, with the canvas size).
func webpHeader(d []byte) (w, h int, bpp float64) {
	if len(d) < 25 {
		return 0, 0, 0
	}
	switch string(d[12:16]) {
	case "VP8 ":
		if len(d) < 30 || d[23] != 0x9D || d[24] != 0x01 || d[25] != 0x2A {
			return 0, 0, 0
		}
		w = int(binary.LittleEndian.Uint16(d[26:28]) & 0x3FFF)
		h = int(binary.LittleEndian.Uint16(d[28:30]) & 0x3FFF)
		return w, h, 3
	case "VP8L":
		if d[20] != 0x2F {
			return 0, 0, 0
		}
		bits := binary.LittleEndian.Uint32(d[21:25])
		w = int(bits&0x3FFF) + 1
		h = int((bits>>14)&0x3FFF) + 1
		return w, h, 4
	case "VP8X":
		if len(d) < 30 {
			return 0, 0, 0
		}
		w = int(uint32(d[24])|uint32(d[25])<<8|uint32(d[26])<<16) + 1
		h = int(uint32(d[27])|uint32(d[28])<<8|uint32(d[29])<<16) + 1
		return w, h, 4
	}
	return 0, 0, 0
}

// bmpHeader reads the DIB header's size (BITMAPCOREHEADER or later).
func bmpHeader(d []byte) (w, h int, bpp float64) {
	dib := binary.LittleEndian.Uint32(d[14:18])
	var bits int
	switch {
	case dib == 12:
		w = int(binary.LittleEndian.Uint16(d[18:20]))
		h = int(binary.LittleEndian.Uint16(d[20:22]))
		bits = int(binary.LittleEndian.Uint16(d[24:26]))
	case dib >= 40 && len(d) >= 30:
		w = int(int32(binary.LittleEndian.Uint32(d[18:22])))
		h = int(int32(binary.LittleEndian.Uint32(d[22:26])))
		if h < 0 { // top-down rows
			h = -h
		}
		bits = int(binary.LittleEndian.Uint16(d[28:30]))
	default:
		return 0, 0, 0
	}
	if bits <= 8 {
		return w, h, 1 // palette indexes
	}
	return w, h, float64((bits + 7) / 8)
}
