package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

// source returns n deterministic pseudo-random bytes.
func source(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestBufferWraparound(t *testing.T) {
	b := NewBuffer(10)
	src := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	for _, n := range []int{3, 4, 5, 1, 9, 14} {
		if _, err := b.Write(src[b.End() : b.End()+uint64(n)]); err != nil {
			t.Fatalf("Write() error: %v", err)
		}
	}
	if got, want := b.End(), uint64(len(src)); got != want {
		t.Fatalf("End() = %d, want %d", got, want)
	}
	if got, want := b.Start(), uint64(len(src)-10); got != want {
		t.Fatalf("Start() = %d, want %d", got, want)
	}
	for off := b.Start(); off <= b.End(); off++ {
		data, gf, gt, err := b.ReadOffset(off, 0)
		if err != nil || gf != 0 || gt != 0 || !bytes.Equal(data, src[off:]) {
			t.Errorf("ReadOffset(%d) = %q, %d, %d, %v, want %q", off, data, gf, gt, err, src[off:])
		}
	}
	data, _, _, _ := b.ReadOffset(28, 3)
	if want := src[28:31]; !bytes.Equal(data, want) {
		t.Errorf("ReadOffset(28, 3) = %q, want %q", data, want)
	}
}

func TestBufferGap(t *testing.T) {
	b := NewBuffer(8)
	src := []byte("abcdefghijklmnopqrst") // 20 bytes: holds [12, 20)
	b.Write(src)
	tests := []struct {
		offset         uint64
		want           string
		gapFrom, gapTo uint64
	}{
		{0, "mnopqrst", 0, 12},
		{11, "mnopqrst", 11, 12},
		{12, "mnopqrst", 0, 0},
		{19, "t", 0, 0},
		{20, "", 0, 0},
	}
	for _, tt := range tests {
		data, gf, gt, err := b.ReadOffset(tt.offset, 0)
		if err != nil || string(data) != tt.want || gf != tt.gapFrom || gt != tt.gapTo {
			t.Errorf("ReadOffset(%d) = %q, [%d,%d), %v, want %q, [%d,%d)", tt.offset, data, gf, gt, err, tt.want, tt.gapFrom, tt.gapTo)
		}
	}
	if _, _, _, err := b.ReadOffset(21, 0); !errors.Is(err, ErrOffsetAhead) {
		t.Errorf("ReadOffset(21) error = %v, want ErrOffsetAhead", err)
	}
}

func TestBufferWaitAndClose(t *testing.T) {
	b := NewBuffer(0)
	if got := b.Cap(); got != DefaultBufferSize {
		t.Errorf("Cap() = %d, want %d", got, DefaultBufferSize)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(canceled) = %v, want context.Canceled", err)
	}
	done := make(chan error)
	go func() { done <- b.Wait(context.Background(), 0) }()
	b.Write([]byte("x"))
	if err := <-done; err != nil {
		t.Errorf("Wait() after Write = %v, want nil", err)
	}
	go func() { done <- b.Wait(context.Background(), 1) }()
	b.Close()
	b.Close()
	if err := <-done; !errors.Is(err, ErrBufferClosed) {
		t.Errorf("Wait() after Close = %v, want ErrBufferClosed", err)
	}
	if _, err := b.Write([]byte("y")); !errors.Is(err, ErrBufferClosed) {
		t.Errorf("Write() after Close = %v, want ErrBufferClosed", err)
	}
}

// TestBufferFollower has a writer outrun a small ring while a follower acks
// its progress (as a viewer's Ack frames do); the follower must get every byte
// once, in order.
func TestBufferFollower(t *testing.T) {
	const total, ring = 4 << 20, 64 << 10
	src := source(total, 1)
	b := NewBuffer(ring)
	progress := make(chan uint64, 1024)
	var got []byte
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(progress)
		var off uint64
		for {
			if err := b.Wait(context.Background(), off); err != nil {
				return
			}
			data, gf, gt, err := b.ReadOffset(off, 7000)
			if err != nil || gf != gt {
				t.Errorf("ReadOffset(%d) = gap [%d,%d), %v", off, gf, gt, err)
				return
			}
			got = append(got, data...)
			off += uint64(len(data))
			progress <- off
		}
	})
	r := rand.New(rand.NewPCG(2, 2))
	var acked uint64
	for w := 0; w < total; {
		n := min(1+r.IntN(20000), total-w)
		for uint64(w+n)-acked > ring {
			if acked = <-progress; acked == 0 {
				t.Fatal("follower stopped")
			}
		}
		b.Write(src[w : w+n])
		w += n
	}
	for acked < total {
		if acked = <-progress; acked == 0 {
			t.Fatal("follower stopped")
		}
	}
	b.Close()
	wg.Wait()
	if sha256.Sum256(got) != sha256.Sum256(src) {
		t.Errorf("follower got %d bytes with a different SHA-256, want %d bytes", len(got), total)
	}
}

// TestBufferFollowerGaps lets the writer outrun a follower freely: whatever
// the follower gets, data and gaps tile [0, end) exactly and the data equals
// the source at those offsets.
func TestBufferFollowerGaps(t *testing.T) {
	const total = 2 << 20
	src := source(total, 3)
	b := NewBuffer(4096)
	var wg sync.WaitGroup
	var gaps, read int
	wg.Go(func() {
		var off uint64
		for {
			if err := b.Wait(context.Background(), off); err != nil {
				break
			}
			data, gf, gt, err := b.ReadOffset(off, 1000)
			if err != nil {
				t.Errorf("ReadOffset(%d) error: %v", off, err)
				return
			}
			if gf != gt {
				if gf != off || gt <= gf {
					t.Errorf("ReadOffset(%d) gap [%d,%d), want one starting at %d", off, gf, gt, off)
					return
				}
				gaps++
				off = gt
			}
			if !bytes.Equal(data, src[off:off+uint64(len(data))]) {
				t.Errorf("ReadOffset(%d) returned bytes that differ from the source", off)
				return
			}
			read += len(data)
			off += uint64(len(data))
		}
		if off != total {
			t.Errorf("follower ended at %d, want %d", off, total)
		}
	})
	for w := 0; w < total; w += 3001 {
		b.Write(src[w:min(w+3001, total)])
	}
	b.Close()
	wg.Wait()
	t.Logf("follower read %d bytes across %d gaps", read, gaps)
}

// TestBufferGrowsLazily: a Buffer's memory follows its output up to the
// capacity, and whatever the write sizes (small, across a growth, larger
// than the capacity) it holds exactly the last Cap bytes of the stream.
func TestBufferGrowsLazily(t *testing.T) {
	const size = 200 << 10
	b := NewBuffer(size)
	if len(b.data) != 0 {
		t.Fatalf("a new buffer holds %d bytes of memory, want 0", len(b.data))
	}
	b.Write([]byte("hello"))
	if len(b.data) != minGrow {
		t.Errorf("after 5 bytes: %d bytes of memory, want %d", len(b.data), minGrow)
	}
	r := rand.New(rand.NewPCG(7, 7))
	var all []byte
	all = append(all, "hello"...)
	for i := range 400 {
		n := r.IntN(4 << 10)
		if i%97 == 0 {
			n = size + r.IntN(size) // larger than the whole ring
		}
		p := source(n, uint64(i))
		b.Write(p)
		all = append(all, p...)
		if len(b.data) > size {
			t.Fatalf("memory %d beyond the capacity %d", len(b.data), size)
		}
		start := uint64(max(0, len(all)-size))
		if b.Start() != start || b.End() != uint64(len(all)) {
			t.Fatalf("write %d: [%d, %d), want [%d, %d)", i, b.Start(), b.End(), start, len(all))
		}
		off := start + uint64(r.IntN(len(all)-int(start)+1))
		data, _, gapTo, err := b.ReadOffset(off, 0)
		if err != nil || gapTo != 0 || !bytes.Equal(data, all[off:]) {
			t.Fatalf("write %d: ReadOffset(%d) = %d bytes, gap to %d, %v; differs from the stream", i, off, len(data), gapTo, err)
		}
	}
}
