package term

import (
	"strconv"
	"unicode/utf8"

	"github.com/hinshun/vt10x"
)

// maxSnapshot is the largest snapshot a viewer accepts (stream.MaxSnapshot).
// A screen whose attributes would make a larger one is drawn without them.
const maxSnapshot = 4 << 20

// Snapshot returns bytes that repaint the current screen on a terminal in
// any state, and the offset they reflect: a full reset, the content drawn
// row by row with cursor positioning and autowrap off (so that a terminal of
// another size clips instead of wrapping), SGR attributes and colors
// (16/256/truecolor), the primary screen under the alternate one when that
// is active, the saved cursor, tab stops, scroll region, the modes (cursor
// keys, keypad, bracketed paste, mouse, cursor visibility, autowrap, ...),
// the title, the pen and the final cursor position.
func (s *Screen) Snapshot() (data []byte, offset uint64) {
	s.mu.Lock()
	s.flush()
	st := readState(s.vt)
	st.paste = s.p.paste
	offset = s.offset
	s.mu.Unlock()

	data = render(&st, false)
	if len(data) > maxSnapshot {
		data = render(&st, true)
	}
	return data, offset
}

// renderer writes a snapshot, tracking the pen it has set.
type renderer struct {
	b     []byte
	pen   vt10x.Glyph // the attributes set (Char unused)
	plain bool        // draw text only
}

func render(st *state, plain bool) []byte {
	r := &renderer{plain: plain, pen: blank}
	// Reset, then erase explicitly (vt10x's reset erases only part of a
	// wide screen) with autowrap off while drawing.
	r.str("\x1bc\x1b[0m\x1b[H\x1b[2J\x1b[?7l")
	if st.title != "" {
		r.str("\x1b]2;" + st.title + "\x1b\\")
	}
	if st.alt() {
		r.lines(st.hidden)
		r.savedCursor(st, "\x1b[?1049h")
		r.setPen(blank)
		r.str("\x1b[2J")
	} else {
		r.savedCursor(st, "\x1b7")
	}
	r.lines(st.lines)
	r.tabs(st)
	if st.top != 0 || st.bottom != st.rows-1 {
		r.csi('r', st.top+1, st.bottom+1)
	}
	r.modes(st)
	r.cursor(st)
	return r.b
}

func (r *renderer) str(s string) { r.b = append(r.b, s...) }

// csi appends a control sequence with numeric parameters.
func (r *renderer) csi(final byte, args ...int) {
	r.b = append(r.b, 0x1b, '[')
	for i, a := range args {
		if i > 0 {
			r.b = append(r.b, ';')
		}
		r.b = strconv.AppendInt(r.b, int64(a), 10)
	}
	r.b = append(r.b, final)
}

// lines draws a screen's rows: each row that is not blank is positioned,
// then drawn cell by cell up to its last non-blank cell.
func (r *renderer) lines(lines [][]vt10x.Glyph) {
	for y, line := range lines {
		last := len(line) - 1
		for last >= 0 && r.isBlank(line[last]) {
			last--
		}
		if last < 0 {
			continue
		}
		r.csi('H', y+1, 1)
		for x := 0; x <= last; {
			x += r.cells(line[x : last+1])
		}
	}
}

// isBlank reports whether a cell looks like an erased default cell.
func (r *renderer) isBlank(g vt10x.Glyph) bool {
	if r.plain {
		return g.Char == ' '
	}
	g.Mode &^= attrWrap
	return g == blank
}

// cells draws a run of equal cells at the start of line and returns its
// length: blank runs by moving the cursor, erased cells with attributes by
// erasing, the rest by printing.
func (r *renderer) cells(line []vt10x.Glyph) int {
	g := line[0]
	g.Mode &^= attrWrap
	n := 1
	if g.Char == ' ' {
		for n < len(line) && sameCell(line[n], g) {
			n++
		}
	}
	switch {
	case r.isBlank(g) && n >= 4:
		r.csi('C', n)
	case g.Char == ' ' && !r.plain && !drawable(g):
		// Erased with a pen that printing cannot reproduce (bold with a
		// dark color, or reverse): erase with exactly that pen.
		r.setPen(g)
		r.csi('X', n)
		r.csi('C', n)
	default:
		r.setPen(pen(g))
		for range n {
			r.b = utf8.AppendRune(r.b, g.Char)
		}
	}
	return n
}

func sameCell(a, b vt10x.Glyph) bool {
	a.Mode &^= attrWrap
	return a == b
}

// pen returns the attributes that print cell g (vt10x stores a reverse cell
// with its colors swapped).
func pen(g vt10x.Glyph) vt10x.Glyph {
	if g.Mode&attrReverse != 0 {
		g.FG, g.BG = g.BG, g.FG
	}
	return g
}

// drawable reports whether printing g's rune with pen(g) stores exactly g
// (and that pen can be set with SGR).
func drawable(g vt10x.Glyph) bool {
	p := pen(g)
	return expressible(p.FG, vt10x.DefaultFG) && expressible(p.BG, vt10x.DefaultBG) && printed(p, g.Char) == g
}

// expressible reports whether SGR can set color c (def being the default).
func expressible(c, def vt10x.Color) bool { return c < 1<<24 || c == def }

// printed returns the cell vt10x stores when it prints c with pen p.
func printed(p vt10x.Glyph, c rune) vt10x.Glyph {
	g := p
	g.Char = c
	if p.Mode&attrBold != 0 && p.FG < 8 {
		g.FG = p.FG + 8
	}
	if p.Mode&attrReverse != 0 {
		g.FG, g.BG = p.BG, p.FG
	}
	return g
}

// setPen sets the SGR attributes and the G0 character set of p.
func (r *renderer) setPen(p vt10x.Glyph) {
	if r.plain {
		p = blank
	}
	p.Char = ' '
	p.Mode &^= attrWrap
	if p == r.pen {
		return
	}
	if p.Mode&attrGfx != r.pen.Mode&attrGfx {
		if p.Mode&attrGfx != 0 {
			r.str("\x1b(0")
		} else {
			r.str("\x1b(B")
		}
	}
	r.b = append(r.b, 0x1b, '[', '0')
	for _, a := range []struct {
		bit int16
		sgr string
	}{{attrBold, ";1"}, {attrItalic, ";3"}, {attrUnderline, ";4"}, {attrBlink, ";5"}, {attrReverse, ";7"}} {
		if p.Mode&a.bit != 0 {
			r.str(a.sgr)
		}
	}
	r.color(p.FG, 30, 90, "38", vt10x.DefaultFG)
	r.color(p.BG, 40, 100, "48", vt10x.DefaultBG)
	r.b = append(r.b, 'm')
	r.pen = p
}

// color appends the SGR parameters of c: base+c for the 8 ANSI colors,
// bright+c-8 for the next 8, ext;5;c for the 256 palette and ext;2;r;g;b for
// truecolor (vt10x stores it as r<<16|g<<8|b, so values under 256 read as
// the palette, as vt10x itself reads them).
func (r *renderer) color(c vt10x.Color, base, bright int, ext string, def vt10x.Color) {
	switch {
	case c == def || c >= 1<<24:
		return
	case c < 8:
		r.b = strconv.AppendInt(append(r.b, ';'), int64(base)+int64(c), 10)
	case c < 16:
		r.b = strconv.AppendInt(append(r.b, ';'), int64(bright)+int64(c)-8, 10)
	case c < 256:
		r.b = strconv.AppendInt(append(r.b, ";"+ext+";5;"...), int64(c), 10)
	default:
		r.b = append(r.b, ";"+ext+";2;"...)
		r.b = strconv.AppendInt(r.b, int64(c>>16&0xff), 10)
		r.b = strconv.AppendInt(append(r.b, ';'), int64(c>>8&0xff), 10)
		r.b = strconv.AppendInt(append(r.b, ';'), int64(c&0xff), 10)
	}
}

// savedCursor puts the cursor where the saved one is, with its pen and
// origin mode, and saves it with save (DECSC, or the alternate screen
// switch that also saves).
func (r *renderer) savedCursor(st *state, save string) {
	sc := st.saved
	if sc.State&cursorOrigin != 0 {
		r.str("\x1b[?6h")
	}
	r.csi('H', sc.Y+1, sc.X+1)
	r.setPen(sc.Attr)
	r.str(save)
	if sc.State&cursorOrigin != 0 {
		r.str("\x1b[?6l")
	}
}

// tabs sets the tab stops if they are not the default ones.
func (r *renderer) tabs(st *state) {
	if defaultTabs(st.tabs) {
		return
	}
	r.str("\x1b[3g")
	for x, set := range st.tabs {
		if set && x < st.cols {
			r.csi('G', x+1)
			r.str("\x1bH")
		}
	}
}

// modeSeqs are the modes a snapshot restores, with the sequence that sets
// each (a reset leaves them all off but autowrap).
var modeSeqs = []struct {
	mode vt10x.ModeFlag
	set  string
}{
	{vt10x.ModeInsert, "\x1b[4h"},
	{vt10x.ModeKeyboardLock, "\x1b[2h"},
	{vt10x.ModeEcho, "\x1b[12h"},
	{vt10x.ModeCRLF, "\x1b[20h"},
	{vt10x.ModeAppKeypad, "\x1b="},
	{vt10x.ModeAppCursor, "\x1b[?1h"},
	{vt10x.ModeReverse, "\x1b[?5h"},
	{vt10x.ModeHide, "\x1b[?25l"},
	{vt10x.ModeMouseX10, "\x1b[?9h"},
	{vt10x.ModeMouseButton, "\x1b[?1000h"},
	{vt10x.ModeMouseMotion, "\x1b[?1002h"},
	{vt10x.ModeMouseMany, "\x1b[?1003h"},
	{vt10x.ModeFocus, "\x1b[?1004h"},
	{vt10x.ModeMouseSgr, "\x1b[?1006h"},
	{vt10x.Mode8bit, "\x1b[?1034h"},
	{vt10x.ModeWrap, "\x1b[?7h"},
}

// comparedModes are the modes Diff compares: those a snapshot restores.
var comparedModes = func() vt10x.ModeFlag {
	m := vt10x.ModeAltScreen
	for _, s := range modeSeqs {
		m |= s.mode
	}
	return m
}()

func (r *renderer) modes(st *state) {
	for _, m := range modeSeqs {
		if st.mode&m.mode != 0 {
			r.str(m.set)
		}
	}
	if st.paste {
		r.str("\x1b[?2004h")
	}
}

// cursor restores the origin mode, the pen and the cursor position,
// including a pending wrap at the last column.
func (r *renderer) cursor(st *state) {
	c := st.cur
	y := c.Y
	if c.State&cursorOrigin != 0 {
		r.str("\x1b[?6h")
		y -= st.top
	}
	if c.State&cursorWrapNext != 0 && c.Y < len(st.lines) && c.X < st.cols {
		// Print the last cell again: that leaves the wrap pending.
		g := st.lines[c.Y][c.X]
		g.Mode &^= attrWrap
		r.csi('H', y+1, c.X+1)
		p := pen(g)
		r.setPen(p)
		r.b = utf8.AppendRune(r.b, g.Char)
		if !drawable(g) && !r.plain {
			r.setPen(g)
			r.csi('X', 1)
		}
		r.setPen(c.Attr)
		return
	}
	r.setPen(c.Attr)
	r.csi('H', y+1, c.X+1)
}
