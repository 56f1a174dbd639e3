package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// DefaultBufferSize is the capacity of a Buffer created with size <= 0.
const DefaultBufferSize = 4 << 20

// Buffer errors.
var (
	ErrOffsetAhead  = errors.New("stream: offset beyond end of output")
	ErrBufferClosed = errors.New("stream: buffer closed")
)

// Buffer is a ring buffer of session output indexed by absolute byte offset:
// it holds the last Cap() bytes written, [Start(), End()). Its memory grows
// with the output up to Cap (an idle session costs little). It is safe for
// concurrent use by one writer and any number of followers.
type Buffer struct {
	mu  sync.Mutex
	max int // the capacity
	// guarded by mu
	data   []byte // the ring; until len(data) == max it holds [0, end) unwrapped
	end    uint64 // absolute offset after the last byte written
	closed bool
	wake   chan struct{} // closed when end grows or the buffer closes; nil without waiters
}

// NewBuffer returns an empty Buffer holding up to size bytes
// (DefaultBufferSize if size <= 0).
func NewBuffer(size int) *Buffer {
	if size <= 0 {
		size = DefaultBufferSize
	}
	return &Buffer{max: size}
}

// minGrow is the first allocation of a Buffer's memory.
const minGrow = 16 << 10

// Cap returns the buffer's capacity.
func (b *Buffer) Cap() int { return b.max }

// growLocked makes room for n more bytes while the ring is below capacity
// (and so not wrapped): doubling, at least minGrow, at most max.
func (b *Buffer) growLocked(n int) {
	need := b.end + uint64(n)
	if len(b.data) == b.max || need <= uint64(len(b.data)) {
		return
	}
	size := max(2*len(b.data), minGrow)
	if uint64(size) < need {
		size = int(min(need, uint64(b.max)))
	}
	size = min(size, b.max)
	data := make([]byte, size)
	copy(data, b.data[:b.end])
	b.data = data
}

// Write appends p, dropping the oldest bytes beyond the capacity. It fails
// only after Close.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, ErrBufferClosed
	}
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	if len(p) > b.max {
		// Only the last max bytes survive: the ring jumps to full size.
		b.end += uint64(len(p) - b.max)
		p = p[len(p)-b.max:]
		if len(b.data) < b.max {
			b.data = make([]byte, b.max)
		}
	}
	b.growLocked(len(p))
	pos := int(b.end % uint64(len(b.data)))
	k := copy(b.data[pos:], p)
	copy(b.data, p[k:])
	b.end += uint64(len(p))
	b.wakeLocked()
	return n, nil
}

// Close ends the output: followers that reached End get ErrBufferClosed from
// Wait. It is idempotent.
func (b *Buffer) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.wakeLocked()
}

func (b *Buffer) wakeLocked() {
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
}

// Start returns the offset of the oldest byte still held.
func (b *Buffer) Start() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.startLocked()
}

// End returns the offset after the newest byte.
func (b *Buffer) End() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.end
}

func (b *Buffer) startLocked() uint64 {
	if b.end < uint64(b.max) {
		return 0
	}
	return b.end - uint64(b.max)
}

// ReadOffset returns a copy of up to max bytes (all available if max <= 0)
// starting at offset. When offset is older than Start, the bytes
// [gapFrom, gapTo) are lost and data starts at gapTo; otherwise gapFrom ==
// gapTo == 0. An offset beyond End is an error wrapping ErrOffsetAhead. A
// follower that sets offset = gapTo (if gapTo > 0) then adds len(data) gets
// every byte still held exactly once, in order.
//
// (It is not called ReadFrom, which go vet reserves for io.ReaderFrom.)
func (b *Buffer) ReadOffset(offset uint64, max int) (data []byte, gapFrom, gapTo uint64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if offset > b.end {
		return nil, 0, 0, fmt.Errorf("%w: offset %d, end %d", ErrOffsetAhead, offset, b.end)
	}
	if start := b.startLocked(); offset < start {
		gapFrom, gapTo, offset = offset, start, start
	}
	n := b.end - offset
	if max > 0 && n > uint64(max) {
		n = uint64(max)
	}
	if n == 0 {
		return nil, gapFrom, gapTo, nil
	}
	data = make([]byte, n)
	k := copy(data, b.data[offset%uint64(len(b.data)):])
	copy(data[k:], b.data)
	return data, gapFrom, gapTo, nil
}

// Wait blocks until End > offset, the buffer is closed (ErrBufferClosed) or
// ctx is done (ctx.Err()).
func (b *Buffer) Wait(ctx context.Context, offset uint64) error {
	for {
		b.mu.Lock()
		if b.end > offset {
			b.mu.Unlock()
			return nil
		}
		if b.closed {
			b.mu.Unlock()
			return ErrBufferClosed
		}
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
