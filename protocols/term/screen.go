// Package term models the screen that a terminal session's output draws, so
// that a viewer attaching late gets a clean snapshot of the current screen
// instead of a raw replay. The model is github.com/hinshun/vt10x, fed through
// a boundary tracker of our own (parser.go) that hands it only whole escape
// sequences and characters, in forms it handles correctly.
//
// It imports only the standard library and vt10x; it must never import the
// agent, the engine or a transport.
package term

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hinshun/vt10x"
)

// Size limits: a Screen's size is clamped to [1, MaxCols] x [1, MaxRows],
// which bounds its memory (two screens of cells) and its snapshot.
const (
	MaxCols = 512
	MaxRows = 256
)

// MaxHoldBack is how many bytes of an unfinished escape sequence Write holds
// back before it advances Offset anyway.
const MaxHoldBack = 4 << 10

// Screen models the terminal a session's output draws, so a late viewer gets
// a clean snapshot. It is safe for concurrent use.
type Screen struct {
	mu sync.Mutex
	// guarded by mu
	vt       vt10x.Terminal
	p        parser
	carry    []byte // an incomplete trailing UTF-8 character
	offset   uint64 // bytes the model reflects
	consumed uint64 // bytes the parser has seen (offset <= consumed)
	fed      int    // bytes of p.out already in the model's state at offset
	panics   int    // vt10x panics contained (the model was reset)
}

// NewScreen returns an empty screen of cols x rows cells (clamped to
// [1, MaxCols] x [1, MaxRows]).
func NewScreen(cols, rows int) *Screen {
	cols, rows = clampSize(cols, rows)
	s := &Screen{vt: vt10x.New(vt10x.WithSize(cols, rows))}
	s.p.resize(cols, rows)
	s.p.budget = s.p.maxBudget()
	return s
}

func clampSize(cols, rows int) (int, int) {
	return min(max(cols, 1), MaxCols), min(max(rows, 1), MaxRows)
}

// Write feeds output bytes (in order). It holds back an incomplete trailing
// escape sequence or UTF-8 character (up to MaxHoldBack bytes; beyond that
// it feeds it anyway) so the model's state always sits on a boundary where a
// viewer can start: Offset counts the bytes the model reflects. Write never
// fails and always returns len(p).
func (s *Screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	// Finish a character cut by the previous Write (the carry is at most
	// 3 bytes; an invalid one is consumed a byte at a time).
	for len(s.carry) > 0 {
		buf := append(s.carry[:len(s.carry):len(s.carry)], p[:min(len(p), utf8.UTFMax)]...)
		if !utf8.FullRune(buf) {
			s.carry = buf
			return n, nil
		}
		r, size := utf8.DecodeRune(buf)
		s.step(r, size)
		if size <= len(s.carry) {
			s.carry = s.carry[size:]
			continue
		}
		p = p[size-len(s.carry):]
		s.carry = nil
	}
	i := 0
	for i < len(p) && utf8.FullRune(p[i:]) {
		r, size := utf8.DecodeRune(p[i:])
		s.step(r, size)
		i += size
	}
	s.carry = append([]byte(nil), p[i:]...)
	s.flush()
	return n, nil
}

// step runs the parser over one character of size bytes and records a
// boundary (or a forced one after MaxHoldBack bytes).
func (s *Screen) step(r rune, size int) {
	s.p.credit(size)
	s.p.step(r, r == utf8.RuneError && size == 1)
	s.consumed += uint64(size)
	if s.p.ground() || s.consumed-s.offset > MaxHoldBack {
		s.offset = s.consumed
		s.fed = len(s.p.out)
		if s.fed >= 64<<10 {
			s.flush()
		}
	}
}

// flush feeds the model the sanitized bytes up to the last boundary,
// containing a vt10x panic by resetting the model.
func (s *Screen) flush() {
	if s.fed == 0 {
		return
	}
	out := s.p.out[:s.fed]
	s.safely(func() { s.vt.Write(out) })
	rest := copy(s.p.out, s.p.out[s.fed:])
	s.p.out = s.p.out[:rest]
	s.fed = 0
}

// safely runs f on the model; if vt10x panics (hostile input it mishandles)
// the model restarts empty, so later output still draws.
func (s *Screen) safely(f func()) {
	defer func() {
		if recover() != nil {
			s.panics++
			s.vt = vt10x.New(vt10x.WithSize(s.p.cols, s.p.rows))
			s.p.alt = false
		}
	}()
	f()
}

// Resize changes the screen's size (clamped like NewScreen's). Cells keep
// their positions; vt10x does not reflow lines.
func (s *Screen) Resize(cols, rows int) {
	cols, rows = clampSize(cols, rows)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flush()
	s.p.resize(cols, rows)
	s.safely(func() { s.vt.Resize(cols, rows) })
}

// Offset returns how many output bytes the model reflects.
func (s *Screen) Offset() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset
}

// Text returns the visible rows joined by \n, trailing spaces trimmed (for
// tests and debugging).
func (s *Screen) Text() string {
	st := s.state()
	rows := make([]string, len(st.lines))
	for y, line := range st.lines {
		var b strings.Builder
		for _, g := range line {
			b.WriteRune(g.Char)
		}
		rows[y] = strings.TrimRight(b.String(), " ")
	}
	return strings.Join(rows, "\n")
}

// state copies the model's state.
func (s *Screen) state() state {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flush()
	st := readState(s.vt)
	st.paste = s.p.paste
	return st
}
