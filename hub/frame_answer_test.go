package hub

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/webcamhub/webcamhub/contract"
)

// replyHead.decode reads what json.Unmarshal would, and refuses what it
// would refuse.
func TestReplyHeadDecode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
		want  replyHead // zero with wantErr
		err   bool
	}{
		{name: "worker result", reply: string(benchReply),
			want: replyHead{Type: contract.TypeResult, Seq: 41, Timing: contract.Timing{DecodeMs: 1.873, DecodeCPUMs: 1.62, InferMs: 11.42, Batch: 4}}},
		{name: "worker error", reply: `{"type":"error","seq":7,"code":"bad_image","message":"cannot decode \"x\" \u00e9"}`,
			want: replyHead{Type: contract.TypeError, Seq: 7, Code: contract.CodeBadImage, Message: `cannot decode "x" é`}},
		{name: "escaped type", reply: `{"type":"r\u0065sult","seq":-3}`, want: replyHead{Type: contract.TypeResult, Seq: -3}},
		{name: "nested names are not the head's",
			reply: `{"predictions":[{"seq":9,"type":"x"}],"extra":{"seq":8,"timing":{"decode_ms":5}},"seq":2,"type":"result"}`,
			want:  replyHead{Type: contract.TypeResult, Seq: 2}},
		{name: "nulls leave fields", reply: `{"type":null,"seq":null,"timing":null,"code":null}`},
		{name: "last of repeated keys", reply: `{"seq":1,"seq":5}`, want: replyHead{Seq: 5}},
		{name: "whitespace", reply: " {\n\t\"seq\" : 12 ,\"timing\":{ \"decode_ms\" : 2.5e0 } }\n", want: replyHead{Seq: 12, Timing: contract.Timing{DecodeMs: 2.5}}},
		{name: "seq a string", reply: `{"type":"result","seq":"41"}`, err: true},
		{name: "seq a fraction", reply: `{"type":"result","seq":4.5}`, err: true},
		{name: "seq overflows", reply: `{"seq":9223372036854775808}`, err: true},
		{name: "type a number", reply: `{"type":1}`, err: true},
		{name: "timing not an object", reply: `{"timing":[1]}`, err: true},
		{name: "decode_ms a string", reply: `{"timing":{"decode_ms":"1"}}`, err: true},
		{name: "decode_cpu_ms a string", reply: `{"timing":{"decode_cpu_ms":"1"}}`, err: true},
		{name: "batch a fraction", reply: `{"timing":{"batch":1.5}}`, err: true},
		{name: "not JSON", reply: `{"type":"result","seq":1`, err: true},
		{name: "garbage after", reply: `{"type":"result"} x`, err: true},
		{name: "an array", reply: `[{"type":"result"}]`, err: true},
		{name: "empty", reply: ``, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got replyHead
			err := got.decode([]byte(tc.reply))
			if (err != nil) != tc.err {
				t.Fatalf("decode(%s): err %v, want error %v", tc.reply, err, tc.err)
			}
			if !tc.err && got != tc.want {
				t.Fatalf("decode(%s) = %+v, want %+v", tc.reply, got, tc.want)
			}
			var std replyHead
			if stdErr := json.Unmarshal([]byte(tc.reply), &std); (stdErr != nil) != tc.err || (!tc.err && std != got) {
				t.Fatalf("json.Unmarshal(%s) = %+v, %v; decode %+v, %v", tc.reply, std, stdErr, got, err)
			}
		})
	}
}

// FuzzReplyHeadDecode: on any reply, replyHead.decode agrees with
// json.Unmarshal, for replies whose names of the head's fields are spelled
// as the contract spells them (json.Unmarshal also takes "Seq" or "SEQ").
func FuzzReplyHeadDecode(f *testing.F) {
	for _, seed := range []string{
		string(benchReply), `{"type":"error","seq":7,"code":"timeout","message":"a\u00e9\ud83d\ude00"}`,
		`{"type":"result","seq":"1"}`, `{"timing":{"decode_ms":1e400}}`, `{"Seq":3}`, `{"s\u0065q":4}`,
		`{"seq":1,"seq":null}`, `{"timing":{"batch":-0}}`, `{"message":"\ud800"}`, `[]`, `null`, `{`, `{"a":[{"seq":1}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		var got replyHead
		err := got.decode(reply)
		if !utf8.Valid(reply) || foldedName(reply) {
			return // no panic is all that is asked of these
		}
		var std replyHead
		stdErr := json.Unmarshal(reply, &std)
		if stdErr == nil && !isObject(reply) {
			return // null: json.Unmarshal leaves the head zero, decode refuses it; both end in checkReply's error
		}
		if (err == nil) != (stdErr == nil) || (err == nil && got != std) {
			t.Fatalf("%q: decode %+v, %v; json.Unmarshal %+v, %v", reply, got, err, std, stdErr)
		}
	})
}

// foldedName reports whether reply (valid JSON or not) has an object key
// that json.Unmarshal would take for a field of replyHead or contract.Timing
// without being its exact name.
func foldedName(reply []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(reply))
	names := []string{"type", "seq", "code", "message", "timing", "decode_ms", "decode_cpu_ms", "infer_ms", "batch"}
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		key, ok := tok.(string)
		if !ok {
			continue
		}
		for _, n := range names {
			if key != n && strings.EqualFold(key, n) {
				return true
			}
		}
	}
}

func isObject(reply []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(reply, " \t\r\n"), []byte("{"))
}
