//go:build unix

package attach

import (
	"os"
	"os/signal"
	"syscall"
)

func notifyResize(c chan<- os.Signal) { signal.Notify(c, syscall.SIGWINCH) }
func notifyHangup(c chan<- os.Signal) { signal.Notify(c, syscall.SIGHUP) }
