package term

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// scenes are output sequences that exercise what a snapshot must restore.
var scenes = []struct {
	name string
	out  string
}{
	{"text", "hello\r\nworld\r\n$ "},
	{"colors", "\x1b[1;31mbold red\x1b[0m \x1b[4;38;5;202munder 202\x1b[0m \x1b[38;2;10;200;30;48;2;1;2;3mtrue\x1b[7m rev \x1b[27;1;7;33;44mall\x1b[m\r\n\x1b[3;5;93;104mitalic blink bright\x1b[0m"},
	{"erase with colors", "\x1b[44mblue bg\x1b[K\r\n\x1b[1;32m\x1b[2K\x1b[7mrev\x1b[X\x1b[0m\x1b[5;10H\x1b[41m\x1b[1J\x1b[0m"},
	{"line drawing", "\x1b(0lqqk\r\nx  x\r\nmqqj\x1b(B done \x1b(0"},
	{"alt screen", "primary line 1\r\nprimary line 2\x1b[1;33m\x1b7\x1b[?1049h\x1b[H\x1b[2Jfull screen\x1b[10;5Hmiddle\x1b[0m"},
	{"alt screen left", "before\x1b[?1049h\x1b[2Jinside\x1b[?1049lafter"},
	{"scroll region", "\x1b[2;6r\x1b[6;1Hline a\nline b\nline c\nline d\nline e\nline f\nline g\x1b[3;1H\x1bM\x1bM\x1bMx\x1b[2L\x1b[1M"},
	{"origin mode", "\x1b[5;15r\x1b[?6h\x1b[2;3Hin region\x1b[?25l"},
	{"modes", "\x1b[?1h\x1b=\x1b[?2004h\x1b[?1000h\x1b[?1006h\x1b[4h\x1b[?7l\x1b[20h"},
	{"pending wrap", strings.Repeat("w", 80)},
	{"pending wrap reverse", "\x1b[7;1m" + strings.Repeat("r", 80)},
	{"soft wrap", strings.Repeat("abcdefghij", 17) + "\r\n"},
	{"tabs", "\x1b[3g\x1b[5G\x1bH\x1b[30G\x1bH\r\ta\tb"},
	{"insert delete", "0123456789\x1b[1;3H\x1b[3@\x1b[1;8H\x1b[2P\x1b[2;1Habc\x1b[2;1H\x1b[5X"},
	{"scrolling", func() string {
		var b strings.Builder
		for i := range 100 {
			fmt.Fprintf(&b, "\x1b[3%dmline %d\x1b[0m\r\n", i%8, i)
		}
		return b.String()
	}()},
	{"title", "\x1b]0;my title\x07\x1b]2;other\x1b\\text"},
	{"unicode", "héllo wörld → ✓ ☃\r\n\x1b[31m€uro\x1b[0m"},
	{"bold dark erase", "\x1b[1;34m\x1b[2J\x1b[0mx"},
	{"saved cursor", "\x1b[3;7H\x1b[35m\x1b7\x1b[0m\x1b[10;1Hhere"},
	{"rep", "ab\x1b[5b\r\n=\x1b[20b"},
	{"colon sgr", "\x1b[38:2::255:128:0mor\x1b[4:3mcurly\x1b[4:0m\x1b[48:5:22mbg\x1b[0m"},
}

func newScreen(out string) *Screen {
	s := NewScreen(80, 24)
	s.Write([]byte(out))
	return s
}

// TestSnapshotRestores: a screen fed only another's snapshot equals it,
// starting fresh or from a dirty state.
func TestSnapshotRestores(t *testing.T) {
	dirty := "\x1b[?1049h\x1b[41mjunk\x1b[5;10r\x1b[?6h\x1b[?1h\x1b[?25l\x1b(0qqq\x1b[?2004h\x1b[3g" + strings.Repeat("\x1b[7mX", 300)
	for _, sc := range scenes {
		t.Run(sc.name, func(t *testing.T) {
			a := newScreen(sc.out)
			snap, off := a.Snapshot()
			if off != uint64(len(sc.out)) {
				t.Errorf("Snapshot() offset = %d, want %d", off, len(sc.out))
			}
			for _, start := range []string{"", dirty} {
				b := newScreen(start)
				b.Write(snap)
				if d := Diff(a, b); d != "" {
					t.Errorf("after snapshot (start %q): Diff() =\n%s\nsnapshot %q", start, d, snap)
				}
			}
			// A snapshot of the restored screen is the same again.
			b := newScreen("")
			b.Write(snap)
			if again, _ := b.Snapshot(); !bytes.Equal(again, snap) {
				t.Errorf("snapshot of the restored screen differs:\n%q\n%q", again, snap)
			}
		})
	}
}

// TestDiffSeesDifferences: Diff reports each kind of difference.
func TestDiffSeesDifferences(t *testing.T) {
	tests := []struct{ name, a, b, want string }{
		{"text", "abc", "abd", "cell (2,0)"},
		{"color", "\x1b[31mx", "\x1b[32mx", "cell (0,0)"},
		{"cursor", "ab", "a", "cursor"},
		{"alt", "\x1b[?1049h", "", "modes"},
		{"paste", "\x1b[?2004h", "", "bracketed paste"},
		{"scroll", "\x1b[2;5r", "", "scroll region"},
		{"primary under alt", "a\x1b[?1049h", "b\x1b[?1049h", "primary screen cell (0,0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newScreen(tt.a), newScreen(tt.b)
			if d := Diff(a, b); !strings.Contains(d, tt.want) {
				t.Errorf("Diff() = %q, want it to mention %q", d, tt.want)
			}
		})
	}
	if d := Diff(NewScreen(80, 24), NewScreen(81, 24)); !strings.Contains(d, "size") {
		t.Errorf("Diff(80x24, 81x24) = %q, want a size difference", d)
	}
	if d := Diff(newScreen("same"), newScreen("same")); d != "" {
		t.Errorf("Diff(equal screens) = %q, want \"\"", d)
	}
}

func TestText(t *testing.T) {
	s := NewScreen(10, 3)
	s.Write([]byte("ab  \r\n\x1b[31mc d\x1b[0m"))
	if got, want := s.Text(), "ab\nc d\n"; got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
}
