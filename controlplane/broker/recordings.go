package broker

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// Recordings lists the organization's recorded sessions the caller may
// see: every one for organization admins, else their own and those shared
// with them. Ended and live ones alike, newest first.
func (b *Broker) Recordings(ctx context.Context, c Caller, org store.Org) ([]Session, error) {
	scope := "mine"
	if c.OrgAdmin {
		scope = "all"
	}
	return b.List(ctx, c, org, ListFilter{Scope: scope, State: "all", Recorded: true})
}

// Recording is an open recording file: Content holds the asciicast up to
// its last durable point (the whole file once the session ended). The
// caller closes it.
type Recording struct {
	Content io.ReadSeeker
	Size    int64
	ModTime time.Time
	Name    string // a file name for downloads: <session>.cast
	closer  io.Closer
}

// Close closes the file.
func (r *Recording) Close() error { return r.closer.Close() }

// OpenRecording opens the recording of session id for a caller who may see
// the session (view on it or its device, or organization admin).
func (b *Broker) OpenRecording(ctx context.Context, c Caller, org store.Org, id string) (*Recording, error) {
	rs, err := b.visibleSession(ctx, c, org, id)
	if err != nil {
		return nil, err
	}
	if !rs.Recorded {
		return nil, notFound("recording")
	}
	path := RecordingPath(b.cfg.DataDir, rs.OrgID, rs.ID)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, notFound("recording")
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := fi.Size()
	if pos, err := readPos(posPath(path)); err == nil && pos.Length < size {
		size = pos.Length // a recorder is writing past its last durable point
	}
	return &Recording{Content: io.NewSectionReader(f, 0, size), Size: size, ModTime: fi.ModTime(),
		Name: rs.ID + ".cast", closer: f}, nil
}
