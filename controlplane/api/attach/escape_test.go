package attach

import (
	"bytes"
	"testing"
)

func TestEscaper(t *testing.T) {
	tests := []struct {
		name         string
		in           []string // successive reads
		out          string
		detach, help bool
	}{
		{"plain", []string{"ls -l\r"}, "ls -l\r", false, false},
		{"detach at start", []string{"~."}, "", true, false},
		{"detach after enter", []string{"echo hi\r~.junk"}, "echo hi\r", true, false},
		{"detach after newline (pipe)", []string{"echo hi\n~.\n"}, "echo hi\n", true, false},
		{"detach split across reads", []string{"x\r~", "."}, "x\r", true, false},
		{"mid-line tilde is literal", []string{"ls ~.", "\r"}, "ls ~.\r", false, false},
		{"double escape sends one", []string{"~~."}, "~.", false, false},
		{"after double escape not a line start", []string{"~~", "~."}, "~~.", false, false},
		{"unknown command passes both", []string{"~/bin\r"}, "~/bin\r", false, false},
		{"escape then enter", []string{"~\r~."}, "~\r", true, false},
		{"help", []string{"~?~."}, "", true, true},
		{"help mid stream", []string{"a\r~?b"}, "a\rb", false, true},
		{"held escape waits", []string{"~"}, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEscaper(DefaultEscape, false)
			var out bytes.Buffer
			var detach, help bool
			for _, in := range tt.in {
				r := e.feed([]byte(in))
				out.Write(r.out)
				help = help || r.help
				if r.detach {
					detach = true
					break
				}
			}
			if out.String() != tt.out || detach != tt.detach || help != tt.help {
				t.Errorf("feed(%q) = %q, detach %v, help %v; want %q, %v, %v",
					tt.in, out.String(), detach, help, tt.out, tt.detach, tt.help)
			}
		})
	}
}

func TestEscaperDisabled(t *testing.T) {
	e := newEscaper(DefaultEscape, true)
	r := e.feed([]byte("~.~?"))
	if string(r.out) != "~.~?" || r.detach || r.help {
		t.Errorf("disabled feed = %+v, want every key passed", r)
	}
}

// FuzzEscaper: the result never depends on how the keystrokes were split
// into reads, and without escape characters every key passes unchanged.
func FuzzEscaper(f *testing.F) {
	for _, s := range []string{"", "~.", "a\r~.b", "~~~", "x\n~?~.", "\r\r~\r~~", "~"} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		whole := newEscaper(DefaultEscape, false).feed(in)
		e := newEscaper(DefaultEscape, false)
		var parts escapeResult
		for rest := in; len(rest) > 0; {
			n := min(int(split)%8+1, len(rest))
			r := e.feed(rest[:n])
			parts.out = append(parts.out, r.out...)
			parts.help = parts.help || r.help
			if r.detach {
				parts.detach = true
				break
			}
			rest = rest[n:]
		}
		if !bytes.Equal(whole.out, parts.out) || whole.detach != parts.detach || whole.help != parts.help {
			t.Fatalf("whole %+v != split %+v", whole, parts)
		}
		if !bytes.Contains(in, []byte{DefaultEscape}) && !bytes.Equal(whole.out, in) {
			t.Fatalf("no escape character, but out %q != in %q", whole.out, in)
		}
	})
}
