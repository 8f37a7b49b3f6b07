package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

// defaultTTL is the lease a lock is taken or renewed for when --ttl is not
// given.
const defaultTTL = 30 * time.Second

// lockCommands are the subcommands of raftlock lock.
func lockCommands() []command {
	return []command{
		lockRunCmd.command(),
		lockAcquireCmd.command(),
		lockReleaseCmd.command(),
		lockRenewCmd.command(),
	}
}

// lockFlag defines --lock, which every lock subcommand requires.
func lockFlag(fs *flag.FlagSet, lockID *string) {
	fs.StringVar(lockID, "lock", "", "the lock's `ID` (required)")
}

func ttlFlag(fs *flag.FlagSet, ttl *time.Duration) {
	fs.DurationVar(ttl, "ttl", defaultTTL, "the lease: the store frees the lock this `duration` after the last grant or renewal")
}

// requireLock checks --lock.
func requireLock(lockID string) error {
	if lockID == "" {
		return usagef("--lock is required")
	}
	return nil
}

var lockAcquireCmd = &clientCommand{
	name:     "lock acquire",
	summary:  "take a lock and print its client ID and fencing token",
	synopsis: "--lock ID [flags]",
	about: `Takes a lock and prints the grant: the client ID it is held as, its version
(the fencing token: send it with every write the lock protects) and when
the store will expire it. The lock stays held after the command exits,
until lock release gives it back or its --ttl passes without a lock renew;
both need the client ID and the version printed here.

Without --wait, a lock held by another client fails at once with the held
status, naming the holder. With --wait, the command queues until the lock
is granted, --wait-timeout passes (held status) or it is interrupted (it
then leaves the queue holding nothing).

Acquiring again with the client ID that holds the lock returns the same
grant, renewed: the same version, not a second hold.`,
	nargs:  [2]int{0, 0},
	output: true,
	setup: func(fs *flag.FlagSet) action {
		var (
			lockID, clientID string
			ttl, waitTimeout time.Duration
			wait             bool
		)
		lockFlag(fs, &lockID)
		ttlFlag(fs, &ttl)
		fs.BoolVar(&wait, "wait", false, "queue until the lock is granted instead of failing when it is held")
		fs.DurationVar(&waitTimeout, "wait-timeout", 0, "with --wait, give up after this `duration` (default: wait until interrupted)")
		fs.StringVar(&clientID, "client-id", "", "hold the lock as this client `ID` (default: a new unique one)")
		return func(ctx context.Context, inv *invocation) error {
			if err := requireLock(lockID); err != nil {
				return err
			}
			if waitTimeout < 0 {
				return usagef("--wait-timeout must not be negative")
			}
			if clientID == "" {
				clientID = raftlock.NewClientID()
			}
			c, err := inv.open(ctx)
			if err != nil {
				return err
			}
			actx, cancel := ctx, context.CancelFunc(func() {})
			if !wait {
				// A wait is bounded by --wait-timeout alone.
				actx, cancel = inv.bounded(ctx)
			}
			defer cancel()
			res, err := c.Acquire(actx, &raftlock.AcquireRequest{
				LockID: lockID, ClientID: clientID, TTL: ttl, Wait: wait, WaitTimeout: waitTimeout,
			})
			if err != nil {
				return inv.acquireError(ctx, c, lockID, wait, err)
			}
			return inv.printGrant(&res.Lock)
		}
	},
}

// acquireError turns a failed Acquire into what its user needs to know: who
// holds the lock. A wait that ran out of --wait-timeout counts as held: the
// lock was held all along.
func (inv *invocation) acquireError(ctx context.Context, c *raftlock.Client, lockID string, wait bool, err error) error {
	switch raftlock.CodeOf(err) {
	case backend.CodeLockHeld:
		return failf(err, "lock %q is held by %s", lockID, holderOf(ctx, c, lockID, err))
	case backend.CodeTimeout:
		if wait {
			held := &backend.Error{Code: backend.CodeLockHeld, LockID: lockID, Err: err}
			return failf(held, "lock %q is still held by %s: --wait-timeout passed", lockID, holderOf(ctx, c, lockID, err))
		}
	case backend.CodeCanceled:
		if wait {
			return failf(err, "interrupted while waiting for lock %q; left its queue", lockID)
		}
	}
	return err
}

// holderOf names the holder of lockID for an error message: from err when
// the store said, else by asking it (briefly, and even after ctx ended).
func holderOf(ctx context.Context, c *raftlock.Client, lockID string, err error) string {
	var e *raftlock.Error
	if errors.As(err, &e) && e.Owner != "" {
		return strconv.Quote(e.Owner)
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if info, err := c.GetLockInfo(qctx, &raftlock.GetLockInfoRequest{LockID: lockID}); err == nil && info.Held {
		return strconv.Quote(info.Owner)
	}
	return "another client"
}

// printGrant prints a grant just made or renewed.
func (inv *invocation) printGrant(l *backend.Lock) error {
	if inv.json {
		return writeJSON(inv.stdout, grantView(l))
	}
	return fields(inv.stdout,
		"lock", l.LockID,
		"client-id", l.Owner,
		"version", strconv.FormatInt(l.Version, 10),
		"acquired", showTime(l.AcquiredAt),
		"expires", showTime(l.ExpiresAt),
	)
}

// forceReleaser is implemented by the drivers of stores whose operators
// may free a lock whoever holds it. It returns the grant it ended.
type forceReleaser interface {
	ForceRelease(ctx context.Context, lockID string) (*backend.Lock, error)
}

// releaseJSON is the JSON of lock release.
type releaseJSON struct {
	LockID    string `json:"lock_id"`
	ClientID  string `json:"client_id"` // the holder whose grant ended
	Version   int64  `json:"version"`
	Forced    bool   `json:"forced"`
	NextOwner string `json:"next_owner"` // the waiter it was handed to; "" for none or unknown
}

var lockReleaseCmd = &clientCommand{
	name:     "lock release",
	summary:  "give a lock back, or force-release it",
	synopsis: "--lock ID --client-id ID --version N [flags]\n       raftlock lock release --force --lock ID [flags]",
	about: `Gives a lock back: only its holder may, at the version it was granted
(what lock acquire printed), so that a stale holder never frees a later
grant. The lock goes to the first waiter in its queue, if any.

With --force, an operator frees the lock whoever holds it, without its
client ID or version; the holder learns of it at its next renewal. Only
stores that offer it can (the not-supported status otherwise). --force is
never read from the environment.`,
	nargs:  [2]int{0, 0},
	output: true,
	setup: func(fs *flag.FlagSet) action {
		var (
			lockID, clientID string
			version          int64
			force            commandLineOnly
		)
		lockFlag(fs, &lockID)
		fs.StringVar(&clientID, "client-id", "", "the holder's client `ID` (required without --force)")
		fs.Int64Var(&version, "version", 0, "the grant's version, its fencing `token` (required without --force)")
		fs.Var(&force, "force", "free the lock whoever holds it (operators; not every store)")
		return func(ctx context.Context, inv *invocation) error {
			if err := requireLock(lockID); err != nil {
				return err
			}
			if force {
				if version != 0 {
					return usagef("--force frees whatever grant the lock has: it takes no --version")
				}
				return inv.forceRelease(ctx, lockID)
			}
			if clientID == "" || version == 0 {
				return usagef("--client-id and --version are required (or --force)")
			}
			ctx, c, cancel, err := inv.connect(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := c.Release(ctx, &raftlock.ReleaseRequest{LockID: lockID, ClientID: clientID, Version: version})
			if err != nil {
				return err
			}
			return inv.printRelease(releaseJSON{LockID: lockID, ClientID: clientID, Version: version, NextOwner: res.NextOwner})
		}
	},
}

// forceRelease frees lockID through the store's driver, whoever holds it.
func (inv *invocation) forceRelease(ctx context.Context, lockID string) error {
	if e := backend.ValidateID("lock ID", lockID); e != nil {
		return e
	}
	ctx, c, cancel, err := inv.connect(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	fr, ok := c.Driver().(forceReleaser)
	if !ok {
		return backend.Errorf(backend.CodeNotSupported, "the store at %s has no force-release", inv.store)
	}
	old, err := retryDriver(ctx, func(ctx context.Context) (*backend.Lock, error) {
		return fr.ForceRelease(ctx, lockID)
	})
	if err != nil {
		return err
	}
	v := releaseJSON{LockID: lockID, Forced: true}
	if old != nil {
		v.ClientID, v.Version = old.Owner, old.Version
	}
	return inv.printRelease(v)
}

func (inv *invocation) printRelease(v releaseJSON) error {
	if inv.json {
		return writeJSON(inv.stdout, v)
	}
	verb := "released"
	if v.Forced {
		verb = "force-released"
	}
	line := fmt.Sprintf("%s lock %q", verb, v.LockID)
	if v.ClientID != "" {
		line += fmt.Sprintf(" (held by %q at version %d)", v.ClientID, v.Version)
	}
	if v.NextOwner != "" {
		line += fmt.Sprintf("; now held by %q", v.NextOwner)
	}
	_, err := fmt.Fprintln(inv.stdout, line)
	return err
}

var lockRenewCmd = &clientCommand{
	name:     "lock renew",
	summary:  "extend a held lock's lease",
	synopsis: "--lock ID --client-id ID --version N [flags]",
	about: `Extends a held lock's lease to --ttl from now, keeping its version, and
prints the grant as lock acquire does. Only the holder may, at the version
it was granted; a lock that expired or was released cannot be renewed
(the not-found or not-owner status): acquire it again.`,
	nargs:  [2]int{0, 0},
	output: true,
	setup: func(fs *flag.FlagSet) action {
		var (
			lockID, clientID string
			version          int64
			ttl              time.Duration
		)
		lockFlag(fs, &lockID)
		fs.StringVar(&clientID, "client-id", "", "the holder's client `ID` (required)")
		fs.Int64Var(&version, "version", 0, "the grant's version, its fencing `token` (required)")
		ttlFlag(fs, &ttl)
		return func(ctx context.Context, inv *invocation) error {
			if err := requireLock(lockID); err != nil {
				return err
			}
			if clientID == "" || version == 0 {
				return usagef("--client-id and --version are required")
			}
			ctx, c, cancel, err := inv.connect(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := c.Renew(ctx, &raftlock.RenewRequest{LockID: lockID, ClientID: clientID, Version: version, TTL: ttl})
			if err != nil {
				return err
			}
			return inv.printGrant(&res.Lock)
		}
	},
}
