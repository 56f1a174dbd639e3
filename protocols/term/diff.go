package term

import (
	"fmt"
	"strings"

	"github.com/hinshun/vt10x"
)

// maxDiffs bounds the differences Diff lists.
const maxDiffs = 20

// Diff describes how two screens differ ("" when equal): size, every cell
// of the visible screen (rune, attributes, colors; the soft-wrap mark is
// ignored), the primary screen under an active alternate screen, the cursor
// (position, pending wrap, origin mode, pen), the saved cursor, the scroll
// region, the tab stops and the modes a snapshot restores (alternate screen,
// cursor keys, keypad, bracketed paste, mouse, cursor visibility, autowrap,
// ...). Tests compare a viewer that got a snapshot with one that saw every
// byte. The title is not compared (vt10x cannot clear it).
func Diff(a, b *Screen) string {
	sa, sb := a.state(), b.state()
	var d differ
	if sa.cols != sb.cols || sa.rows != sb.rows {
		d.add("size %dx%d != %dx%d", sa.cols, sa.rows, sb.cols, sb.rows)
		return d.String()
	}
	if ma, mb := sa.mode&comparedModes, sb.mode&comparedModes; ma != mb {
		d.add("modes %#x != %#x (differ in %#x)", ma, mb, ma^mb)
	}
	if sa.paste != sb.paste {
		d.add("bracketed paste %v != %v", sa.paste, sb.paste)
	}
	d.cursor("cursor", sa.cur, sb.cur, cursorWrapNext|cursorOrigin)
	d.cursor("saved cursor", sa.saved, sb.saved, cursorOrigin)
	if sa.top != sb.top || sa.bottom != sb.bottom {
		d.add("scroll region [%d,%d] != [%d,%d]", sa.top, sa.bottom, sb.top, sb.bottom)
	}
	if fmt.Sprint(sa.tabs) != fmt.Sprint(sb.tabs) {
		d.add("tab stops differ")
	}
	d.lines("cell", sa.lines, sb.lines)
	if sa.alt() && sb.alt() {
		d.lines("primary screen cell", sa.hidden, sb.hidden)
	}
	return d.String()
}

type differ struct {
	diffs []string
	more  int
}

func (d *differ) add(format string, args ...any) {
	if len(d.diffs) >= maxDiffs {
		d.more++
		return
	}
	d.diffs = append(d.diffs, fmt.Sprintf(format, args...))
}

func (d *differ) String() string {
	if d.more > 0 {
		d.diffs = append(d.diffs, fmt.Sprintf("and %d more", d.more))
	}
	return strings.Join(d.diffs, "\n")
}

func (d *differ) cursor(what string, a, b vt10x.Cursor, state uint8) {
	a.Attr.Char, b.Attr.Char = 0, 0
	a.State &= state
	b.State &= state
	if a != b {
		d.add("%s %s != %s", what, cursorString(a), cursorString(b))
	}
}

func cursorString(c vt10x.Cursor) string {
	return fmt.Sprintf("(%d,%d) state %#x pen %s", c.X, c.Y, c.State, glyphString(c.Attr))
}

func (d *differ) lines(what string, a, b [][]vt10x.Glyph) {
	for y := range a {
		for x := range a[y] {
			ga, gb := a[y][x], b[y][x]
			ga.Mode &^= attrWrap
			gb.Mode &^= attrWrap
			if ga != gb {
				d.add("%s (%d,%d): %s != %s", what, x, y, glyphString(ga), glyphString(gb))
			}
		}
	}
}

func glyphString(g vt10x.Glyph) string {
	return fmt.Sprintf("%q mode %#x fg %#x bg %#x", g.Char, g.Mode, g.FG, g.BG)
}
