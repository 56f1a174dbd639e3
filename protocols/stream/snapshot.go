package stream

import (
	"encoding/binary"
	"fmt"
)

// MaxSnapshot caps the joined Data of one snapshot (all its frames). A
// receiver rejects a larger snapshot with ErrFrameTooLarge.
const MaxSnapshot = 4 << 20

// snapshotFinal is the flags bit marking a snapshot's last frame; the other
// bits are reserved and must be zero.
const snapshotFinal = 1 << 0

// Snapshot carries terminal bytes that repaint the whole screen from any
// terminal state (they begin with a full reset). A snapshot is sent as one or
// more Snapshot frames with the same Offset, the last with Final set. A
// receiver writes Data to its terminal; after the Final frame its offset
// becomes Offset and it expects Output from Offset.
type Snapshot struct {
	Offset uint64
	Final  bool
	Data   []byte // at most MaxOutput bytes
}

// SplitSnapshot returns the frames that carry a snapshot of data taken at
// offset: chunks of at most MaxOutput bytes, the last one Final. An empty data
// gives one Final frame without data. The frames alias data.
func SplitSnapshot(offset uint64, data []byte) []Snapshot {
	frames := make([]Snapshot, 0, len(data)/MaxOutput+1)
	for {
		n := min(len(data), MaxOutput)
		frames = append(frames, Snapshot{Offset: offset, Final: n == len(data), Data: data[:n:n]})
		data = data[n:]
		if len(data) == 0 {
			if n == 0 {
				frames[len(frames)-1].Data = nil
			}
			return frames
		}
	}
}

func appendSnapshot(b []byte, f Snapshot) ([]byte, error) {
	if len(f.Data) > MaxOutput {
		return b, fmt.Errorf("%w: snapshot chunk of %d bytes", ErrFrameTooLarge, len(f.Data))
	}
	var flags byte
	if f.Final {
		flags |= snapshotFinal
	}
	b = binary.BigEndian.AppendUint64(append(b, byte(KindSnapshot)), f.Offset)
	return append(append(b, flags), f.Data...), nil
}

func decodeSnapshot(p []byte) (Frame, error) {
	if len(p) < 9 {
		return nil, fmt.Errorf("%w: snapshot header of %d bytes", ErrBadFrame, len(p))
	}
	flags := p[8]
	if flags&^snapshotFinal != 0 {
		return nil, fmt.Errorf("%w: snapshot flags %#x", ErrBadFrame, flags)
	}
	if len(p)-9 > MaxOutput {
		return nil, fmt.Errorf("%w: snapshot chunk of %d bytes", ErrFrameTooLarge, len(p)-9)
	}
	return Snapshot{
		Offset: binary.BigEndian.Uint64(p),
		Final:  flags&snapshotFinal != 0,
		Data:   clone(p[9:]),
	}, nil
}
