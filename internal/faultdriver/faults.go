package faultdriver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Op names the kind of call a fault applies to.
type Op uint8

// The kinds of call. Any stands for every kind: a fault set for Any applies
// to every call, and Calls(Any) and Blocked(Any) count calls of all kinds.
const (
	Acquire    Op = iota // Driver.Acquire
	Release              // Driver.Release
	Renew                // Driver.Renew
	Get                  // Driver.Get
	List                 // Driver.List
	Enqueue              // Queuer.Enqueue
	CancelWait           // Queuer.CancelWait
	Admin                // Admin.Status, Admin.Health and Admin.BackoffAdvice
	Any                  // every call
	numOps
)

var opNames = [numOps]string{
	Acquire:    "Acquire",
	Release:    "Release",
	Renew:      "Renew",
	Get:        "Get",
	List:       "List",
	Enqueue:    "Enqueue",
	CancelWait: "CancelWait",
	Admin:      "Admin",
	Any:        "Any",
}

// String returns the op's name, as in test failure messages.
func (op Op) String() string {
	if op < numOps {
		return opNames[op]
	}
	return fmt.Sprintf("Op(%d)", uint8(op))
}

// fault is what is set for one Op.
type fault struct {
	err   error
	times int // calls left to fail with err; negative: until cleared
	delay time.Duration
	hang  bool
}

// table holds the faults, hooks and counters of one Driver. A call of op is
// subject to the faults set for op and to those set for Any.
type table struct {
	mu      sync.Mutex
	faults  [numOps]fault
	hooks   [numOps]func()
	calls   [numOps]int
	blocked [numOps]int
	// wake is closed, and replaced, whenever a hang may have been lifted, so
	// that every hung call looks again without a waiter list to maintain.
	wake   chan struct{}
	done   chan struct{} // closed by close
	closed bool
	// active counts calls inside before, so that close can wait until the
	// calls it woke have left.
	active sync.WaitGroup
}

func (t *table) init() {
	t.wake = make(chan struct{})
	t.done = make(chan struct{})
}

// broadcast wakes every hung call so that it checks its fault again. The
// caller holds t.mu.
func (t *table) broadcast() {
	close(t.wake)
	t.wake = make(chan struct{})
}

// before runs at the start of a call of op about lockID: it counts the
// call, runs the hooks, and applies the faults in the order a real outage
// would show them (the request does not get through, then it is slow, then
// it fails). A non-nil result is the call's answer; nil lets the call
// through to the wrapped driver.
func (t *table) before(ctx context.Context, op Op, lockID string) error {
	t.mu.Lock()
	t.calls[op]++
	t.calls[Any]++
	hook, anyHook := t.hooks[op], t.hooks[Any]
	t.mu.Unlock()
	// Outside the mutex, so that a hook may set faults or read counters.
	if hook != nil {
		hook()
	}
	if anyHook != nil {
		anyHook()
	}

	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return closedError(lockID)
	}
	t.active.Add(1)
	defer t.active.Done()
	if err := t.waitHung(ctx, op, lockID); err != nil {
		t.mu.Unlock()
		return err
	}
	delay := t.faults[op].delay
	if delay == 0 {
		delay = t.faults[Any].delay
	}
	t.mu.Unlock()

	if delay > 0 {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return backend.ContextError(ctx, lockID)
		case <-t.done:
			return closedError(lockID)
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return closedError(lockID)
	}
	// A fault set for the op itself is used up before one set for Any.
	for _, o := range [...]Op{op, Any} {
		f := &t.faults[o]
		if f.times == 0 {
			continue
		}
		if f.times > 0 {
			f.times--
		}
		return f.err
	}
	return nil
}

// waitHung blocks while op is hung. It is called, and returns, with t.mu
// held.
func (t *table) waitHung(ctx context.Context, op Op, lockID string) error {
	if !t.faults[op].hang && !t.faults[Any].hang {
		return nil
	}
	t.blocked[op]++
	t.blocked[Any]++
	defer func() {
		t.blocked[op]--
		t.blocked[Any]--
	}()
	for {
		switch {
		case t.closed:
			return closedError(lockID)
		case !t.faults[op].hang && !t.faults[Any].hang:
			return nil
		}
		wake := t.wake
		t.mu.Unlock()
		select {
		case <-wake:
			t.mu.Lock()
		case <-ctx.Done():
			t.mu.Lock()
			return backend.ContextError(ctx, lockID)
		}
	}
}

// close wakes every call held by a fault, makes every later call fail with
// CodeClosed, and waits until the woken calls have returned from before. It
// reports whether this was the first close.
func (t *table) close() bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	t.closed = true
	close(t.done)
	t.broadcast()
	t.mu.Unlock()
	t.active.Wait()
	return true
}

// closedError is the answer of a call that the wrapper's Close stopped or
// that came after it, as the contract requires of a closed driver.
func closedError(lockID string) *backend.Error {
	return &backend.Error{Code: backend.CodeClosed, LockID: lockID, Message: "faultdriver: driver closed"}
}

// set runs f on op's fault with the mutex held; it ignores an op out of
// range, so that a bad argument costs a test a fault rather than a panic.
func (d *Driver) set(op Op, f func(*fault)) {
	if op >= numOps {
		return
	}
	d.table.mu.Lock()
	defer d.table.mu.Unlock()
	f(&d.table.faults[op])
}

// Fail makes the next times calls of op fail with err without reaching the
// store; a negative times makes every call fail until Clear or another Fail
// for op, and 0 removes the failure. A nil err stands for a retryable
// CodeUnavailable error, the usual answer of an unreachable store; pass a
// CodeNotFound *backend.Error to make a Renew report the lock lost.
//
// The err is returned as it is, the same value to every call: a test that
// passes something other than a *backend.Error checks how the code above
// copes with a driver that breaks the contract.
func (d *Driver) Fail(op Op, err error, times int) {
	if err == nil {
		err = &backend.Error{Code: backend.CodeUnavailable, Message: "faultdriver: injected failure"}
	}
	d.set(op, func(f *fault) {
		f.err, f.times = err, times
		if times == 0 {
			f.err = nil
		}
	})
}

// Delay makes each call of op wait dur before it goes on. A call whose ctx
// ends first fails with backend.ContextError (CodeCanceled or CodeTimeout)
// without reaching the store. A delay set for op replaces one set for Any;
// a dur of 0 or less removes it.
func (d *Driver) Delay(op Op, dur time.Duration) {
	d.set(op, func(f *fault) { f.delay = max(dur, 0) })
}

// Hang makes calls of op block, as if the store had stopped answering,
// until their ctx is done (they then fail with backend.ContextError, never
// having reached the store), until Unhang or Clear (they then go on to the
// store), or until Close (they then fail with CodeClosed). A call hangs if
// its op or Any is hung. A call already in the store when Hang is set is
// not affected.
func (d *Driver) Hang(op Op) {
	d.set(op, func(f *fault) { f.hang = true })
}

// Unhang lets the calls blocked by Hang(op), and later calls of op, through,
// unless Any is still hung.
func (d *Driver) Unhang(op Op) {
	if op >= numOps {
		return
	}
	d.table.mu.Lock()
	defer d.table.mu.Unlock()
	d.table.faults[op].hang = false
	d.table.broadcast()
}

// Clear removes every fault and lets every hung call through. It keeps the
// counters and the OnCall hooks.
func (d *Driver) Clear() {
	d.table.mu.Lock()
	defer d.table.mu.Unlock()
	d.table.faults = [numOps]fault{}
	d.table.broadcast()
}

// OnCall sets f to run at the start of each call of op, before any fault
// applies: a test learns from it the moment a renewal is sent. f runs on
// the caller's goroutine, possibly on several at once, and may set faults;
// it must not call Close. A nil f removes the hook. A hook set for op runs
// before one set for Any.
func (d *Driver) OnCall(op Op, f func()) {
	if op >= numOps {
		return
	}
	d.table.mu.Lock()
	defer d.table.mu.Unlock()
	d.table.hooks[op] = f
}

// Calls returns how many calls of op the wrapper has seen, whatever became
// of them; Calls(Any) counts calls of every kind. Calls the wrapped driver
// does not support (see Driver) are not counted.
func (d *Driver) Calls(op Op) int {
	if op >= numOps {
		return 0
	}
	d.table.mu.Lock()
	defer d.table.mu.Unlock()
	return d.table.calls[op]
}

// Blocked returns how many calls of op are blocked by a hang right now;
// Blocked(Any) counts them all. A test polls it to know that a call is in
// flight before it acts.
func (d *Driver) Blocked(op Op) int {
	if op >= numOps {
		return 0
	}
	d.table.mu.Lock()
	defer d.table.mu.Unlock()
	return d.table.blocked[op]
}
