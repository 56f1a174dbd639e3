package term

import (
	"reflect"

	"github.com/hinshun/vt10x"
)

// vt10x keeps some of the state a snapshot must restore in unexported
// fields of its State (the hidden screen, the scroll region, the saved
// cursor, the tab stops). We read them with reflect, which can read (never
// write) unexported fields; go.mod pins vt10x, and every test of this package
// fails if the fields move.

// Bits of vt10x's Glyph.Mode and Cursor.State (unexported constants there).
const (
	attrReverse   = 1 << 0
	attrUnderline = 1 << 1
	attrBold      = 1 << 2
	attrGfx       = 1 << 3
	attrItalic    = 1 << 4
	attrBlink     = 1 << 5
	attrWrap      = 1 << 6 // a soft wrap after this cell; not drawn, not compared

	cursorWrapNext = 1 << 1
	cursorOrigin   = 1 << 2
)

// blank is an erased cell with the default attributes.
var blank = vt10x.Glyph{Char: ' ', FG: vt10x.DefaultFG, BG: vt10x.DefaultBG}

// state is a copy of everything a snapshot restores and Diff compares.
type state struct {
	cols, rows  int
	lines       [][]vt10x.Glyph // the visible screen
	hidden      [][]vt10x.Glyph // the primary screen while the alternate one is shown
	cur, saved  vt10x.Cursor
	top, bottom int // the scroll region
	mode        vt10x.ModeFlag
	paste       bool // bracketed paste, tracked by the parser
	tabs        []bool
	title       string
}

func (st *state) alt() bool { return st.mode&vt10x.ModeAltScreen != 0 }

// readState copies t's state. The caller holds the Screen's lock (vt10x's
// own lock is not needed: only the Screen calls t).
func readState(t vt10x.Terminal) state {
	sv := reflect.ValueOf(t).Elem().FieldByName("State").Elem()
	st := state{
		cur:    t.Cursor(),
		mode:   t.Mode(),
		title:  t.Title(),
		saved:  cursorValue(sv.FieldByName("curSaved")),
		top:    int(sv.FieldByName("top").Int()),
		bottom: int(sv.FieldByName("bottom").Int()),
	}
	st.cols, st.rows = t.Size()
	st.lines = make([][]vt10x.Glyph, st.rows)
	for y := range st.lines {
		row := make([]vt10x.Glyph, st.cols)
		for x := range row {
			row[x] = t.Cell(x, y)
		}
		st.lines[y] = row
	}
	if st.alt() {
		st.hidden = linesValue(sv.FieldByName("altLines"), st.cols, st.rows)
	}
	tabs := sv.FieldByName("tabs")
	st.tabs = make([]bool, tabs.Len())
	for i := range st.tabs {
		st.tabs[i] = tabs.Index(i).Bool()
	}
	return st
}

func linesValue(v reflect.Value, cols, rows int) [][]vt10x.Glyph {
	lines := make([][]vt10x.Glyph, rows)
	for y := range lines {
		row := make([]vt10x.Glyph, cols)
		if y < v.Len() {
			rv := v.Index(y)
			for x := range min(cols, rv.Len()) {
				row[x] = glyphValue(rv.Index(x))
			}
		}
		lines[y] = row
	}
	return lines
}

func glyphValue(v reflect.Value) vt10x.Glyph {
	return vt10x.Glyph{
		Char: rune(v.FieldByName("Char").Int()),
		Mode: int16(v.FieldByName("Mode").Int()),
		FG:   vt10x.Color(v.FieldByName("FG").Uint()),
		BG:   vt10x.Color(v.FieldByName("BG").Uint()),
	}
}

func cursorValue(v reflect.Value) vt10x.Cursor {
	return vt10x.Cursor{
		Attr:  glyphValue(v.FieldByName("Attr")),
		X:     int(v.FieldByName("X").Int()),
		Y:     int(v.FieldByName("Y").Int()),
		State: uint8(v.FieldByName("State").Uint()),
	}
}

// defaultTabs reports whether tabs are the stops every 8 columns that a
// reset sets.
func defaultTabs(tabs []bool) bool {
	for i, t := range tabs {
		if t != (i > 0 && i%8 == 0) {
			return false
		}
	}
	return true
}
