// Package tcp implements Warren's plainest protocol: a byte pipe between two
// connections with half-close, used by the agent to forward a service port to
// its target and by the engine's gateway ports to forward a native client over
// the overlay.
//
// It imports only the standard library; the caller dials (over the kernel or
// the overlay) and hands in both connections.
package tcp

import (
	"errors"
	"io"
	"net"
	"sync"
)

// closeWriter is implemented by *net.TCPConn, gVisor's gonet.TCPConn and
// *tls.Conn: the ability to send FIN while still reading.
type closeWriter interface {
	CloseWrite() error
}

// Join copies a->b and b->a until both directions end, propagating each
// direction's end as a half-close so protocols that signal "done" with a FIN
// keep working. It closes both connections before returning and reports the
// first copy error of each direction (io.EOF and errors caused by our own
// close are not errors). It returns the bytes copied a->b and b->a.
func Join(a, b net.Conn) (aToB, bToA int64, err error) {
	var wg sync.WaitGroup
	var errAB, errBA error
	wg.Add(2)
	go func() {
		defer wg.Done()
		aToB, errAB = pipe(b, a)
	}()
	go func() {
		defer wg.Done()
		bToA, errBA = pipe(a, b)
	}()
	wg.Wait()
	// Both directions are finished; a close error carries nothing for the caller.
	a.Close()
	b.Close()
	return aToB, bToA, errors.Join(errAB, errBA)
}

// pipe copies src to dst, then half-closes dst (or closes it when it cannot
// half-close, and then src too, since the peer can no longer be told).
func pipe(dst, src net.Conn) (int64, error) {
	n, err := io.Copy(dst, src)
	if err != nil && !isClosed(err) {
		// A broken direction breaks the whole flow: unblock the other copy.
		dst.Close()
		src.Close()
		return n, err
	}
	if cw, ok := dst.(closeWriter); ok {
		if cerr := cw.CloseWrite(); cerr != nil && !isClosed(cerr) && err == nil {
			err = cerr
		}
	} else {
		dst.Close()
		src.Close()
	}
	if isClosed(err) {
		err = nil
	}
	return n, err
}

func isClosed(err error) bool {
	return err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)
}
