package imagesniff

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	_ "golang.org/x/image/webp" // DecodeConfig for WebP in the fuzz target and the table

	"github.com/webcamhub/webcamhub/contract"
)

func encode(t testing.TB, img image.Image, enc func(*bytes.Buffer, image.Image) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngOf(t testing.TB, img image.Image) []byte {
	return encode(t, img, func(b *bytes.Buffer, i image.Image) error { return png.Encode(b, i) })
}

func jpegOf(t testing.TB, img image.Image) []byte {
	return encode(t, img, func(b *bytes.Buffer, i image.Image) error { return jpeg.Encode(b, i, nil) })
}

func bmpOf(t testing.TB, img image.Image) []byte {
	return encode(t, img, func(b *bytes.Buffer, i image.Image) error { return bmp.Encode(b, i) })
}

// webpVP8X is the start of an extended WebP with a w×h canvas.
func webpVP8X(w, h int) []byte {
	d := append([]byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00"), make([]byte, 10)...)
	d[20] = 0x10 // alpha
	for i, v := range []int{w - 1, h - 1} {
		d[24+3*i], d[25+3*i], d[26+3*i] = byte(v), byte(v>>8), byte(v>>16)
	}
	return d
}

// webpVP8L is the start of a lossless WebP of w×h.
func webpVP8L(w, h int) []byte {
	d := append([]byte("RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f"), make([]byte, 4)...)
	binary.LittleEndian.PutUint32(d[21:], uint32(w-1)|uint32(h-1)<<14)
	return d
}

func TestInspectReadsDimensionsAndCost(t *testing.T) {
	big16 := image.NewRGBA64(image.Rect(0, 0, 300, 200))
	big16.Set(1, 1, color.RGBA64{1, 2, 3, 4})
	gray := image.NewGray(image.Rect(0, 0, 640, 480))
	cases := []struct {
		name       string
		data       []byte
		typ        string
		w, h       int
		decodedMin int64
		decodedMax int64
	}{
		{"16-bit RGBA PNG", pngOf(t, big16), contract.ContentTypePNG, 300, 200, 300 * 200 * 8, 300 * 200 * 8},
		{"gray PNG", pngOf(t, gray), contract.ContentTypePNG, 640, 480, 640 * 480, 640 * 480},
		{"VGA JPEG, decoded at 1/2", jpegOf(t, gray), contract.ContentTypeJPEG, 640, 480, 640 * 480 / 4, 640 * 480 / 4},
		{"small JPEG, full scale", jpegOf(t, image.NewGray(image.Rect(0, 0, 300, 300))), contract.ContentTypeJPEG, 300, 300, 300 * 300, 300 * 300},
		{"big JPEG, decoded at 1/8", jpegOf(t, image.NewGray(image.Rect(0, 0, 2000, 1800))), contract.ContentTypeJPEG, 2000, 1800, 2000 * 1800 / 64, 2000 * 1800 / 64},
		{"BMP", bmpOf(t, image.NewRGBA(image.Rect(0, 0, 50, 40))), contract.ContentTypeBMP, 50, 40, 50 * 40 * 3, 50 * 40 * 4},
		{"WebP VP8X", webpVP8X(6300, 6300), contract.ContentTypeWebP, 6300, 6300, 6300 * 6300 * 4, 6300 * 6300 * 4},
		{"WebP VP8L", webpVP8L(16384, 2), contract.ContentTypeWebP, 16384, 2, 16384 * 2 * 4, 16384 * 2 * 4},
	}
	for _, c := range cases {
		info, ok := Inspect(c.data)
		if !ok || info.ContentType != c.typ || info.Width != c.w || info.Height != c.h || info.DecodedBytes < c.decodedMin || info.DecodedBytes > c.decodedMax {
			t.Errorf("%s: %+v, %v; want %s %dx%d costing %d..%d bytes", c.name, info, ok, c.typ, c.w, c.h, c.decodedMin, c.decodedMax)
		}
	}
}

// headerTable is the table of image files the worker's header reader answers
// too (inference_server/tests/test_probe.py): both must agree with it.
var headerTable = filepath.Join("..", "..", "..", "testdata", "image-headers.tsv")

type headerRow struct {
	file, contentType string // contentType "": not an image
	width, height     int    // 0: the header is refused
	what              string
}

func readHeaderTable(t *testing.T) []headerRow {
	t.Helper()
	text, err := os.ReadFile(headerTable)
	if err != nil {
		t.Fatal(err)
	}
	var rows []headerRow
	header := true
	for _, line := range strings.Split(strings.TrimRight(string(text), "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if header {
			if strings.Join(f, ",") != "file,format,width,height,case" {
				t.Fatalf("%s: columns %q", headerTable, f)
			}
			header = false
			continue
		}
		if len(f) != 5 {
			t.Fatalf("%s: row %q", headerTable, line)
		}
		row := headerRow{file: filepath.Join(filepath.Dir(headerTable), "image-headers", f[0]), what: f[4]}
		if f[1] != "-" {
			row.contentType = f[1]
		}
		if f[2] != "-" {
			if row.width, err = strconv.Atoi(f[2]); err != nil {
				t.Fatalf("%s: row %q: %v", headerTable, line, err)
			}
			if row.height, err = strconv.Atoi(f[3]); err != nil {
				t.Fatalf("%s: row %q: %v", headerTable, line, err)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func TestInspectAnswersAsTheSharedTable(t *testing.T) {
	rows := readHeaderTable(t)
	sized, refused := map[string]int{}, map[string]int{}
	for _, row := range rows {
		if row.width > 0 {
			sized[row.contentType]++
		} else {
			refused[row.contentType]++
		}
	}
	if refused[""] == 0 {
		t.Errorf("the table holds no bytes that are not an image")
	}
	for _, typ := range contract.ContentTypes {
		if sized[typ] < 4 || refused[typ] == 0 {
			t.Errorf("the table holds %d readable and %d refused %s files; want at least 4 and 1", sized[typ], refused[typ], typ)
		}
	}
	for _, row := range rows {
		t.Run(filepath.Base(row.file), func(t *testing.T) {
			data, err := os.ReadFile(row.file)
			if err != nil {
				t.Fatal(err)
			}
			info, ok := Inspect(data)
			if ok != (row.contentType != "") || info.ContentType != row.contentType {
				t.Fatalf("%s: Inspect %q %v; want %q", row.what, info.ContentType, ok, row.contentType)
			}
			if info.Width != row.width || info.Height != row.height || (info.DecodedBytes > 0) != (row.width > 0) {
				t.Fatalf("%s: Inspect %+v; want %dx%d", row.what, info, row.width, row.height)
			}
			// Where Go's own decoders read the header, they agree with the table.
			if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil && row.width > 0 &&
				(cfg.Width != row.width || cfg.Height != row.height) {
				t.Fatalf("%s: Go's decoder %dx%d; want %dx%d", row.what, cfg.Width, cfg.Height, row.width, row.height)
			}
		})
	}
}

func TestInspectOfTruncatedHeadersKnowsTheTypeOnly(t *testing.T) {
	for _, data := range [][]byte{
		{0xFF, 0xD8, 0xFF, 0xE0, 0, 0},
		{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0},
		[]byte("RIFF\x10\x00\x00\x00WEBPVP8 "),
		append([]byte("BM"), make([]byte, 30)...),
	} {
		info, ok := Inspect(data)
		if !ok || info.ContentType == "" || info.Width != 0 || info.DecodedBytes != 0 {
			t.Errorf("% x: %+v, %v", data, info, ok)
		}
	}
}

// FuzzInspect: Inspect never panics, agrees with ContentType, and where Go's
// own decoders can read the header it finds the same dimensions.
func FuzzInspect(f *testing.F) {
	f.Add(pngOf(f, image.NewRGBA64(image.Rect(0, 0, 3, 2))))
	f.Add(pngOf(f, image.NewPaletted(image.Rect(0, 0, 5, 7), color.Palette{color.Black, color.White})))
	f.Add(jpegOf(f, image.NewRGBA(image.Rect(0, 0, 9, 4))))
	f.Add(bmpOf(f, image.NewGray(image.Rect(0, 0, 3, 3))))
	f.Add(webpVP8X(10, 20))
	f.Add(webpVP8L(3, 3))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xC0, 0x00, 0x02})
	testdata := os.Getenv("SHARED_TESTDATA") // as make sets it; else the checkout's neighbour
	if testdata == "" {
		testdata = filepath.Join("..", "..", "..", "..", "shared", "testdata")
	}
	if paths, _ := filepath.Glob(filepath.Join(testdata, "images", "*.jpg")); len(paths) > 0 {
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil && len(b) > 4096 {
				f.Add(b[:4096]) // the header is at the start
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, ok := Inspect(data)
		typ, sniffed := ContentType(data)
		if ok != sniffed || info.ContentType != typ {
			t.Fatalf("Inspect %q %v, ContentType %q %v", info.ContentType, ok, typ, sniffed)
		}
		if info.Width < 0 || info.Height < 0 || info.DecodedBytes < 0 || (info.Width == 0) != (info.Height == 0) {
			t.Fatalf("impossible %+v", info)
		}
		if !ok || info.ContentType == contract.ContentTypeJPEG {
			return // Go's JPEG reader stops at markers Inspect skips (and the reverse)
		}
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil && cfg.Width > 0 && cfg.Height > 0 {
			if cfg.Width != info.Width || cfg.Height != info.Height {
				t.Fatalf("Inspect %dx%d, Go's decoder %dx%d", info.Width, info.Height, cfg.Width, cfg.Height)
			}
		}
	})
}
