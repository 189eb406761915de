package hub

import (
	"math"
	"testing"

	"github.com/webcamhub/webcamhub/contract"
)

// The hub's answers encoded once and filled in with a seq are what
// json.Marshal makes of the contract's types, for every error code and
// dropped reason.
func TestSeqAnswersAreTheContractEncoding(t *testing.T) {
	seqs := []int64{0, 1, 9, 10, 123456789012, math.MaxInt64}
	for _, row := range contract.ErrorCodes {
		for _, seq := range seqs {
			want := string(mustJSON(contract.Error{Type: contract.TypeError, Seq: seq, Code: row.Code, Message: row.Message}))
			if got := string(encodeError(seq, row.Code)); got != want {
				t.Errorf("encodeError(%d, %s) = %s, want %s", seq, row.Code, got, want)
			}
		}
	}
	for _, seq := range seqs[1:] {
		want := string(mustJSON(contract.Error{Type: contract.TypeError, Seq: seq, Code: contract.CodeRateLimited, Message: mustLookup(t, contract.CodeRateLimited)}))
		if got := string(encodeRateLimited(seq)); got != want {
			t.Errorf("encodeRateLimited(%d) = %s, want %s", seq, got, want)
		}
	}
	for _, reason := range append(contract.DroppedReasons[:len(contract.DroppedReasons):len(contract.DroppedReasons)], "not-a-reason") {
		for _, seq := range seqs {
			want := string(mustJSON(contract.Dropped{Type: contract.TypeDropped, Seq: seq, Reason: reason}))
			if got := string(encodeDropped(seq, reason)); got != want {
				t.Errorf("encodeDropped(%d, %s) = %s, want %s", seq, reason, got, want)
			}
		}
	}
	// A code the contract does not have is answered internal.
	internal := string(mustJSON(contract.Error{Type: contract.TypeError, Seq: 3, Code: contract.CodeInternal, Message: mustLookup(t, contract.CodeInternal)}))
	if got := string(encodeError(3, "no-such-code")); got != internal {
		t.Errorf("encodeError(3, no-such-code) = %s, want %s", got, internal)
	}
}

func mustLookup(t *testing.T, code string) string {
	t.Helper()
	row, ok := contract.LookupError(code)
	if !ok {
		t.Fatalf("no contract row for %s", code)
	}
	return row.Message
}
