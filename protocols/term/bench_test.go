package term

import (
	"bytes"
	"fmt"
	"testing"
)

// Benchmarks of the model's cost per output byte (go test -bench Write).
func BenchmarkWrite(b *testing.B) {
	inputs := []struct {
		name string
		out  []byte
	}{
		{"text", bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\r\n"), 1000)},
		{"colors", bytes.Repeat([]byte("\x1b[1;31mred\x1b[0m \x1b[38;5;100mx\x1b[m\r\n"), 1000)},
		{"clear storm", bytes.Repeat([]byte("\x1b[2Jx"), 10000)},
		{"insert lines storm", bytes.Repeat([]byte("\x1b[99L"), 10000)},
	}
	for _, size := range [][2]int{{80, 24}, {MaxCols, MaxRows}} {
		for _, in := range inputs {
			b.Run(fmt.Sprintf("%s/%dx%d", in.name, size[0], size[1]), func(b *testing.B) {
				s := NewScreen(size[0], size[1])
				b.SetBytes(int64(len(in.out)))
				for b.Loop() {
					s.Write(in.out)
				}
			})
		}
	}
}
