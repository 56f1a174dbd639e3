package term

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// tokens are whole units of terminal output: after each one a terminal is
// in its ground state, inside none it is.
var tokens = []string{
	"a", "Z", " ", "\r", "\n", "\t", "\b", "\x00", "\x07", "\x7f",
	"é", "€", "✓", "😀", "\u00a0",
	"\x1b[1;31m", "\x1b[0m", "\x1b[m", "\x1b[38;2;1;2;3m", "\x1b[38:5:100m",
	"\x1b[10;5H", "\x1b[H", "\x1b[2J", "\x1b[K", "\x1b[3A", "\x1b[2;20r", "\x1b[r",
	"\x1b[?1049h", "\x1b[?1049l", "\x1b[?25l", "\x1b[?25h", "\x1b[?2004h", "\x1b[>4;2m", "\x1b[6n",
	"\x1b[ q", "\x1b[!p", "\x1b7", "\x1b8", "\x1bM", "\x1b=", "\x1b>", "\x1b(0", "\x1b(B", "\x1b)0",
	"\x1b]0;title\x07", "\x1b]2;t\x1b\\", "\x1b]10;?\x07", "\x1b]52;c;aGVsbG8=\x07",
	"\x1bPzz\x1b\\", "\x1bP1$r0m\x1b\\", "\x1b_apc\x1b\\", "\x1b^pm\x1b\\", "\x1bXsos\x1b\\",
	"\x1b[1\n2A", // a control inside a sequence is executed; still one unit
	"\xc2\x9b5C", // CSI as a C1 code point
	"\x1b[5b",    // REP
}

// TestOffsetOnBoundaries: however output is cut into writes, Offset is the
// end of the last whole token written, and the snapshot equals that of a
// screen fed exactly the bytes up to Offset in one write.
func TestOffsetOnBoundaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for round := range 20 {
		var out []byte
		ends := map[int]bool{0: true}
		for range 300 {
			out = append(out, tokens[rng.IntN(len(tokens))]...)
			ends[len(out)] = true
		}
		s := NewScreen(40, 12)
		for pos := 0; pos < len(out); {
			n := min(len(out)-pos, 1+rng.IntN(12))
			s.Write(out[pos : pos+n])
			pos += n
			want := pos
			for !ends[want] {
				want--
			}
			if got := s.Offset(); got != uint64(want) {
				t.Fatalf("round %d: after %d bytes Offset() = %d, want %d (the last token end)", round, pos, got, want)
			}
		}
		snap, off := s.Snapshot()
		ref := NewScreen(40, 12)
		ref.Write(out[:off])
		if refSnap, refOff := ref.Snapshot(); refOff != off || !bytes.Equal(refSnap, snap) {
			t.Fatalf("round %d: chunked snapshot at %d differs from a one-write screen's at %d", round, off, refOff)
		}
		if d := Diff(s, ref); d != "" {
			t.Fatalf("round %d: chunked screen differs from a one-write screen:\n%s", round, d)
		}
	}
}

// TestHoldBackIsBounded: an escape sequence that never ends holds Offset
// back at most MaxHoldBack bytes; an incomplete UTF-8 character is held.
func TestHoldBackIsBounded(t *testing.T) {
	for _, start := range []string{"\x1b]2;", "\x1bP", "\x1b[", "\x1b_"} {
		s := NewScreen(80, 24)
		s.Write([]byte("ok"))
		s.Write([]byte(start))
		if got := s.Offset(); got != 2 {
			t.Errorf("%q: Offset() = %d, want 2 (held back)", start, got)
		}
		body := bytes.Repeat([]byte("1"), 3*MaxHoldBack)
		s.Write(body)
		if got, min := s.Offset(), uint64(2+len(start)+len(body)-MaxHoldBack); got < min {
			t.Errorf("%q + %d bytes: Offset() = %d, want >= %d", start, len(body), got, min)
		}
	}
	s := NewScreen(80, 24)
	s.Write([]byte("x\xe2\x82"))
	if got := s.Offset(); got != 1 {
		t.Errorf("Offset() with half a '€' = %d, want 1", got)
	}
	s.Write([]byte("\xac"))
	if got := s.Offset(); got != 4 || !strings.HasPrefix(s.Text(), "x€") {
		t.Errorf("Offset() = %d, Text() = %q, want 4, \"x€\"", got, s.Text())
	}
}

// TestHostileOutput: huge lines, NUL floods, invalid UTF-8, escape storms
// and parameter bombs do not panic or hang, and keep Offset moving.
func TestHostileOutput(t *testing.T) {
	const mib = 1 << 20
	rng := rand.New(rand.NewPCG(4, 4))
	random := make([]byte, mib)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name string
		out  []byte
	}{
		{"1 MiB line", bytes.Repeat([]byte("x"), mib)},
		{"NUL flood", make([]byte, mib)},
		{"invalid UTF-8", bytes.Repeat([]byte("\xff\xc3\x28\xe2\x82\xf0\x9f\x98"), mib/8)},
		// Storms cost the most per byte (about 1 µs, 10 with -race): 256 KiB.
		{"escape storm", bytes.Repeat([]byte("\x1b[31m\x1b[2J\x1b[H\x1b[?1049h\x1b[?1049l\x1b]2;t\x07\x1b[5;5r\x1bM"), mib/4/50)},
		{"clear storm", bytes.Repeat([]byte("\x1b[2J"), mib/4/4)},
		{"parameter bombs", bytes.Repeat([]byte("\x1b[9999999999999@\x1b[999999I\x1b[65535;65535H\x1b[99999L\x1b[99999M\x1b[99999P\x1b[99999X\x1b[99999S"), mib/4/80)},
		{"REP storm", append([]byte("a"), bytes.Repeat([]byte("\x1b[65535b"), mib/8)...)},
		{"CSI of digits", append([]byte("\x1b["), bytes.Repeat([]byte("1;"), mib/2)...)},
		{"random", random},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewScreen(80, 24)
			for p := tt.out; len(p) > 0; {
				n := min(len(p), 1+rng.IntN(64<<10))
				if k, err := s.Write(p[:n]); k != n || err != nil {
					t.Fatalf("Write() = %d, %v, want %d, nil", k, err, n)
				}
				p = p[n:]
			}
			if got, min := s.Offset(), uint64(len(tt.out)-MaxHoldBack-4); got < min {
				t.Errorf("Offset() = %d, want >= %d", got, min)
			}
			snap, _ := s.Snapshot()
			if len(snap) > maxSnapshot {
				t.Errorf("snapshot of %d bytes, over %d", len(snap), maxSnapshot)
			}
			b := NewScreen(80, 24)
			b.Write(snap)
			if d := Diff(s, b); d != "" {
				t.Errorf("snapshot viewer differs:\n%s", d)
			}
			if s.panics != 0 {
				t.Errorf("vt10x panicked %d times", s.panics)
			}
			if tt.name == "clear storm" && s.p.dropped == 0 {
				t.Errorf("no erase of the storm was dropped for the work budget")
			}
		})
	}
}

// TestResize: sizes are clamped, content survives, and snapshots restore
// resized screens.
func TestResize(t *testing.T) {
	s := NewScreen(0, 100000)
	if st := s.state(); st.cols != 1 || st.rows != MaxRows {
		t.Errorf("NewScreen(0, 100000) is %dx%d, want 1x%d", st.cols, st.rows, MaxRows)
	}
	s = newScreen("\x1b[?1049hhello\x1b[5;10r\x1b[2;3Hx")
	for _, size := range [][2]int{{120, 40}, {20, 5}, {65535, 65535}, {80, 24}} {
		s.Resize(size[0], size[1])
		snap, _ := s.Snapshot()
		st := s.state()
		b := NewScreen(st.cols, st.rows)
		b.Write(snap)
		if d := Diff(s, b); d != "" {
			t.Errorf("after Resize(%d, %d): snapshot viewer differs:\n%s", size[0], size[1], d)
		}
	}
	if !strings.HasPrefix(s.Text(), "hello") {
		t.Errorf("Text() after resizes = %q, want it to start with hello", s.Text())
	}
}

// TestConcurrentUse: writes, resizes, snapshots and diffs from several
// goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	s := NewScreen(80, 24)
	other := NewScreen(80, 24)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				switch (g + i) % 4 {
				case 0:
					s.Write([]byte(tokens[i%len(tokens)]))
				case 1:
					s.Resize(60+i%40, 20+i%10)
				case 2:
					s.Snapshot()
				case 3:
					Diff(s, other)
					Diff(other, s)
				}
			}
		}()
	}
	wg.Wait()
}
