package agent

import (
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	for n := -1; n < 70; n++ {
		d := min(backoffCap, backoffBase<<max(n, 0))
		if n > 20 {
			d = backoffCap
		}
		for range 200 {
			got := backoff(n)
			if got < d/2 || got >= d {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v)", n, got, d/2, d)
			}
		}
	}
}

func TestBackoffGrowsToCap(t *testing.T) {
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	for n, d := range want {
		if got := backoff(n); got < d/2 || got >= d {
			t.Errorf("backoff(%d) = %v, want in [%v, %v)", n, got, d/2, d)
		}
	}
}

func TestBackoffJitters(t *testing.T) {
	seen := make(map[time.Duration]bool)
	for range 100 {
		seen[backoff(3)] = true
	}
	if len(seen) < 10 {
		t.Errorf("backoff(3) took %d distinct values in 100 draws, want jitter", len(seen))
	}
}
