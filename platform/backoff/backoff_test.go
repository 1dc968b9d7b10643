package backoff

import (
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	step := 100 * time.Millisecond
	for i := 0; i < 10; i++ {
		d := b.Next()
		if d < step/2 || d > step+step/2 {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i, d, step/2, step+step/2)
		}
		step = min(step*2, time.Second)
	}
	b.Reset()
	if d := b.Next(); d > 150*time.Millisecond {
		t.Fatalf("after Reset, wait %v", d)
	}
}
