package chaos

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"go.uber.org/goleak"

	"github.com/raftlock/raftlock/backend"
	_ "github.com/raftlock/raftlock/memory"
	_ "github.com/raftlock/raftlock/raftbackend"
)

// runWorkload runs a workload for d, with CheckAnchors called halfway
// through, and returns it and that call's error once Run has returned.
func runWorkload(t *testing.T, cfg WorkloadConfig, d time.Duration) (*Workload, error) {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	w, err := NewWorkload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var midway error
	var wg sync.WaitGroup
	wg.Go(func() {
		if sleepCtx(ctx, d/2) {
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			midway = w.CheckAnchors(cctx)
		}
	})
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return w, midway
}

// workloadConfig is a short run's configuration: a TTL short enough that
// leases expire within the run.
func workloadConfig(storeURL string) WorkloadConfig {
	return WorkloadConfig{
		StoreURL:         storeURL,
		Clients:          16,
		HotLocks:         3,
		ColdLocks:        40,
		TTL:              400 * time.Millisecond,
		Anchors:          3,
		Seed:             1,
		AnchorTTL:        5 * time.Second,
		AnchorRenewEvery: 300 * time.Millisecond,
	}
}

// assertSound checks everything a run against a correct store must show.
func assertSound(t *testing.T, w *Workload, midway error) {
	t.Helper()
	for _, v := range w.CheckFencing() {
		t.Errorf("fencing: %v", v)
	}
	verdict, err := w.CheckLinearizable(time.Minute, filepath.Join(t.TempDir(), "history.html"))
	if err != nil || verdict != porcupine.Ok {
		t.Errorf("linearizability: %s, %v", verdict, err)
	}
	if midway != nil {
		t.Errorf("anchors, midway: %v", midway)
	}
	if err := w.CheckAnchors(context.Background()); err != nil {
		t.Errorf("anchors, at the end: %v", err)
	}
	r := w.Report()
	for _, k := range []string{modeTry, modeWait, modeWaitCancel, modeRenew, modeRelease, modeInfo} {
		if r.Ops[k] == 0 {
			t.Errorf("no %s operations: %v", k, r)
		}
	}
	if r.Outcomes["ok"] == 0 || r.Outcomes["fail"] == 0 || r.Writes == 0 || r.Grants == 0 || r.AnchorRenewals == 0 {
		t.Errorf("a trivial run: %v", r)
	}
	if r.StaleWrites != 0 || r.LostGrants != 0 {
		t.Errorf("report: %v", r)
	}
}

// storeName is a store name for the test, usable as a URL's host.
func storeName(t *testing.T) string {
	return strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
}

func TestWorkloadMemory(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, midway := runWorkload(t, workloadConfig("mem://"+storeName(t)), 3*time.Second)
	assertSound(t, w, midway)
}

func TestWorkloadEmbeddedRaft(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := filepath.ToSlash(t.TempDir())
	w, midway := runWorkload(t, workloadConfig("raft+embed://"+dir+"?heartbeat_timeout=100ms&election_timeout=100ms"), 4*time.Second)
	assertSound(t, w, midway)
}

func TestWorkloadRefusesBadConfigs(t *testing.T) {
	good := workloadConfig("mem://x")
	for name, mut := range map[string]func(*WorkloadConfig){
		"a private memory store": func(c *WorkloadConfig) { c.StoreURL = "mem://" },
		"no URL":                 func(c *WorkloadConfig) { c.StoreURL = "" },
		"no clients":             func(c *WorkloadConfig) { c.Clients = 0 },
		"no hot locks":           func(c *WorkloadConfig) { c.HotLocks = 0 },
		"no TTL":                 func(c *WorkloadConfig) { c.TTL = 0 },
		"too many clients":       func(c *WorkloadConfig) { c.Clients = maxClients },
	} {
		c := good
		mut(&c)
		if _, err := NewWorkload(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	w, err := NewWorkload(good)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx); err == nil {
		t.Fatal("a run whose context had ended opened its clients")
	}
	if err := w.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "once") {
		t.Fatalf("a second Run: %v", err)
	}
}

// A store broken on purpose must be caught. The scheme "chaostest" opens a
// driver of the memory store mem://NAME, wrapped in a driver with the bug
// named by the URL's parameter:
//
//	chaostest://NAME?bug=double   now and then grants a held lock to a
//	                              second client, at the holder's version
//	chaostest://NAME?bug=rewind   after 8 grants of a lock, its versions
//	                              start again from 1 (a counter that was
//	                              not persisted)
//	chaostest://NAME?bug=amnesia  forgets the anchors' grants: renewals
//	                              and reads of anchor locks answer "not
//	                              found"
const brokenScheme = "chaostest"

func init() {
	backend.Register(brokenScheme, openBroken)
}

// brokenStates holds the state the drivers of one broken store share.
var brokenStates = struct {
	sync.Mutex
	m map[string]*rewinder
}{m: make(map[string]*rewinder)}

func openBroken(ctx context.Context, u *url.URL, opts backend.OpenOptions) (backend.Driver, error) {
	inner, err := backend.Open(ctx, "mem://"+u.Host, opts)
	if err != nil {
		return nil, err
	}
	d := &brokenDriver{Driver: inner, bug: u.Query().Get("bug")}
	brokenStates.Lock()
	defer brokenStates.Unlock()
	if brokenStates.m[u.Host] == nil {
		brokenStates.m[u.Host] = &rewinder{locks: make(map[string]*rewound)}
	}
	d.rw = brokenStates.m[u.Host]
	return d, nil
}

// brokenDriver forwards to a correct store, except for its bug.
type brokenDriver struct {
	backend.Driver
	bug string
	rw  *rewinder

	mu   sync.Mutex
	held int // LockHeld answers seen
}

func (d *brokenDriver) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	res, err := d.Driver.Acquire(ctx, req)
	if d.bug == "double" && !req.Wait && errors.Is(err, backend.ErrLockHeld) {
		d.mu.Lock()
		d.held++
		now := d.held%8 == 0
		d.mu.Unlock()
		if now {
			if info, gerr := d.Driver.Get(ctx, &backend.GetRequest{LockID: req.LockID}); gerr == nil && info.Held {
				l := info.Lock
				l.Owner = req.ClientID
				return &backend.AcquireResult{Lock: l}, nil
			}
		}
	}
	if err == nil && d.bug == "rewind" {
		res.Lock.Version = d.rw.fake(req.LockID, res.Lock.Version)
	}
	return res, err
}

func (d *brokenDriver) Release(ctx context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	if d.bug == "rewind" {
		r := *req
		r.Version = d.rw.real(req.LockID, req.Version)
		req = &r
	}
	return d.Driver.Release(ctx, req)
}

func (d *brokenDriver) Renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	if d.bug == "amnesia" && strings.Contains(req.LockID, "/anchor/") {
		return nil, &backend.Error{Code: backend.CodeNotFound, LockID: req.LockID, Message: "forgotten"}
	}
	if d.bug == "rewind" {
		r := *req
		r.Version = d.rw.real(req.LockID, req.Version)
		req = &r
	}
	l, err := d.Driver.Renew(ctx, req)
	if err == nil && d.bug == "rewind" {
		l.Version = d.rw.fake(req.LockID, l.Version)
	}
	return l, err
}

func (d *brokenDriver) Get(ctx context.Context, req *backend.GetRequest) (*backend.LockInfo, error) {
	if d.bug == "amnesia" && strings.Contains(req.LockID, "/anchor/") {
		return nil, &backend.Error{Code: backend.CodeNotFound, LockID: req.LockID, Message: "forgotten"}
	}
	info, err := d.Driver.Get(ctx, req)
	if err == nil && d.bug == "rewind" && info.Held {
		info.Version = d.rw.fake(req.LockID, info.Version)
	}
	return info, err
}

// rewinder maps a lock's real versions to the ones the broken store shows.
type rewinder struct {
	mu    sync.Mutex
	locks map[string]*rewound
}

type rewound struct {
	toFake map[int64]int64
	toReal map[int64]int64
	base   int64
	grants int
}

func (r *rewinder) lock(id string) *rewound {
	l := r.locks[id]
	if l == nil {
		l = &rewound{toFake: make(map[int64]int64), toReal: make(map[int64]int64)}
		r.locks[id] = l
	}
	return l
}

// fake is the version shown for the real version v.
func (r *rewinder) fake(id string, v int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lock(id)
	if f, ok := l.toFake[v]; ok {
		return f
	}
	l.grants++
	if l.grants == 8 {
		l.base = v - 1 // the counter starts again
	}
	f := v - l.base
	l.toFake[v], l.toReal[f] = f, v
	return f
}

// real is the real version of the shown version f.
func (r *rewinder) real(id string, f int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.lock(id).toReal[f]; ok {
		return v
	}
	return f
}

func TestWorkloadCatchesDoubleGrants(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, _ := runWorkload(t, workloadConfig(brokenScheme+"://"+storeName(t)+"?bug=double"), 2*time.Second)
	vs := w.CheckFencing()
	if !hasKind(vs, "lease-overlap") || !hasKind(vs, "token-reuse") {
		t.Errorf("fencing found %q", kinds(vs))
	}
	if verdict, err := w.CheckLinearizable(time.Minute, ""); verdict != porcupine.Illegal || err != nil {
		t.Errorf("linearizability: %s, %v", verdict, err)
	}
	logViolations(t, vs)
}

func TestWorkloadCatchesRewoundVersions(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, _ := runWorkload(t, workloadConfig(brokenScheme+"://"+storeName(t)+"?bug=rewind"), 2*time.Second)
	vs := w.CheckFencing()
	if !hasKind(vs, "token-order") {
		t.Errorf("fencing found %q", kinds(vs))
	}
	html := filepath.Join(t.TempDir(), "rewind.html")
	if verdict, err := w.CheckLinearizable(time.Minute, html); verdict != porcupine.Illegal || err != nil {
		t.Errorf("linearizability: %s, %v", verdict, err)
	}
	logViolations(t, vs)
}

func TestWorkloadCatchesLostGrants(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w, midway := runWorkload(t, workloadConfig(brokenScheme+"://"+storeName(t)+"?bug=amnesia"), 2*time.Second)
	var lost *LostGrant
	if !errors.As(midway, &lost) {
		t.Fatalf("CheckAnchors midway: %v", midway)
	}
	err := w.CheckAnchors(context.Background())
	if !errors.As(err, &lost) || !strings.Contains(lost.LockID, "/anchor/") {
		t.Fatalf("CheckAnchors at the end: %v", err)
	}
	if r := w.Report(); r.LostGrants == 0 {
		t.Fatalf("report: %v", r)
	}
	t.Logf("found: %v", lost)
}

func hasKind(vs []Violation, kind string) bool {
	for _, v := range vs {
		if v.Kind == kind {
			return true
		}
	}
	return false
}

func logViolations(t *testing.T, vs []Violation) {
	t.Helper()
	for i, v := range vs {
		if i == 5 {
			t.Logf("... %d violations in all", len(vs))
			return
		}
		t.Logf("%v", v)
	}
}
