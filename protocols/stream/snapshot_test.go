package stream

import (
	"bytes"
	"testing"
)

func TestSplitSnapshot(t *testing.T) {
	for _, n := range []int{0, 1, MaxOutput - 1, MaxOutput, MaxOutput + 1, 3*MaxOutput + 17} {
		data := source(n, uint64(n))
		frames := SplitSnapshot(42, data)
		var joined []byte
		for i, f := range frames {
			if f.Offset != 42 {
				t.Errorf("SplitSnapshot(%d)[%d].Offset = %d, want 42", n, i, f.Offset)
			}
			if f.Final != (i == len(frames)-1) {
				t.Errorf("SplitSnapshot(%d)[%d].Final = %v", n, i, f.Final)
			}
			if _, err := AppendFrame(nil, f); err != nil {
				t.Errorf("AppendFrame(SplitSnapshot(%d)[%d]) error: %v", n, i, err)
			}
			joined = append(joined, f.Data...)
		}
		if !bytes.Equal(joined, data) {
			t.Errorf("SplitSnapshot(%d) joined = %d bytes, want the %d input bytes", n, len(joined), n)
		}
		if want := max(1, (n+MaxOutput-1)/MaxOutput); len(frames) != want {
			t.Errorf("len(SplitSnapshot(%d)) = %d, want %d", n, len(frames), want)
		}
	}
}
