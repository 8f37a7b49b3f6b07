// Package faultdriver wraps a backend.Driver so that a test can make the
// store misbehave on command: fail the next few calls, answer late, or stop
// answering at all.
//
// It is for tests of the code above the driver contract (lock handles,
// auto-renewers, elections, the client's retries), which must be exercised
// against a real store while its renewals fail, lag or hang. Wrap the
// in-memory store's driver, hand the wrapper to raftlock.NewClient, and
// steer it from the test:
//
//	fd := faultdriver.Wrap(store.NewDriver())
//	client, _ := raftlock.NewClient(fd, cfg)
//	...
//	fd.Hang(faultdriver.Renew)        // the store stops answering renewals
//	for fd.Blocked(faultdriver.Renew) == 0 {
//		time.Sleep(time.Millisecond)  // until a renewal is in flight
//	}
//	...
//	fd.Clear()                        // the store is back
//
// With no fault set the wrapper forwards every call unchanged, so it keeps
// every promise of the contract that the wrapped driver keeps. A fault that
// stops a call (Fail, or a Hang or Delay cut short by ctx) stops it before
// it reaches the store, so the store's state shows exactly which calls went
// through.
package faultdriver
