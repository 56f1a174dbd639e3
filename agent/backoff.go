package agent

import (
	"math/rand/v2"
	"time"
)

// Reconnect backoff for the netmap stream.
const (
	backoffBase = 250 * time.Millisecond
	backoffCap  = 3 * time.Second
)

// backoff returns how long to wait before reconnect attempt n (0-based):
// d = min(backoffCap, backoffBase<<n), then a random duration in [d/2, d).
// The cap is low because agents must be back within seconds of an engine
// restart; the jitter spreads a fleet's reconnects after one.
func backoff(n int) time.Duration {
	if n < 0 {
		n = 0
	}
	d := backoffCap
	if n < 16 && backoffBase<<n < backoffCap {
		d = backoffBase << n
	}
	half := d / 2
	return half + rand.N(d-half)
}
