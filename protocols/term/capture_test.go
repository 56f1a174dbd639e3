package term

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// captures are raw outputs of real full-screen programs, recorded under a pty
// by testdata/capture.py (see its doc comment for the exact commands).
var captures = []struct {
	file       string
	cols, rows int
}{
	{"vim.raw", 80, 24},  // vim -u NONE: edit, :split, hlsearch, quit
	{"top.raw", 100, 30}, // top -d 0.4: a few refreshes, per-CPU view, quit
	{"less.raw", 80, 24}, // less -R: page, search, end, start, quit
}

// feed writes b to s in random chunks.
func feed(s *Screen, b []byte, rng *rand.Rand) {
	for len(b) > 0 {
		n := min(len(b), 1+rng.IntN(64))
		s.Write(b[:n])
		b = b[n:]
	}
}

// TestLateViewerOfRealPrograms: at many points of a real program's output, a
// viewer that starts from the screen's snapshot (and then gets the output
// from the snapshot's offset) ends with the same screen as one that saw
// every byte; right after the snapshot it equals the screen too.
func TestLateViewerOfRealPrograms(t *testing.T) {
	for _, c := range captures {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(len(raw)), 1))
			full := NewScreen(c.cols, c.rows)
			feed(full, raw, rng)
			if full.Offset() != uint64(len(raw)) {
				t.Fatalf("Offset() after all output = %d, want %d", full.Offset(), len(raw))
			}
			if full.p.dropped != 0 {
				t.Errorf("%d sequences of a real program dropped for the work budget", full.p.dropped)
			}
			live := NewScreen(c.cols, c.rows)
			sawAlt := false
			for pos := 0; pos < len(raw); {
				n := min(len(raw)-pos, 1+rng.IntN(len(raw)/40+1))
				live.Write(raw[pos : pos+n])
				pos += n
				snap, off := live.Snapshot()
				late := NewScreen(c.cols, c.rows)
				late.Write(snap)
				if d := Diff(live, late); d != "" {
					t.Fatalf("at offset %d: snapshot viewer differs:\n%s", off, d)
				}
				st := late.state()
				sawAlt = sawAlt || st.alt()
				feed(late, raw[off:], rng)
				if d := Diff(full, late); d != "" {
					t.Fatalf("snapshot at offset %d, then the rest: differs from the full viewer:\n%s", off, d)
				}
			}
			if c.file == "vim.raw" && !sawAlt {
				t.Errorf("no snapshot was taken on the alternate screen")
			}
		})
	}
}
