package attach

import (
	"context"
	"os"
	"os/signal"
)

// signalLoop sends the terminal size when asked or when the terminal is
// resized, and detaches when the terminal hangs up.
func (t *terminal) signalLoop(ctx context.Context) {
	defer t.guard()
	winch, hangup := make(chan os.Signal, 1), make(chan os.Signal, 1)
	notifyResize(winch)
	notifyHangup(hangup)
	defer signal.Stop(winch)
	defer signal.Stop(hangup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hangup:
			t.cancel(errHangup)
			return
		case <-winch:
		case <-t.resize:
		}
		t.sendSize()
	}
}
