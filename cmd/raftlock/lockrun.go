package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

// tokenEnv is the variable that hands the fencing token to lock run's
// command. The lock, the client ID and the store go in the variables that
// the client commands read for --lock, --client-id and --store, so that the
// command's own raftlock calls reach the same lock.
const tokenEnv = envPrefix + "TOKEN"

// defaultGrace is how long a command whose lock was lost has to stop after
// SIGTERM before it is killed.
const defaultGrace = 10 * time.Second

// lockRunOptions are lock run's own flags.
type lockRunOptions struct {
	lockID, clientID string
	ttl              time.Duration
	wait             bool
	waitTimeout      time.Duration
	grace            time.Duration
}

var lockRunCmd = &clientCommand{
	name:     "lock run",
	summary:  "run a command while holding a lock",
	synopsis: "--lock ID [flags] -- COMMAND [ARG...]",
	about: `Takes a lock, runs COMMAND while holding it, and gives it back when COMMAND
exits. The -- before COMMAND is required, so that no flag of COMMAND is
taken for one of raftlock's.

COMMAND runs with raftlock's standard input, output and error, and with
the grant in its environment: RAFTLOCK_TOKEN, the fencing token to send
with every write the lock protects; RAFTLOCK_LOCK, RAFTLOCK_CLIENT_ID and
RAFTLOCK_STORE, which raftlock commands run by COMMAND read for --lock,
--client-id and --store. A lock run inside COMMAND that would inherit both
the lock and the client ID is refused: it would share the grant and give
it back when it ends. Give it another --client-id.

While COMMAND runs, the lease is renewed every third of --ttl. If it is
lost all the same (the store no longer has the grant, or no renewal was
confirmed before the lease ran out by the local clock), COMMAND gets
SIGTERM, and SIGKILL if it still runs --grace later; lock run then reports
the loss in one line and exits with the lock-lost status (79). SIGINT and
SIGTERM sent to lock run are passed on to COMMAND, and the lock is given
back once it exits. (A Ctrl-C at a terminal reaches COMMAND directly too,
so it sees SIGINT twice.)

Exit status: COMMAND's own status, or 128+N when signal N killed it, as
shells report it. lock run's own failures use statuses COMMAND is unlikely
to: 126 when COMMAND could not be started, 127 when it was not found, 79
when the lock was lost, 130 when interrupted before COMMAND started, and
the status of the failure's class (64 and above, see raftlock help) when
the lock could not be taken: 75 when it is held.`,
	takesCommand: true,
	setup: func(fs *flag.FlagSet) action {
		o := new(lockRunOptions)
		lockFlag(fs, &o.lockID)
		ttlFlag(fs, &o.ttl)
		fs.BoolVar(&o.wait, "wait", false, "queue until the lock is granted instead of failing when it is held")
		fs.DurationVar(&o.waitTimeout, "wait-timeout", 0, "with --wait, give up after this `duration` (default: wait until interrupted)")
		fs.StringVar(&o.clientID, "client-id", "", "hold the lock as this client `ID` (default: a new unique one)")
		fs.DurationVar(&o.grace, "grace", defaultGrace, "after the lock is lost, how long the command has to stop after SIGTERM before SIGKILL")
		return func(ctx context.Context, inv *invocation) error { return lockRun(ctx, inv, o) }
	},
}

func lockRun(ctx context.Context, inv *invocation, o *lockRunOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	cmd := exec.Command(inv.args[0], inv.args[1:]...)
	if cmd.Err != nil {
		// Before the lock is taken: a typo must not hold up anyone else.
		return startError(inv.args[0], cmd.Err)
	}
	// From here on SIGINT and SIGTERM are passed on to the command; before
	// it starts they end ctx (see main), which stops a wait.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	c, err := inv.open(ctx)
	if err != nil {
		return err
	}
	h, err := raftlock.NewLockHandle(c, o.lockID, o.clientID)
	if err != nil {
		return err
	}
	renewer, err := raftlock.NewAutoRenewer(h, o.ttl/3, o.ttl)
	if err != nil {
		return err
	}
	if err := o.acquire(ctx, inv, h); err != nil {
		return inv.acquireError(ctx, c, o.lockID, o.wait, err)
	}
	// The lock is given back however this function returns.
	defer inv.giveBack(ctx, h)
	if ctx.Err() != nil {
		return failf(backend.ContextError(ctx, o.lockID), "interrupted before the command started")
	}
	// Renewing must outlive ctx: after a signal, the command is still
	// running under the lock until it exits.
	if _, err := renewer.Start(context.WithoutCancel(ctx)); err != nil {
		return lostError(o.lockID, fmt.Errorf("%w: %w", raftlock.ErrLockLost, err))
	}
	defer renewer.Stop()
	token := h.Token()
	if token == 0 {
		return lostError(o.lockID, fmt.Errorf("%w: the lease ran out before the command started", raftlock.ErrLockLost))
	}

	cmd.Env = commandEnv(inv.store, o.lockID, h.ClientID(), token)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, inv.stdout, inv.stderr
	// Only when the output is not a file does exec copy it: a background
	// child that keeps the pipe open must not keep lock run waiting.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return startError(inv.args[0], err)
	}
	status, lost := supervise(cmd, renewer, sigs, o.grace)
	if lost != nil {
		return lostError(o.lockID, lost)
	}
	return exited(status)
}

// check catches what the flags cannot.
func (o *lockRunOptions) check() error {
	switch {
	case o.lockID == "":
		return usagef("--lock is required")
	case o.waitTimeout < 0:
		return usagef("--wait-timeout must not be negative")
	case o.grace < 0:
		return usagef("--grace must not be negative")
	}
	// A command run by lock run inherits the lock and the client ID in
	// the variables of --lock and --client-id. A lock run inside it with
	// neither flag would be the same holder: the store would answer with
	// the outer grant, and the inner lock run would give it back on exit,
	// under the outer command's feet.
	if os.Getenv(tokenEnv) != "" && o.clientID != "" &&
		o.lockID == os.Getenv(envName("lock")) && o.clientID == os.Getenv(envName("client-id")) {
		return usagef("lock %q is already held as client %q by the lock run this runs under; give another --client-id", o.lockID, o.clientID)
	}
	return nil
}

// acquire takes the lock: at once, or with --wait when it is granted.
func (o *lockRunOptions) acquire(ctx context.Context, inv *invocation, h *raftlock.LockHandle) error {
	var cancel context.CancelFunc
	switch {
	case !o.wait:
		ctx, cancel = inv.bounded(ctx)
	case o.waitTimeout > 0:
		ctx, cancel = context.WithTimeout(ctx, o.waitTimeout)
	default:
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	return h.Acquire(ctx, o.ttl, o.wait)
}

// giveBack releases the lock once the command is done, even after a signal.
// A lock that cannot be released expires after its TTL; the command's
// status is still what lock run exits with.
func (inv *invocation) giveBack(ctx context.Context, h *raftlock.LockHandle) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), inv.timeout)
	defer cancel()
	err := h.Release(rctx)
	if err == nil || errors.Is(err, raftlock.ErrNotHeld) {
		return
	}
	switch raftlock.CodeOf(err) {
	case backend.CodeNotFound, backend.CodeNotLockOwner, backend.CodeVersionMismatch:
		return // the grant had ended already
	}
	fmt.Fprintf(inv.stderr, "raftlock %s: could not release lock %q (the store frees it within --ttl): %s\n",
		inv.name, h.LockID(), errorText(err))
}

// supervise waits for cmd to exit, passing signals on to it, and stops it
// if the renewer reports the lock lost: SIGTERM, then SIGKILL after grace.
// It returns the command's exit status and, if the lock was lost, why.
func supervise(cmd *exec.Cmd, r *raftlock.AutoRenewer, sigs <-chan os.Signal, grace time.Duration) (int, error) {
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the status is in cmd.ProcessState
		close(done)
	}()
	var (
		lost     error
		lostCh   = r.Done()
		killTime <-chan time.Time
	)
	for {
		select {
		case <-done:
			return commandStatus(cmd.ProcessState), lost
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case <-lostCh:
			lostCh = nil
			// The renewer outlives every context it was given, so it only
			// ends on its own when the lease is lost.
			if lost = r.Err(); lost == nil {
				lost = raftlock.ErrLockLost
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			t := time.NewTimer(grace)
			defer t.Stop()
			killTime = t.C
		case <-killTime:
			killTime = nil
			_ = cmd.Process.Kill()
		}
	}
}

// commandStatus is the status a shell reports for a process that ended in
// ps: its exit code, or 128+N when signal N killed it.
func commandStatus(ps *os.ProcessState) int {
	if ps == nil {
		return exitInternal
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitSignalBase + int(ws.Signal())
	}
	return ps.ExitCode()
}

// commandEnv is the environment of lock run's command: raftlock's own,
// with the grant's variables set.
func commandEnv(store, lockID, clientID string, token int64) []string {
	set := map[string]string{
		envName("store"):     store,
		envName("lock"):      lockID,
		envName("client-id"): clientID,
		tokenEnv:             strconv.FormatInt(token, 10),
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		_, ok := set[k]
		return ok
	})
	for _, k := range slices.Sorted(maps.Keys(set)) {
		env = append(env, k+"="+set[k])
	}
	return env
}

// startError is the failure of a command that could not be started, with
// the status a shell gives it.
func startError(name string, err error) error {
	status := exitCannotRun
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		status = exitNoCommand
	}
	return &statusError{msg: fmt.Sprintf("cannot run %q: %s", name, errorText(err)), status: status}
}

// lostError reports a lock lost while its command ran, and why.
func lostError(lockID string, err error) error {
	return failf(err, "lock %q lost: %s; stopped the command", lockID, lossCause(err))
}

// lossCause says why a lease was lost: the cause the renewer's error wraps
// beside raftlock.ErrLockLost, in words for the store's definite answers.
func lossCause(err error) string {
	cause := err
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := u.Unwrap(); len(errs) > 0 {
			cause = errs[len(errs)-1]
		}
	}
	switch raftlock.CodeOf(cause) {
	case backend.CodeNotFound:
		return "the store no longer has the grant (released by force, or expired)"
	case backend.CodeNotLockOwner, backend.CodeVersionMismatch:
		return "the store has granted it to another client"
	}
	if cause == raftlock.ErrLockLost {
		return "the lease ended"
	}
	return errorText(cause)
}
