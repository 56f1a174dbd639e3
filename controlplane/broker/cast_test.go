package broker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// castText parses an asciicast v2 file and returns its header and the
// concatenation of its "o" events, and its "m" markers.
func castText(t testing.TB, data []byte) (castHeader, string, []string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<24)
	if !sc.Scan() {
		t.Fatalf("empty cast")
	}
	var h castHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Version != 2 {
		t.Fatalf("header %q: %v", sc.Bytes(), err)
	}
	var out strings.Builder
	var marks []string
	last := 0.0
	for sc.Scan() {
		var ev []any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("event %q: %v", sc.Bytes(), err)
		}
		ts, _ := ev[0].(float64)
		if ts < last {
			t.Fatalf("event time %v before %v", ts, last)
		}
		last = ts
		s, _ := ev[2].(string)
		switch ev[1] {
		case "o":
			out.WriteString(s)
		case "m":
			marks = append(marks, s)
		default:
			t.Fatalf("event kind %v", ev[1])
		}
	}
	return h, out.String(), marks
}

// asJSONString is what encoding/json makes of data as a string: invalid
// bytes become U+FFFD one by one.
func asJSONString(data []byte) string {
	b, _ := json.Marshal(string(data))
	var s string
	json.Unmarshal(b, &s)
	return s
}

func testHeader() castHeader {
	return castHeader{Version: 2, Width: 80, Height: 24, Timestamp: time.Now().Unix(), Env: map[string]string{"TERM": "xterm-256color"}}
}

// TestCastUTF8: a multi-byte character split across chunks is written
// whole; invalid bytes become U+FFFD; the text equals the stream's.
func TestCastUTF8(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.cast")
	w, off, err := openCast(path, testHeader(), time.Now)
	if err != nil || off != 0 {
		t.Fatalf("openCast() = %v, %d", err, off)
	}
	stream := []byte("héllo €uro \xff\xfe bad, 😀 done\r\n")
	var at uint64
	for i := 0; i < len(stream); i += 3 { // chunks that split every multi-byte sequence somewhere
		chunk := stream[i:min(i+3, len(stream))]
		w.output(at, chunk)
		at += uint64(len(chunk))
	}
	if err := w.finish(true); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	_, text, _ := castText(t, data)
	if want := asJSONString(stream); text != want {
		t.Errorf("text = %q, want %q", text, want)
	}
	if strings.Count(text, "\uFFFD") != 2 {
		t.Errorf("text %q should hold exactly two U+FFFD", text)
	}
	if _, err := os.Stat(posPath(path)); !os.IsNotExist(err) {
		t.Errorf("position file left after a complete recording: %v", err)
	}
	// A complete recording is never reopened (nor overwritten).
	if _, _, err := openCast(path, testHeader(), time.Now); err == nil {
		t.Errorf("openCast(complete recording) succeeded")
	}
	if data2, _ := os.ReadFile(path); string(data2) != string(data) {
		t.Errorf("a complete recording changed on reopen")
	}
}

// TestCastCrashResume: a writer killed at any point after a flush (its
// unflushed events lost, even bytes written past the durable point) is
// resumed from the position file with no hole and no duplicate.
func TestCastCrashResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.cast")
	var all []byte
	for i := range 2000 {
		all = append(all, []byte(strings.Repeat("é", i%5)+"line "+string(rune('a'+i%26))+"\r\n")...)
	}
	h := testHeader()
	w, off, err := openCast(path, h, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	feed := func(w *castWriter, from, to int) {
		for i := from; i < to; i += 7 {
			end := min(i+7, to)
			w.output(uint64(i), all[i:end])
		}
	}
	crashes := []int{1000, 1003, 5001, 9000}
	pos := 0
	for _, c := range crashes {
		feed(w, pos, c)
		if err := w.flush(); err != nil {
			t.Fatal(err)
		}
		// More output after the flush, partly written to the file, never
		// recorded as durable: the crash comes now.
		feed(w, c, c+500)
		w.f.WriteAt([]byte("[9.9, \"o\", \"garbage"), w.length)
		w.f.Close()
		w, off, err = openCast(path, h, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		if off > uint64(c) || off < uint64(c-3) { // an incomplete UTF-8 tail is re-read
			t.Fatalf("resumed at %d after a flush at %d", off, c)
		}
		pos = int(off)
	}
	feed(w, pos, len(all))
	if err := w.finish(true); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	_, text, marks := castText(t, data)
	if want := asJSONString(all); text != want {
		t.Errorf("recording after %d crashes differs from the stream (%d vs %d bytes)", len(crashes), len(text), len(want))
	}
	if len(marks) != 0 {
		t.Errorf("markers = %v, want none", marks)
	}
}

// TestCastSnapshotAndGap: holes are marked, the snapshot is written, and
// the position is not advanced past a snapshot until its offset is known.
func TestCastSnapshotAndGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.cast")
	w, _, err := openCast(path, testHeader(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	w.output(0, []byte("abc"))
	w.flush()
	w.snapshot([]byte("\x1bcSCREEN"))
	w.flush()
	if p, _ := readPos(posPath(path)); p.Offset != 3 {
		t.Errorf("position after a snapshot = %+v, want offset 3 (unknown past the snapshot)", p)
	}
	w.output(100, []byte("def"))
	w.gap(103, 200)
	w.output(200, []byte("ghi"))
	w.flush()
	if p, _ := readPos(posPath(path)); p.Offset != 203 {
		t.Errorf("position = %+v, want offset 203", p)
	}
	w.finish(false)
	data, _ := os.ReadFile(path)
	_, text, marks := castText(t, data)
	if text != "abc\x1bcSCREENdefghi" || len(marks) != 2 || !strings.HasPrefix(marks[0], "snapshot") || !strings.HasPrefix(marks[1], "gap") {
		t.Errorf("text %q, marks %q", text, marks)
	}
}

// FuzzCastOutput: any chunking of any bytes gives a valid asciicast whose
// text is the stream's (as encoding/json writes it).
func FuzzCastOutput(f *testing.F) {
	f.Add([]byte("hello\r\n"), uint8(3))
	f.Add([]byte("\xe2\x82\xac\xf0\x9f\x98\x80\xff"), uint8(1))
	f.Add([]byte("\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80"), uint8(2))
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		if len(data) > 1<<16 {
			return
		}
		n++
		path := filepath.Join(dir, "f"+strings.Repeat("x", n%3)+".cast")
		os.Remove(posPath(path))
		os.Remove(path)
		w, _, err := openCast(path, testHeader(), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		s := int(step%16) + 1
		for i := 0; i < len(data); i += s {
			w.output(uint64(i), data[i:min(i+s, len(data))])
		}
		if err := w.finish(true); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		_, text, _ := castText(t, got)
		if want := asJSONString(data); text != want {
			t.Errorf("text %q, want %q", text, want)
		}
	})
}

// FuzzDecodePos: arbitrary position files are refused or parsed, never a
// panic; a parsed one has no negative length.
func FuzzDecodePos(f *testing.F) {
	f.Add([]byte(`{"length":10,"offset":3}`))
	f.Add([]byte(`{"length":-1,"offset":3}`))
	f.Add([]byte(`{"length":1e99}`))
	f.Add([]byte(`{"offset":18446744073709551615,"extra":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePos(data)
		if err == nil && p.Length < 0 {
			t.Errorf("decodePos(%q) = %+v", data, p)
		}
	})
}
