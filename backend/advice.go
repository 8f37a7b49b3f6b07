package backend

import "time"

// The backoff AdviseBackoff gives, per unit of contention.
const (
	adviceBase       = 5 * time.Millisecond
	adviceInitialCap = 500 * time.Millisecond
	adviceMaxCap     = 10 * time.Second
)

// AdviseBackoff is the advice a store gives for a lock with the given
// contention: the holder plus each waiter (0 for a free lock). Each unit
// adds 5ms to the initial backoff (up to 500ms), the maximum is twenty times
// the initial one (up to 10s), and the jitter grows with contention (up to
// ±50%), so that many pollers spread out. Stores use it so that a client
// backs off alike whichever store it polls.
func AdviseBackoff(contention int) *BackoffAdvice {
	c := time.Duration(min(max(contention, 0), 1000))
	initial := min(adviceBase*(1+c), adviceInitialCap)
	return &BackoffAdvice{
		InitialBackoff: initial,
		MaxBackoff:     min(20*initial, adviceMaxCap),
		Multiplier:     2,
		JitterFactor:   min(0.2+0.05*float64(c), 0.5),
	}
}
