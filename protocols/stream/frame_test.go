package stream

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func sampleFrames() []struct {
	name string
	f    Frame
} {
	return []struct {
		name string
		f    Frame
	}{
		{"output", Output{Offset: 1 << 40, Data: []byte("hello\x1b[31m")}},
		{"output empty", Output{Offset: 7}},
		{"output max", Output{Offset: 0, Data: bytes.Repeat([]byte{'x'}, MaxOutput)}},
		{"input", Input{Data: []byte("ls -l\r")}},
		{"input max", Input{Data: bytes.Repeat([]byte{0}, MaxFrame)}},
		{"resize", Resize{Cols: 80, Rows: 24}},
		{"ack", Ack{Offset: 123456789}},
		{"ping", Ping{Nonce: 1}},
		{"pong", Pong{Nonce: ^uint64(0)}},
		{"gap", Gap{From: 10, To: 1 << 22}},
		{"control state", Control{Type: ControlState, State: StateAttached, Role: "driver", Offset: 42}},
		{"control error", Control{Type: ControlError, Code: CodeNotDriver, Message: "observers cannot type <here> & now"}},
		{"control takeover", Control{Type: ControlState, State: StateAttached, Role: RoleObserver, Reason: ControlTakeover}},
		{"snapshot", Snapshot{Offset: 1 << 33, Data: []byte("\x1bc\x1b[1;1Hhello")}},
		{"snapshot final", Snapshot{Offset: 9, Final: true, Data: []byte("\x1b[?1049h")}},
		{"snapshot final empty", Snapshot{Offset: 0, Final: true}},
		{"snapshot max", Snapshot{Offset: 5, Data: bytes.Repeat([]byte{'y'}, MaxOutput)}},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, tt := range sampleFrames() {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendFrame(nil, tt.f)
			if err != nil {
				t.Fatalf("AppendFrame(%v) error: %v", tt.name, err)
			}
			got, err := DecodeFrame(b)
			if err != nil {
				t.Fatalf("DecodeFrame() error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.f) {
				t.Errorf("DecodeFrame(AppendFrame(f)) = %#v, want %#v", got, tt.f)
			}
			if Kind(b[0]) != tt.f.Kind() {
				t.Errorf("type byte = %d, want %d", b[0], tt.f.Kind())
			}
		})
	}
}

func TestStreamRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	for _, tt := range sampleFrames() {
		if err := enc.Encode(tt.f); err != nil {
			t.Fatalf("Encode(%v) error: %v", tt.name, err)
		}
	}
	dec := NewDecoder(&buf)
	for _, tt := range sampleFrames() {
		got, err := dec.Decode()
		if err != nil {
			t.Fatalf("Decode() error: %v", err)
		}
		if !reflect.DeepEqual(got, tt.f) {
			t.Errorf("Decode() = %#v, want %#v", got, tt.f)
		}
	}
	if _, err := dec.Decode(); err != io.EOF {
		t.Errorf("Decode() at end = %v, want io.EOF", err)
	}
}

func TestDecodeFrameRejects(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrBadFrame},
		{"unknown type", []byte{99, 1, 2}, ErrBadFrame},
		{"type zero", []byte{0}, ErrBadFrame},
		{"output truncated header", []byte{1, 0, 0, 0}, ErrBadFrame},
		{"output too large", append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, MaxOutput+1)...), ErrFrameTooLarge},
		{"output offset overflow", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a'}, ErrBadFrame},
		{"input too large", append([]byte{2}, make([]byte, MaxFrame+1)...), ErrFrameTooLarge},
		{"resize truncated", []byte{3, 0, 80, 0}, ErrBadFrame},
		{"resize long", []byte{3, 0, 80, 0, 24, 0}, ErrBadFrame},
		{"resize zero", []byte{3, 0, 0, 0, 24}, ErrBadFrame},
		{"ack truncated", []byte{4, 0, 0, 0, 0, 0}, ErrBadFrame},
		{"ping long", []byte{5, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrBadFrame},
		{"pong empty", []byte{6}, ErrBadFrame},
		{"gap truncated", []byte{7, 0, 0, 0, 0, 0, 0, 0, 1}, ErrBadFrame},
		{"gap backwards", []byte{7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 3}, ErrBadFrame},
		{"gap empty", []byte{7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3}, ErrBadFrame},
		{"control not json", []byte("\x08hello"), ErrBadFrame},
		{"control array", []byte("\x08[1]"), ErrBadFrame},
		{"control no type", []byte(`` + "\x08" + `{"code":"x"}`), ErrBadFrame},
		{"control bad utf8", []byte("\x08{\"type\":\"\xff\"}"), ErrBadFrame},
		{"control trailing", []byte("\x08{\"type\":\"state\"} x"), ErrBadFrame},
		{"control too large", append([]byte("\x08{\"type\":\"state\",\"message\":\""), strings.Repeat("a", MaxFrame)+`"}`...), ErrFrameTooLarge},
		{"snapshot truncated header", []byte{9, 0, 0, 0, 0, 0, 0, 0, 0}, ErrBadFrame},
		{"snapshot reserved flag", []byte{9, 0, 0, 0, 0, 0, 0, 0, 0, 2, 'x'}, ErrBadFrame},
		{"snapshot too large", append([]byte{9, 0, 0, 0, 0, 0, 0, 0, 0, 1}, make([]byte, MaxOutput+1)...), ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := DecodeFrame(tt.b)
			if !errors.Is(err, tt.want) {
				t.Errorf("DecodeFrame() = %#v, %v, want error %v", f, err, tt.want)
			}
		})
	}
}

func TestAppendFrameRejects(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		want error
	}{
		{"output too large", Output{Data: make([]byte, MaxOutput+1)}, ErrFrameTooLarge},
		{"input too large", Input{Data: make([]byte, MaxFrame+1)}, ErrFrameTooLarge},
		{"resize zero", Resize{Cols: 80}, ErrBadFrame},
		{"gap empty", Gap{From: 5, To: 5}, ErrBadFrame},
		{"control no type", Control{Code: CodeBadFrame}, ErrBadFrame},
		{"control too large", Control{Type: ControlError, Message: strings.Repeat("a", MaxFrame)}, ErrFrameTooLarge},
		{"snapshot too large", Snapshot{Data: make([]byte, MaxOutput+1)}, ErrFrameTooLarge},
		{"nil", nil, ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := AppendFrame(nil, tt.f); !errors.Is(err, tt.want) {
				t.Errorf("AppendFrame() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecoderRejects(t *testing.T) {
	tests := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"oversized prefix", []byte{0, 1, 0, 2, 1}, ErrFrameTooLarge},
		{"huge prefix", []byte{0xff, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
		{"truncated prefix", []byte{0, 0}, ErrBadFrame},
		{"truncated body", []byte{0, 0, 0, 9, 4, 0, 0}, ErrBadFrame},
		{"zero length", []byte{0, 0, 0, 0}, ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecoder(bytes.NewReader(tt.stream)).Decode()
			if !errors.Is(err, tt.want) {
				t.Errorf("Decode() error = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDecoderSkipsBadFrame checks that a bad frame with a valid length
// leaves the stream in sync.
func TestDecoderSkipsBadFrame(t *testing.T) {
	stream := []byte{0, 0, 0, 2, 99, 0, 0, 0, 0, 9, 5, 0, 0, 0, 0, 0, 0, 0, 7}
	dec := NewDecoder(bytes.NewReader(stream))
	if _, err := dec.Decode(); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("Decode() error = %v, want ErrBadFrame", err)
	}
	got, err := dec.Decode()
	if err != nil || got != (Ping{Nonce: 7}) {
		t.Errorf("Decode() = %v, %v, want Ping{7}", got, err)
	}
}

func TestErrorControl(t *testing.T) {
	_, err := DecodeFrame([]byte{42})
	if got := ErrorControl(err).Code; got != CodeBadFrame {
		t.Errorf("ErrorControl(bad frame).Code = %q, want %q", got, CodeBadFrame)
	}
	_, err = DecodeFrame(make([]byte, MaxEncodedFrame+1))
	if got := ErrorControl(err).Code; got != CodeFrameTooLarge {
		t.Errorf("ErrorControl(too large).Code = %q, want %q", got, CodeFrameTooLarge)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, tt := range sampleFrames() {
		b, err := AppendFrame(nil, tt.f)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 3})
	f.Add([]byte("\x08{\"type\":\"state\",\"unknown\":[1,2]}"))
	f.Add([]byte{0, 0, 0, 2, 3, 0, 0, 0, 0, 5, 3, 0, 80, 0, 24})
	f.Add([]byte{9, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x1b, 'c'})
	f.Add([]byte{9, 0, 0, 0, 0, 0, 0, 0, 1, 0xfe})
	f.Fuzz(func(t *testing.T, b []byte) {
		// The same bytes as a length-prefixed stream: must not panic or hang.
		dec := NewDecoder(bytes.NewReader(b))
		for range 64 {
			if _, err := dec.Decode(); err != nil && !errors.Is(err, ErrBadFrame) {
				break
			}
		}

		fr, err := DecodeFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("DecodeFrame() error %v is not typed", err)
			}
			return
		}
		enc, err := AppendFrame(nil, fr)
		if c, ok := fr.(Control); ok {
			// JSON has many spellings of one value: compare values, and
			// tolerate a re-encoding that grew past the cap (escapes).
			if errors.Is(err, ErrFrameTooLarge) {
				return
			}
			if err != nil {
				t.Fatalf("AppendFrame(%#v) error: %v", c, err)
			}
			again, err := DecodeFrame(enc)
			if err != nil || !reflect.DeepEqual(again, fr) {
				t.Fatalf("control re-decoded = %#v, %v, want %#v", again, err, fr)
			}
			return
		}
		if err != nil {
			t.Fatalf("AppendFrame(%#v) error: %v", fr, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("AppendFrame(DecodeFrame(b)) = %x, want %x", enc, b)
		}
	})
}
