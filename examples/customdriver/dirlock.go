//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package dirlock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Scheme is the URL scheme the package registers: dirlock:///path/to/dir.
const Scheme = "dirlock"

func init() { backend.Register(Scheme, openURL) }

// The files of a lock directory. Each record is a backend.Lock in JSON.
const (
	mutexFile   = "mutex"   // flocked around every operation; always empty
	versionFile = "version" // the fencing counter of all lock IDs, in decimal
	locksDir    = "locks"   // one record per held lock
)

// caps is what a lock directory can do. No server process can hold a
// waiter, so there is no server-side wait, hence no FIFO and no priorities:
// the raftlock client polls instead. A grant costs two durable writes, a few
// milliseconds on a disk, so a lease much shorter than MinTTL would be spent
// before its Acquire returned. Times are kept to the nanosecond.
var caps = backend.Capabilities{Metadata: true, MinTTL: 100 * time.Millisecond, MaxTTL: 24 * time.Hour}

// Driver is one client of a lock directory. Any number of drivers, in any
// number of processes on the machine, may share a directory. A Driver keeps
// no file open between calls, and is safe for concurrent use.
type Driver struct {
	dir    string
	closed atomic.Bool
}

// Open returns a driver for the lock directory dir, creating it if needed.
func Open(dir string) (*Driver, error) {
	if dir == "" {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "dirlock: no directory given")
	}
	dir, err := filepath.Abs(dir) // a later os.Chdir must not move the store
	if err == nil {
		err = os.MkdirAll(filepath.Join(dir, locksDir), 0o777)
	}
	if err != nil {
		return nil, unavailable("", err)
	}
	return &Driver{dir: dir}, nil
}

// openURL is the backend.Opener for dirlock:///path/to/dir.
func openURL(_ context.Context, u *url.URL, _ backend.OpenOptions) (backend.Driver, error) {
	if u.Opaque != "" || u.Host != "" || u.Path == "" || u.RawQuery != "" {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "dirlock: want dirlock:///path/to/dir, not %s", u.Redacted())
	}
	d, err := Open(filepath.FromSlash(u.Path))
	if err != nil {
		return nil, err // not a nil *Driver inside a non-nil interface
	}
	return d, nil
}

// Capabilities returns what a lock directory can do.
func (d *Driver) Capabilities() backend.Capabilities { return caps }

// Close makes every later call fail with CodeClosed. The driver's locks stay
// held until they expire, as they would if its process had crashed.
func (d *Driver) Close() error {
	d.closed.Store(true)
	return nil
}

// Acquire grants the lock if it is free, returns the current grant if
// req.ClientID holds it already, and fails with CodeLockHeld otherwise, with
// or without req.Wait: the client polls a store that cannot wait.
func (d *Driver) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	if e := backend.ValidateAcquire(req, caps); e != nil {
		return nil, e
	}
	return locked(ctx, d, req.LockID, func(now time.Time) (*backend.AcquireResult, error) {
		cur, err := d.load(d.path(req.LockID), now)
		switch {
		case err != nil:
			return nil, err
		case cur != nil && cur.Owner != req.ClientID:
			return nil, &backend.Error{Code: backend.CodeLockHeld, LockID: req.LockID, Owner: cur.Owner}
		case cur != nil:
			// The holder asking again (a retry, say) gets its grant as it is.
			// That lease began before this request was sent: AlreadyHeld
			// tells the client to renew before counting on it.
			return &backend.AcquireResult{Lock: *cur, AlreadyHeld: true}, nil
		}
		// The counter is durable before the grant exists, so that no crash
		// can make the store hand out one version twice.
		v, err := d.nextVersion(req.LockID)
		if err != nil {
			return nil, err
		}
		l := backend.Lock{LockID: req.LockID, Owner: req.ClientID, Version: v, AcquiredAt: now, ExpiresAt: now.Add(req.TTL)}
		if len(req.Metadata) > 0 {
			l.Metadata = maps.Clone(req.Metadata) // the caller may reuse its map
		}
		return &backend.AcquireResult{Lock: l}, d.save(&l)
	})
}

// Release gives the lock up; only its owner, at its version, may.
func (d *Driver) Release(ctx context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	if e := backend.ValidateRelease(req); e != nil {
		return nil, e
	}
	return locked(ctx, d, req.LockID, func(now time.Time) (*backend.ReleaseResult, error) {
		if _, err := d.owned(req.LockID, req.ClientID, req.Version, now); err != nil {
			return nil, err
		}
		// No fsync: should a crash undo the removal, the record comes back
		// and expires on its own, which is late but never unsafe.
		if err := os.Remove(d.path(req.LockID)); err != nil {
			return nil, unavailable(req.LockID, err)
		}
		return &backend.ReleaseResult{}, nil
	})
}

// Renew sets the lock's expiry to now + req.TTL and keeps its version.
func (d *Driver) Renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	if e := backend.ValidateRenew(req, caps); e != nil {
		return nil, e
	}
	return locked(ctx, d, req.LockID, func(now time.Time) (*backend.Lock, error) {
		l, err := d.owned(req.LockID, req.ClientID, req.Version, now)
		if err != nil {
			return nil, err
		}
		l.ExpiresAt = now.Add(req.TTL)
		return l, d.save(l)
	})
}

// Get describes one lock; CodeNotFound when nobody holds it.
func (d *Driver) Get(ctx context.Context, req *backend.GetRequest) (*backend.LockInfo, error) {
	if e := backend.ValidateGet(req); e != nil {
		return nil, e
	}
	return locked(ctx, d, req.LockID, func(now time.Time) (*backend.LockInfo, error) {
		l, err := d.load(d.path(req.LockID), now)
		if err == nil && l == nil {
			err = notFound(req.LockID)
		}
		if err != nil {
			return nil, err
		}
		return &backend.LockInfo{Lock: *l, Held: true}, nil
	})
}

// List reads every record (their file names are hashes, in no useful
// order), then filters and pages them with backend.MatchFilter and Page.
func (d *Driver) List(ctx context.Context, req *backend.ListRequest) (*backend.ListResult, error) {
	if e := backend.ValidateList(req); e != nil {
		return nil, e
	}
	matches, err := locked(ctx, d, "", func(now time.Time) ([]backend.LockInfo, error) {
		entries, err := os.ReadDir(filepath.Join(d.dir, locksDir))
		if err != nil {
			return nil, unavailable("", err)
		}
		var out []backend.LockInfo
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".json") {
				continue // a temporary file that a crash left behind
			}
			l, err := d.load(filepath.Join(d.dir, locksDir, e.Name()), now)
			if err != nil {
				return nil, err
			}
			if l == nil {
				continue // expired
			}
			if info := (backend.LockInfo{Lock: *l, Held: true}); backend.MatchFilter(&req.Filter, &info) {
				out = append(out, info)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(matches, func(a, b backend.LockInfo) int { return strings.Compare(a.LockID, b.LockID) })
	return backend.Page(matches, req)
}

// locked runs fn holding the directory's exclusive flock, with the store's
// clock read inside it, so that all processes see one order of events.
func locked[T any](ctx context.Context, d *Driver, lockID string, fn func(now time.Time) (T, error)) (T, error) {
	var zero T
	if d.closed.Load() {
		return zero, errClosed
	}
	// A new open file per call: a flock belongs to an open file, so calls
	// sharing one would not exclude each other. Closing it unlocks, and so
	// does the death of the process: a crash cannot wedge the store.
	f, err := os.OpenFile(filepath.Join(d.dir, mutexFile), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return zero, unavailable(lockID, err)
	}
	defer f.Close()
	for err = syscall.EINTR; err == syscall.EINTR; { // a signal may cut the wait short
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	switch { // Close, or the caller's deadline, may have come during the wait
	case err != nil:
		return zero, unavailable(lockID, os.NewSyscallError("flock", err))
	case d.closed.Load():
		return zero, errClosed
	case ctx.Err() != nil:
		return zero, backend.ContextError(ctx, lockID)
	}
	res, err := fn(time.Now().UTC()) // UTC drops the monotonic reading, which is per process
	if err != nil {
		return zero, err
	}
	return res, nil
}

// owned returns lockID's grant if clientID holds it at version, and the
// contract's error otherwise.
func (d *Driver) owned(lockID, clientID string, version int64, now time.Time) (*backend.Lock, error) {
	l, err := d.load(d.path(lockID), now)
	switch {
	case err != nil:
		return nil, err
	case l == nil:
		return nil, notFound(lockID)
	case l.Owner != clientID:
		return nil, &backend.Error{Code: backend.CodeNotLockOwner, LockID: lockID, Message: "held by another client"}
	case l.Version != version:
		return nil, &backend.Error{Code: backend.CodeVersionMismatch, LockID: lockID,
			Message: fmt.Sprintf("held at version %d, not %d", l.Version, version)}
	}
	return l, nil
}

// load reads a record, nil when the lock is free: when there is no record,
// or an expired one, which load deletes. Expiry is lazy, and exact, because
// the clock is read under the flock: a grant made at t with TTL ttl is held
// until t+ttl, never less.
func (d *Driver) load(name string, now time.Time) (*backend.Lock, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, unavailable("", err)
	}
	l := new(backend.Lock)
	if err := json.Unmarshal(b, l); err != nil {
		return nil, corrupt(name, err)
	}
	if now.Before(l.ExpiresAt) {
		return l, nil
	}
	if err := os.Remove(name); err != nil {
		return nil, unavailable(l.LockID, err)
	}
	return nil, nil
}

// save writes l as its lock's record.
func (d *Driver) save(l *backend.Lock) error {
	name := d.path(l.LockID)
	b, err := json.Marshal(l)
	if err != nil {
		return corrupt(name, err)
	}
	return writeFile(name, b, l.LockID)
}

// nextVersion increments the store-wide fencing counter. One counter for
// all lock IDs keeps each ID's versions rising, although its record is gone
// between grants.
func (d *Driver) nextVersion(lockID string) (int64, error) {
	name := filepath.Join(d.dir, versionFile)
	b, err := os.ReadFile(name)
	var v int64 // a new store has no counter yet
	if err == nil {
		if v, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || v < 0 {
			return 0, corrupt(name, fmt.Errorf("fencing counter %q", b))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, unavailable(lockID, err)
	}
	v++
	return v, writeFile(name, strconv.AppendInt(nil, v, 10), lockID)
}

// path is the record file of lockID. An ID may be 256 bytes of any UTF-8,
// so the name is a hash: short, portable, safe on case-insensitive disks.
func (d *Driver) path(lockID string) string {
	sum := sha256.Sum256([]byte(lockID))
	return filepath.Join(d.dir, locksDir, hex.EncodeToString(sum[:])+".json")
}

// writeFile replaces name with data atomically (readers see the old file or
// the new one, never a part) and durably (the file is synced, then the
// directory that holds the rename) before it returns.
func writeFile(name string, data []byte, lockID string) error {
	tmp := name + ".tmp" // only the flock holder writes, so one temporary name will do
	f, err := os.Create(tmp)
	if err == nil {
		_, err = f.Write(data)
		err = errors.Join(err, f.Sync(), f.Close())
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err == nil {
		if f, err = os.Open(filepath.Dir(name)); err == nil {
			err = errors.Join(f.Sync(), f.Close())
		}
	}
	if err != nil {
		return unavailable(lockID, err)
	}
	return nil
}

// errClosed is the answer to every call after Close.
var errClosed = backend.Errorf(backend.CodeClosed, "dirlock: the driver is closed")

func notFound(lockID string) error {
	return &backend.Error{Code: backend.CodeNotFound, LockID: lockID, Message: "nobody holds the lock"}
}

// unavailable reports a failed file system call, which the client may retry:
// a failed operation leaves the store as it was, or as if it had succeeded.
func unavailable(lockID string, err error) error {
	return &backend.Error{Code: backend.CodeUnavailable, LockID: lockID, Message: err.Error(), Err: err}
}

// corrupt reports a file this package did not write as it is: no retry can
// help, a person must repair the directory.
func corrupt(name string, err error) error {
	return &backend.Error{Code: backend.CodeInternal, Message: name + ": " + err.Error(), Err: err}
}
