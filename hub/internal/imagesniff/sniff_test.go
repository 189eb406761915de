package imagesniff

import (
	"testing"

	"github.com/webcamhub/webcamhub/contract"
)

func TestContentType(t *testing.T) {
	bmp := append([]byte("BM"), make([]byte, 30)...)
	cases := []struct {
		name string
		data []byte
		want string
		ok   bool
	}{
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0}, contract.ContentTypeJPEG, true},
		{"png", []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0}, contract.ContentTypePNG, true},
		{"webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), contract.ContentTypeWebP, true},
		{"bmp", bmp, contract.ContentTypeBMP, true},
		{"short bmp", []byte("BMx"), "", false},
		{"riff not webp", []byte("RIFF\x10\x00\x00\x00WAVEfmt "), "", false},
		{"text", []byte("hello world"), "", false},
		{"empty", nil, "", false},
	}
	for _, c := range cases {
		got, ok := ContentType(c.data)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: ContentType = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
