package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/warrenhq/warren/internal/atomicfile"
)

// castWriter writes an asciicast v2 recording that survives a crash
// without a hole or a duplicate: events are appended in batches, each batch
// fsynced, and after each batch a sidecar file (<name>.pos) is replaced
// atomically with the cast's length and the stream offset that length
// holds. On reopen the cast is cut back to the recorded length and the
// stream resumes at the recorded offset.
//
// Output bytes become "o" events; an incomplete UTF-8 sequence at the end of
// a chunk waits for the next chunk, and invalid bytes become U+FFFD (as
// encoding/json writes them). A castWriter is not safe for concurrent use.
type castWriter struct {
	f       *os.File
	posPath string
	start   time.Time // the header's timestamp: event times count from it
	now     func() time.Time

	buf     bytes.Buffer // events not yet written
	pending []byte       // an incomplete UTF-8 sequence, not yet in buf
	length  int64        // bytes in the file
	offset  uint64       // stream offset of the bytes consumed (pending included)
	known   bool         // offset is known (not right after a snapshot)
}

// castPos is the sidecar's content.
type castPos struct {
	Length int64  `json:"length"`
	Offset uint64 `json:"offset"`
}

// maxPosFile bounds the sidecar file a reopen reads.
const maxPosFile = 4 << 10

// decodePos parses a sidecar file.
func decodePos(data []byte) (castPos, error) {
	if len(data) > maxPosFile {
		return castPos{}, errors.New("position file too large")
	}
	var p castPos
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return castPos{}, fmt.Errorf("position file: %w", err)
	}
	if p.Length < 0 {
		return castPos{}, errors.New("position file: negative length")
	}
	return p, nil
}

// castHeader is the first line of an asciicast v2 file.
type castHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Env       map[string]string `json:"env"`
	Title     string            `json:"title,omitempty"`
}

// openCast opens (creating it with its header if needed) the recording at
// path and returns it positioned at its last durable point, with the stream
// offset to resume at.
func openCast(path string, h castHeader, now func() time.Time) (*castWriter, uint64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, 0, err
	}
	w := &castWriter{posPath: posPath(path), start: time.Unix(h.Timestamp, 0), now: now, known: true}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, err
	}
	w.f = f
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	pos, err := readPos(w.posPath)
	switch {
	case errors.Is(err, os.ErrNotExist) && fi.Size() > 0:
		// A recording without its position file is complete (or not
		// ours): never overwrite it.
		f.Close()
		return nil, 0, fmt.Errorf("recording %s exists without a position file: it is complete", path)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		f.Close()
		return nil, 0, fmt.Errorf("recording %s: %w", path, err)
	}
	if err != nil || pos.Length == 0 {
		// No durable point yet: start with the header.
		if err := w.reset(h); err != nil {
			f.Close()
			return nil, 0, err
		}
		return w, 0, nil
	}
	if fi.Size() < pos.Length {
		f.Close()
		return nil, 0, fmt.Errorf("recording %s is shorter (%d) than its position file says (%d)", path, fi.Size(), pos.Length)
	}
	if err := f.Truncate(pos.Length); err != nil {
		f.Close()
		return nil, 0, err
	}
	w.length, w.offset = pos.Length, pos.Offset
	return w, pos.Offset, nil
}

func posPath(castPath string) string {
	return castPath[:len(castPath)-len(filepath.Ext(castPath))] + ".pos"
}

func readPos(path string) (castPos, error) {
	f, err := os.Open(path)
	if err != nil {
		return castPos{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPosFile+1))
	if err != nil {
		return castPos{}, err
	}
	return decodePos(data)
}

// reset empties the file and writes the header durably.
func (w *castWriter) reset(h castHeader) error {
	if err := w.f.Truncate(0); err != nil {
		return err
	}
	line, err := json.Marshal(h)
	if err != nil {
		return err
	}
	w.length, w.offset, w.known = 0, 0, true
	w.buf.Reset()
	w.buf.Write(line)
	w.buf.WriteByte('\n')
	return w.flush()
}

// output appends data, which starts at stream offset at.
func (w *castWriter) output(at uint64, data []byte) {
	if !w.known {
		// The first output after a snapshot tells where the snapshot left
		// the stream.
		w.offset, w.known = at, true
	}
	all := append(w.pending, data...)
	cut := completeUTF8(all)
	w.event("o", all[:cut])
	w.pending = append([]byte(nil), all[cut:]...)
	w.offset = at + uint64(len(data))
}

// snapshot records a screen snapshot: a hole in the recording, marked.
func (w *castWriter) snapshot(data []byte) {
	w.flushPending()
	w.event("o", data)
	w.event("m", []byte(fmt.Sprintf("snapshot: output was lost before this point (%d bytes of screen)", len(data))))
	w.known = false
}

// gap records lost output [from, to).
func (w *castWriter) gap(from, to uint64) {
	w.flushPending()
	w.event("m", []byte(fmt.Sprintf("gap: %d bytes of output lost", to-from)))
	w.offset, w.known = to, true
}

// flushPending writes an incomplete UTF-8 tail as it is (U+FFFD).
func (w *castWriter) flushPending() {
	if len(w.pending) > 0 {
		w.event("o", w.pending)
		w.pending = nil
	}
}

func (w *castWriter) event(kind string, data []byte) {
	if len(data) == 0 {
		return
	}
	t := w.now().Sub(w.start).Seconds()
	if t < 0 {
		t = 0
	}
	text, _ := json.Marshal(string(data)) // invalid UTF-8 becomes U+FFFD
	w.buf.WriteByte('[')
	w.buf.WriteString(strconv.FormatFloat(t, 'f', 6, 64))
	w.buf.WriteString(`, "` + kind + `", `)
	w.buf.Write(text)
	w.buf.WriteString("]\n")
}

// flush makes the events so far durable, then records the new durable
// point (only where the stream offset is known).
func (w *castWriter) flush() error {
	if w.buf.Len() > 0 {
		n, err := w.f.WriteAt(w.buf.Bytes(), w.length)
		w.length += int64(n)
		w.buf.Reset()
		if err != nil {
			return err
		}
		if err := w.f.Sync(); err != nil {
			return err
		}
	}
	if !w.known {
		return nil
	}
	return writeFileAtomic(w.posPath, castPos{Length: w.length, Offset: w.offset - uint64(len(w.pending))})
}

// finish writes everything, including an incomplete tail, and closes.
func (w *castWriter) finish(ended bool) error {
	w.flushPending()
	err := w.flush()
	if ended && err == nil {
		// The recording is complete: nothing will resume it.
		if rerr := os.Remove(w.posPath); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
	}
	return errors.Join(err, w.f.Close())
}

// completeUTF8 returns the length of the longest prefix of p that does not
// end inside an incomplete (but so far valid) UTF-8 sequence.
func completeUTF8(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax+1; i-- {
		if !utf8.RuneStart(p[i]) {
			continue
		}
		if !utf8.FullRune(p[i:]) {
			return i
		}
		break
	}
	return len(p)
}

// writeFileAtomic replaces path with v as JSON (see atomicfile.Write).
func writeFileAtomic(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data)
}
