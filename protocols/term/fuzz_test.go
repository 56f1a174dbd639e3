package term

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzScreen feeds arbitrary output to a screen, whole and in chunks, and
// checks: no panic (vt10x's included: Write contains them, so a contained
// one fails here too), the same state and Offset however the output is cut,
// Offset on a boundary no further than MaxHoldBack (+ a partial character)
// behind, and a snapshot that restores the screen exactly.
func FuzzScreen(f *testing.F) {
	for _, sc := range scenes {
		f.Add([]byte(sc.out), uint8(7), uint16(0))
	}
	for _, tok := range tokens {
		f.Add([]byte(tok), uint8(1), uint16(0x2010))
	}
	for _, c := range captures {
		raw, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw[:min(len(raw), 2000)], uint8(13), uint16(c.cols)<<8|uint16(c.rows))
	}
	f.Add([]byte("\x1b[?1049h\x1b[5;10r\x1b[?6h\x1b7\x1b[7;1mx\x1b[?2004h"), uint8(3), uint16(0x0503))
	f.Fuzz(func(t *testing.T, out []byte, chunk uint8, size uint16) {
		cols, rows := 1+int(size>>8)%200, 1+int(size&0xff)%80
		whole := NewScreen(cols, rows)
		whole.Write(out)
		cut := NewScreen(cols, rows)
		step := 1 + int(chunk)
		for p := out; len(p) > 0; {
			n := min(len(p), step)
			cut.Write(p[:n])
			p = p[n:]
		}
		if whole.panics != 0 || cut.panics != 0 {
			t.Fatalf("vt10x panicked on %q", out)
		}
		if whole.Offset() != cut.Offset() {
			t.Fatalf("Offset() = %d whole, %d in chunks of %d", whole.Offset(), cut.Offset(), step)
		}
		if d := Diff(whole, cut); d != "" {
			t.Fatalf("chunks of %d differ from one write:\n%s", step, d)
		}
		off := whole.Offset()
		if off > uint64(len(out)) || uint64(len(out))-off > MaxHoldBack+3 {
			t.Fatalf("Offset() = %d after %d bytes", off, len(out))
		}
		// The model reflects exactly the bytes before Offset: a screen fed
		// only those is the same (and holds back at most the bytes of what
		// may be a character: an invalid one shows only with the next byte).
		prefix := NewScreen(cols, rows)
		prefix.Write(out[:off])
		if prefix.Offset()+utf8.UTFMax-1 < off {
			t.Fatalf("a screen fed the %d bytes before Offset has Offset() = %d", off, prefix.Offset())
		}
		if d := Diff(whole, prefix); d != "" {
			t.Fatalf("a screen fed the %d bytes before Offset differs:\n%s", off, d)
		}
		snap, snapOff := whole.Snapshot()
		if snapOff != off {
			t.Fatalf("Snapshot() offset = %d, Offset() = %d", snapOff, off)
		}
		restored := NewScreen(cols, rows)
		restored.Write(snap)
		if d := Diff(whole, restored); d != "" {
			t.Fatalf("snapshot viewer differs:\n%s\nsnapshot %q", d, snap)
		}
		if again, _ := restored.Snapshot(); !bytes.Equal(again, snap) {
			t.Fatalf("snapshot of the restored screen differs:\n%q\n%q", again, snap)
		}
	})
}
