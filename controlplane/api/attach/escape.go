package attach

// DefaultEscape is the escape character: typed at the start of a line
// (after Enter, or as the very first key) it begins a local command, like
// ssh's: "~." detaches, "~?" lists the commands, "~~" sends one "~".
const DefaultEscape = '~'

// escaper finds escape commands in the keystrokes going to the session. It
// holds an escape character typed at the start of a line until the next key
// says what it is, across reads. The zero value is not usable: use
// newEscaper.
type escaper struct {
	char      byte // the escape character
	disabled  bool // every key passes through
	lineStart bool // the next key starts a line
	held      bool // an escape character at the start of a line is held back
}

func newEscaper(char byte, disabled bool) *escaper {
	return &escaper{char: char, disabled: disabled, lineStart: true}
}

// escapeResult is what one batch of keystrokes amounts to.
type escapeResult struct {
	out    []byte // keys to send to the session, in order
	detach bool   // "~." was typed: the keys after it are dropped
	help   bool   // "~?" was typed
}

// feed filters p. The keys that reach the session are copied out of p.
func (e *escaper) feed(p []byte) escapeResult {
	if e.disabled {
		return escapeResult{out: append([]byte(nil), p...)}
	}
	var r escapeResult
	for _, b := range p {
		if e.held {
			e.held = false
			switch b {
			case '.':
				r.detach = true
				return r
			case '?':
				r.help = true
				e.lineStart = true
				continue
			case e.char:
				r.out = append(r.out, b)
				e.lineStart = false
				continue
			}
			r.out = append(r.out, e.char) // not a command: the escape character was meant literally
		} else if e.lineStart && b == e.char {
			e.held = true
			continue
		}
		r.out = append(r.out, b)
		e.lineStart = b == '\r' || b == '\n'
	}
	return r
}

// escapeHelp lists the escape commands; %c is the escape character.
const escapeHelp = `Supported escape sequences (at the start of a line):
 %[1]c.   detach (the session keeps running; resume with warren session attach)
 %[1]c?   this help
 %[1]c%[1]c   send the escape character itself`
