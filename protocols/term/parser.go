package term

import (
	"strconv"
	"unicode/utf8"
)

// The boundary tracker: a small ECMA-48 / DEC (vt100.net) parser of our own,
// written for this package. It follows the session's output rune by rune
// (decoded like vt10x decodes them) and reports when it is in the ground
// state: there, a viewer's terminal is in ground state too and can start
// reading. It also hands vt10x a sanitized copy of the stream: whole
// sequences only, in canonical forms that vt10x handles correctly, with the
// sequences it mishandles (private CSI, charset designations it would print,
// strings it would keep) dropped, and parameters clamped so that no sequence
// costs more than a bounded amount of work.

// pstate is a state of the parser.
type pstate uint8

const (
	stGround    pstate = iota
	stEscape           // after ESC, collecting intermediates
	stCSI              // collecting a control sequence
	stCSIIgnore        // a malformed or overlong control sequence, up to its final byte
	stOSC              // an operating system command string
	stString           // DCS, SOS, PM or APC: ignored up to ST
	stStringEsc        // ESC inside a string: ST if '\' follows
)

// Parser limits.
const (
	maxCSI      = 256  // bytes of a control sequence's parameters
	maxOSC      = 1024 // runes of an OSC string kept (the title)
	maxTitle    = 256  // runes of a title passed on
	maxParam    = 9999 // largest numeric parameter passed on
	maxInterESC = 2    // intermediates of an escape sequence
)

// parser tracks the output's escape-sequence state and writes the sanitized
// stream to out.
type parser struct {
	state pstate
	inter []byte // ESC or CSI intermediates
	prv   byte   // CSI private marker, 0 if none
	param []byte // CSI parameter bytes
	osc   []rune // OSC string
	isOSC bool   // the string being read (stStringEsc) is an OSC
	last  rune   // the last graphic rune printed, for REP; 0 after anything else
	cols  int    // the screen's size, for costs
	rows  int

	// budget is the work (in cell writes) the model may still do on
	// sequences whose cost grows with the screen's area; output earns
	// creditPerByte per byte, up to burstScreens screens' worth. A storm
	// of such sequences beyond it is dropped: the model of a hostile
	// stream goes wrong instead of costing unbounded CPU.
	budget  int
	dropped int // sequences dropped for the budget

	// Modes vt10x does not track: the alternate screen (so that switches
	// vt10x would get wrong are dropped) and bracketed paste.
	alt   bool
	paste bool

	out []byte // sanitized bytes for vt10x
}

// Work budget for area-sized sequences (see parser.budget).
const (
	creditPerByte = 256
	burstScreens  = 4
)

// resize sets the screen size the costs are computed for.
func (p *parser) resize(cols, rows int) {
	p.cols, p.rows = cols, rows
	p.budget = min(p.budget, p.maxBudget())
}

func (p *parser) maxBudget() int { return burstScreens*p.cols*p.rows + 64<<10 }

// credit earns budget for n bytes of output.
func (p *parser) credit(n int) {
	p.budget = min(p.budget+n*creditPerByte, p.maxBudget())
}

// afford spends cost from the budget, or reports that the sequence must be
// dropped.
func (p *parser) afford(cost int) bool {
	if cost > p.budget {
		p.dropped++
		return false
	}
	p.budget -= cost
	return true
}

// area is the cost of a sequence that may rewrite the whole screen.
func (p *parser) area() int { return p.cols * p.rows }

// lines is the cost of inserting, deleting or scrolling n lines.
func (p *parser) lines(n int) int { return min(n, p.rows)*p.cols + p.rows }

// ground reports whether the parser sits on a boundary.
func (p *parser) ground() bool { return p.state == stGround }

// step advances the parser by one rune (utf8.RuneError with size 1 for an
// invalid byte).
func (p *parser) step(r rune, invalid bool) {
	if invalid {
		// vt10x skips invalid bytes; terminals print U+FFFD. Neither
		// changes the escape-sequence state except in ground.
		if p.state == stGround {
			p.last = 0
		}
		return
	}
	switch r {
	case 0x18, 0x1a: // CAN, SUB abort any sequence
		p.abort()
		return
	case 0x1b:
		switch p.state {
		case stOSC, stString:
			p.state = stStringEsc // isOSC says which
			return
		case stStringEsc:
			p.endString()
		}
		p.enterEscape()
		return
	}
	if r >= 0x80 && r <= 0x9f && p.state != stOSC && p.state != stString {
		p.c1(r)
		return
	}
	switch p.state {
	case stGround:
		p.groundRune(r)
	case stEscape:
		p.escapeRune(r)
	case stCSI, stCSIIgnore:
		p.csiRune(r)
	case stOSC:
		p.oscRune(r)
	case stString:
		if r == 0x9c { // ST
			p.state = stGround
		}
	case stStringEsc:
		p.endString()
		if r == '\\' {
			p.state = stGround
			return
		}
		// ESC followed by anything else: the string ended, and the ESC
		// starts a new sequence.
		p.enterEscape()
		p.escapeRune(r)
	}
}

func (p *parser) abort() {
	p.state = stGround
	p.last = 0
}

func (p *parser) enterEscape() {
	p.state = stEscape
	p.inter = p.inter[:0]
}

// c1 handles an 8-bit control written as a code point (U+0080..U+009F): the
// string and sequence introducers act like their 7-bit forms; the rest are
// dropped.
func (p *parser) c1(r rune) {
	switch r {
	case 0x9b:
		p.enterCSI()
	case 0x9d:
		p.enterOSC()
	case 0x90, 0x98, 0x9e, 0x9f:
		p.state = stString
	case 0x9c:
		p.endString()
		p.state = stGround
	default:
		p.state = stGround
	}
	p.last = 0
}

// groundRune prints graphic runes and executes the C0 controls vt10x
// handles (BS, HT, LF, VT, FF, CR); other controls are dropped.
func (p *parser) groundRune(r rune) {
	switch {
	case r >= 0x20 && r != 0x7f:
		p.out = utf8.AppendRune(p.out, r)
		p.last = r
	case r < 0x20:
		p.control(r)
		p.last = 0
	}
}

// control executes a C0 control (inside sequences too, as terminals do).
func (p *parser) control(r rune) {
	switch r {
	case '\b', '\t', '\n', '\v', '\f', '\r':
		p.out = append(p.out, byte(r))
	}
}

func (p *parser) escapeRune(r rune) {
	switch {
	case r < 0x20:
		p.control(r)
	case r <= 0x2f:
		if len(p.inter) < maxInterESC {
			p.inter = append(p.inter, byte(r))
		} else {
			p.inter = append(p.inter[:0], 0) // poisoned: dropped at the final byte
		}
	case r == 0x7f:
	case r > 0x7e:
		p.abort() // not an escape sequence after all
	case len(p.inter) == 0 && r == '[':
		p.enterCSI()
	case len(p.inter) == 0 && r == ']':
		p.enterOSC()
	case len(p.inter) == 0 && (r == 'P' || r == 'X' || r == '^' || r == '_'):
		p.state = stString
		p.isOSC = false
	default:
		p.escDispatch(byte(r))
		p.state = stGround
		p.last = 0
	}
}

// escDispatch passes on the escape sequences vt10x handles correctly.
func (p *parser) escDispatch(final byte) {
	if len(p.inter) == 0 {
		switch final {
		case 'D', 'E', 'H', 'M', '=', '>', '7', '8':
			p.out = append(p.out, 0x1b, final)
		case 'c': // RIS
			if p.afford(p.area()) {
				p.out = append(p.out, 0x1b, final)
				p.alt, p.paste = false, false
			}
		}
		return
	}
	if len(p.inter) != 1 {
		return
	}
	switch {
	case p.inter[0] == '(' && final == '0':
		p.out = append(p.out, 0x1b, '(', '0')
	case p.inter[0] == '(':
		p.out = append(p.out, 0x1b, '(', 'B') // any other G0 set: not line drawing
	case p.inter[0] == '#' && final == '8' && p.afford(p.area()):
		p.out = append(p.out, 0x1b, '#', '8')
	}
}

func (p *parser) enterCSI() {
	p.state = stCSI
	p.inter = p.inter[:0]
	p.param = p.param[:0]
	p.prv = 0
}

func (p *parser) csiRune(r rune) {
	switch {
	case r < 0x20:
		p.control(r)
	case r == 0x7f:
	case r > 0x7e:
		p.abort()
	case r >= 0x40:
		if p.state == stCSI {
			p.csiDispatch(byte(r))
		}
		p.state = stGround
		p.last = 0
	case p.state == stCSIIgnore:
	case r <= 0x2f:
		p.inter = append(p.inter, byte(r))
		if len(p.inter) > 2 {
			p.state = stCSIIgnore
		}
	case len(p.inter) > 0: // parameter bytes after intermediates
		p.state = stCSIIgnore
	case r >= 0x3c: // private marker
		if p.prv != 0 || len(p.param) > 0 {
			p.state = stCSIIgnore
		}
		p.prv = byte(r)
	default: // 0-9 : ;
		if len(p.param) >= maxCSI {
			p.state = stCSIIgnore
		}
		p.param = append(p.param, byte(r))
	}
}

func (p *parser) enterOSC() {
	p.state = stOSC
	p.isOSC = true
	p.osc = p.osc[:0]
}

func (p *parser) oscRune(r rune) {
	switch {
	case r == 0x07 || r == 0x9c: // BEL or ST ends it
		p.endString()
		p.state = stGround
	case r < 0x20:
	default:
		if len(p.osc) < maxOSC {
			p.osc = append(p.osc, r)
		}
	}
}

// endString dispatches a finished OSC: only a window title (OSC 0 or 2) is
// passed on; colors and the rest do not change the screen's cells.
func (p *parser) endString() {
	if !p.isOSC {
		return
	}
	p.isOSC = false
	s := string(p.osc)
	num, text, ok := cut(s, ';')
	if !ok || (num != "0" && num != "2") {
		return
	}
	title := make([]rune, 0, len(text))
	for _, r := range text {
		if r >= 0x20 && r != 0x7f && (r < 0x80 || r > 0x9f) && len(title) < maxTitle {
			title = append(title, r)
		}
	}
	if len(title) == 0 {
		return
	}
	p.out = append(p.out, "\x1b]2;"...)
	p.out = append(p.out, string(title)...)
	p.out = append(p.out, "\x1b\\"...)
}

func cut(s string, sep byte) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// csiDispatch passes on a finished control sequence in a canonical form.
func (p *parser) csiDispatch(final byte) {
	if len(p.inter) > 0 {
		return // DECSTR, DECSCUSR, ...: no effect on cells
	}
	params, ok := parseParams(p.param, final == 'm')
	if !ok {
		return
	}
	switch p.prv {
	case 0:
	case '?':
		if final == 'h' || final == 'l' {
			for _, m := range params {
				p.privateMode(m, final == 'h')
			}
		}
		return
	default:
		return // >, <, = sequences: queries and keyboard protocols
	}
	switch final {
	case 'm':
		p.emitCSI("", params, 'm')
	case 'h', 'l':
		for _, m := range params {
			if m != 0 {
				p.emitCSI("", []int{m}, final)
			}
		}
	case 'b': // REP
		p.repeat(paramOr(params, 0, 1))
	case '@', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'P', 'X', '`', 'a', 'd', 'e':
		p.emitCSI("", []int{paramOr(params, 0, 1)}, final)
	case 'I', 'Z': // vt10x moves tab by tab
		p.emitCSI("", []int{min(paramOr(params, 0, 1), p.cols)}, final)
	case 'L', 'M', 'S', 'T':
		n := paramOr(params, 0, 1)
		if (final != 'T' || len(params) <= 1) && p.afford(p.lines(n)) { // CSI T with more is mouse tracking
			p.emitCSI("", []int{n}, final)
		}
	case 'H', 'f':
		p.emitCSI("", []int{paramOr(params, 0, 1), paramOr(params, 1, 1)}, 'H')
	case 'J':
		if p.afford(p.area()) {
			p.emitCSI("", []int{paramOr(params, 0, 0)}, final)
		}
	case 'K', 'g':
		p.emitCSI("", []int{paramOr(params, 0, 0)}, final)
	case 'r':
		if len(params) < 2 {
			p.emitCSI("", []int{paramOr(params, 0, 1)}, 'r')
		} else {
			p.emitCSI("", []int{paramOr(params, 0, 1), paramOr(params, 1, maxParam)}, 'r')
		}
	case 's', 'u':
		if len(params) == 0 {
			p.emitCSI("", nil, final)
		}
	}
}

// paramOr returns params[i], or def when it is missing or zero (ECMA-48:
// zero means the default).
func paramOr(params []int, i, def int) int {
	if i >= len(params) || params[i] <= 0 {
		return def
	}
	return params[i]
}

// repeat prints the last graphic rune n more times (REP), at most a line.
func (p *parser) repeat(n int) {
	if p.last == 0 {
		return
	}
	n = min(n, max(p.cols, 1))
	if !p.afford(8 * n) { // printing costs about 8 cell writes
		return
	}
	for range n {
		p.out = utf8.AppendRune(p.out, p.last)
	}
}

// privateMode passes on a DEC private mode, keeping the alternate screen
// switches consistent (vt10x swaps screens on a reset of a mode that is not
// set) and tracking bracketed paste itself.
func (p *parser) privateMode(m int, set bool) {
	switch m {
	case 47, 1047, 1049:
		p.altScreen(m, set)
	case 2004:
		p.paste = set
	case 1048:
		p.out = append(p.out, 0x1b, pick(set, '7', '8'))
	case 0:
	default:
		p.emitCSI("?", []int{m}, pick(set, 'h', 'l'))
	}
}

func (p *parser) altScreen(m int, set bool) {
	if set != p.alt && !p.afford(p.area()) { // a switch clears a screen
		return
	}
	switch {
	case set && !p.alt && m == 1049:
		// Save the cursor, switch, and clear the alternate screen (xterm).
		p.out = append(p.out, "\x1b[?1049h\x1b[2J"...)
	case set && !p.alt:
		p.out = append(p.out, "\x1b[?47h"...)
	case !set && p.alt && m == 1049:
		p.out = append(p.out, "\x1b[?1049l"...)
	case !set && p.alt:
		p.out = append(p.out, "\x1b[?47l"...)
	case m == 1049 && set:
		p.out = append(p.out, 0x1b, '7') // already there: only saves the cursor
	case m == 1049:
		p.out = append(p.out, 0x1b, '8') // not there: only restores the cursor
	}
	p.alt = set
}

func pick(cond bool, yes, no byte) byte {
	if cond {
		return yes
	}
	return no
}

func (p *parser) emitCSI(prefix string, params []int, final byte) {
	p.out = append(p.out, 0x1b, '[')
	p.out = append(p.out, prefix...)
	for i, v := range params {
		if i > 0 {
			p.out = append(p.out, ';')
		}
		p.out = strconv.AppendInt(p.out, int64(v), 10)
	}
	p.out = append(p.out, final)
}

// parseParams parses CSI parameter bytes: numbers separated by ';' (empty
// means 0), clamped to maxParam. Sub-parameters (':') are folded into the
// ';' forms vt10x knows for SGR colors and underline styles, and dropped
// elsewhere. ok is false for a malformed list.
func parseParams(b []byte, sgr bool) (params []int, ok bool) {
	if len(b) == 0 {
		return nil, true
	}
	for _, field := range splitBytes(b, ';') {
		subs := splitBytes(field, ':')
		vals := make([]int, len(subs))
		for i, s := range subs {
			v := 0
			for _, c := range s {
				if c < '0' || c > '9' {
					return nil, false
				}
				v = min(v*10+int(c-'0'), maxParam)
			}
			vals[i] = v
		}
		if len(vals) == 1 {
			params = append(params, vals[0])
			continue
		}
		if sgr {
			params = append(params, sgrSubparams(vals)...)
		}
	}
	return params, true
}

// sgrSubparams turns 38:5:n, 38:2:[cs:]r:g:b (and 48, 58), and 4:n into
// their ';' forms.
func sgrSubparams(v []int) []int {
	switch v[0] {
	case 38, 48:
		if len(v) == 3 && v[1] == 5 {
			return v
		}
		if v[1] == 2 && (len(v) == 5 || len(v) == 6) {
			return []int{v[0], 2, v[len(v)-3], v[len(v)-2], v[len(v)-1]}
		}
	case 4:
		if v[1] == 0 {
			return []int{24}
		}
		return []int{4}
	}
	return nil
}

func splitBytes(b []byte, sep byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range b {
		if c == sep {
			out = append(out, b[start:i])
			start = i + 1
		}
	}
	return append(out, b[start:])
}
