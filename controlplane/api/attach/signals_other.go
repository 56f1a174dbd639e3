//go:build !unix

package attach

import "os"

// Without SIGWINCH the size is sent at each attachment only.
func notifyResize(chan<- os.Signal) {}
func notifyHangup(chan<- os.Signal) {}
