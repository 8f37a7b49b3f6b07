package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

// Exit statuses of the client commands: every command but serve and help.
// Each class of failure has its own status, so that a script can tell a
// lock that is taken from a store that is down without reading stderr.
// They follow sysexits(3) where it has a fitting code and all lie above 63,
// because lock run exits with its command's own status: a command's
// everyday 1 or 2 must not read as one of raftlock's failures.
const (
	exitBadInput     = 64  // EX_USAGE: bad command line, store URL, ID or TTL
	exitNotFound     = 66  // EX_NOINPUT: nobody holds or waits for the lock
	exitUnavailable  = 69  // EX_UNAVAILABLE: store unreachable, no leader, no answer in time
	exitInternal     = 70  // EX_SOFTWARE: a failure of no other class
	exitHeld         = 75  // EX_TEMPFAIL: another client holds the lock; try again later
	exitNotOwner     = 77  // EX_NOPERM: not the holder, or not at that version
	exitNotSupported = 78  // EX_CONFIG: the store cannot do that
	exitLockLost     = 79  // lock run: the lease ended while the command ran
	exitCannotRun    = 126 // lock run: the command exists but could not be started (as shells do)
	exitNoCommand    = 127 // lock run: the command was not found (as shells do)
	exitSignalBase   = 128 // lock run: the command was killed by signal N: 128+N (as shells do)
	exitInterrupted  = 130 // SIGINT or SIGTERM stopped the command before it was done
)

// exitStatusHelp is the table of exit statuses, for raftlock help.
const exitStatusHelp = `Exit status:

serve and help exit 0 on success, 1 on failure and 2 for a bad command line.
The other commands exit 0 on success and otherwise with the status of the
failure's class, the same for every command:

	64   bad input: a bad flag or argument, an unknown store scheme, an ID or
	     TTL the store refused
	66   not found: nobody holds or waits for the lock
	69   unavailable: the store cannot be reached, has no leader, or did not
	     answer within --timeout
	70   any other failure
	75   held: another client holds the lock (also when it still did once
	     --wait-timeout ran out), or its wait queue is full
	77   not owner: the client does not hold the lock, or not at --version
	78   not supported: the store cannot do that (membership outside a Raft
	     store, force-release where the store has none)
	79   lock lost (lock run): the lease ended while the command ran, and the
	     command was stopped
	130  interrupted by SIGINT or SIGTERM

lock run otherwise exits with its command's status: 128+N when a signal N
killed it, 126 when it could not be started and 127 when it was not found,
as shells do.
`

// usageError is a command line that cannot work: nothing was sent to the
// store.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef makes a usageError.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// statusError is a failure whose exit status is its own rather than its
// class's: lock run's command that could not be started.
type statusError struct {
	msg    string
	status int
}

func (e *statusError) Error() string { return e.msg }

// exitStatus is the exit status of a client command that failed with err.
func exitStatus(err error) int {
	var ue *usageError
	var se *statusError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &se):
		return se.status
	case errors.As(err, &ue):
		return exitBadInput
	case errors.Is(err, raftlock.ErrLockLost):
		// Before the codes: a loss wraps its cause, often "not found".
		return exitLockLost
	}
	code := raftlock.CodeOf(err)
	var re *raftlock.Error
	if code == backend.CodeUnknown && errors.As(err, &re) {
		code = re.Code // a client error that wraps no driver error
	}
	switch code {
	case backend.CodeInvalidArgument, backend.CodeInvalidTTL:
		return exitBadInput
	case backend.CodeNotFound:
		return exitNotFound
	case backend.CodeLockHeld, backend.CodeWaitQueueFull:
		return exitHeld
	case backend.CodeNotLockOwner, backend.CodeVersionMismatch:
		return exitNotOwner
	case backend.CodeTimeout, backend.CodeLeaderUnavailable, backend.CodeUnavailable,
		backend.CodeRateLimit, backend.CodeNotLeader, backend.CodeResourceExhausted, backend.CodeClosed:
		return exitUnavailable
	case backend.CodeNotSupported:
		return exitNotSupported
	case backend.CodeCanceled:
		return exitInterrupted
	}
	return exitInternal
}

// failure is an error with a message of the command's own, classified by
// the error it wraps.
type failure struct {
	msg string
	err error
}

func (f *failure) Error() string { return f.msg }
func (f *failure) Unwrap() error { return f.err }

// failf makes a failure of err with a formatted message.
func failf(err error, format string, args ...any) error {
	return &failure{msg: fmt.Sprintf(format, args...), err: err}
}

// errorText is err as one line for people. The client's errors lose their
// "raftlock: " and operation prefixes, which the command's own prefix
// replaces.
func errorText(err error) string {
	switch e := err.(type) {
	case *failure:
		return oneLine(e.msg)
	case *raftlock.Error:
		if e.Err != nil {
			err = e.Err
		}
	}
	s := err.Error()
	const p = "raftlock: "
	for len(s) > len(p) && s[:len(p)] == p {
		s = s[len(p):]
	}
	return oneLine(s)
}

// oneLine keeps the first line of s: an error is reported in one line.
func oneLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			return s[:i]
		}
	}
	return s
}

// report writes "raftlock NAME: message" to w and returns the exit status
// of err's class.
func report(w io.Writer, name string, err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "raftlock %s: %s (see raftlock %s -h)\n", name, ue.msg, name)
		return exitBadInput
	}
	fmt.Fprintf(w, "raftlock %s: %s\n", name, errorText(err))
	return exitStatus(err)
}
