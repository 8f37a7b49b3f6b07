//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package dirlock_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock"
)

// The tests below start this test binary again as child processes, which
// run the job named in jobEnv instead of the tests: the store's promises
// between processes are the point of the package, and only real processes
// have separate file descriptors, memory and deaths.
const (
	jobEnv   = "DIRLOCK_TEST_JOB"   // "increment" or "hold"; unset in the parent
	storeEnv = "DIRLOCK_TEST_STORE" // the lock directory
	dataEnv  = "DIRLOCK_TEST_DATA"  // the file the lock protects
	idEnv    = "DIRLOCK_TEST_ID"    // the child's client ID
)

func TestMain(m *testing.M) {
	job := os.Getenv(jobEnv)
	if job == "" {
		os.Exit(m.Run())
	}
	if err := runJob(job, os.Getenv(storeEnv), os.Getenv(dataEnv), os.Getenv(idEnv)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

const (
	increments = 15                   // rounds of each incrementing child
	holdTTL    = 2 * time.Second      // the lease the holding child dies with
	counterID  = "shared/counter"     // the lock of the incrementing children
	crashID    = "shared/crash"       // the lock of the holding child
	waitLimit  = 60 * time.Second     // bound on any wait in a child
	pollFloor  = 2 * time.Millisecond // children poll briskly, to contend hard
)

// runJob is a child process's whole life.
func runJob(job, store, data, id string) error {
	ctx := context.Background()
	cfg := raftlock.DefaultConfig()
	cfg.URL = storeURL(store)
	cfg.RetryPolicy.InitialBackoff, cfg.RetryPolicy.MaxBackoff = pollFloor, 10*pollFloor
	c, err := raftlock.OpenConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	switch job {
	case "increment":
		for range increments {
			if err := increment(ctx, c, data, id); err != nil {
				return err
			}
		}
		return nil
	case "hold":
		g, err := c.Acquire(ctx, &raftlock.AcquireRequest{LockID: crashID, ClientID: id, TTL: holdTTL})
		if err != nil {
			return err
		}
		fmt.Println(g.Version)
		time.Sleep(waitLimit) // until the parent kills this process
		return errors.New("not killed")
	}
	return fmt.Errorf("unknown job %q", job)
}

// increment adds one to the count in data under the lock, checking the
// fencing token as the protected resource would. The read-modify-write is
// deliberately unprotected by anything but the lock: two holders at once
// would lose an update or read a half-written file.
func increment(ctx context.Context, c *raftlock.Client, data, id string) error {
	g, err := c.Acquire(ctx, &raftlock.AcquireRequest{
		LockID: counterID, ClientID: id, TTL: 30 * time.Second, Wait: true, WaitTimeout: waitLimit,
	})
	if err != nil {
		return err
	}
	n, token, err := readCounter(data)
	if err != nil {
		return err
	}
	if g.Version <= token {
		return fmt.Errorf("%s: granted token %d after token %d was used", id, g.Version, token)
	}
	time.Sleep(time.Millisecond) // widen the window an overlap would need
	if err := os.WriteFile(data, fmt.Appendf(nil, "%d %d\n", n+1, g.Version), 0o666); err != nil {
		return err
	}
	if time.Now().After(g.Deadline) {
		return fmt.Errorf("%s: the lease ran out inside the critical section", id)
	}
	_, err = c.Release(ctx, &raftlock.ReleaseRequest{LockID: counterID, ClientID: id, Version: g.Version})
	return err
}

// readCounter reads "count token" from data; a missing file is zero.
func readCounter(data string) (n, token int64, err error) {
	b, err := os.ReadFile(data)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	} else if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("counter file holds %q: two writers at once?", b)
	}
	if n, err = strconv.ParseInt(f[0], 10, 64); err == nil {
		token, err = strconv.ParseInt(f[1], 10, 64)
	}
	return n, token, err
}

// startChild starts this test binary as a child running job as client id,
// and kills it, if it still runs, when the test ends.
func startChild(t *testing.T, job, store, data, id string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), jobEnv+"="+job, storeEnv+"="+store, dataEnv+"="+data, idEnv+"="+id)
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, stderr
}

// Several processes increment one file under one lock: no update is lost,
// and the tokens they present grow in the order of their turns.
func TestProcessesShareLocks(t *testing.T) {
	t.Parallel()
	store, data := t.TempDir(), filepath.Join(t.TempDir(), "counter")
	const procs = 4
	cmds := make([]*exec.Cmd, procs)
	errs := make([]*bytes.Buffer, procs)
	for i := range cmds {
		cmds[i], errs[i] = startChild(t, "increment", store, data, "proc-"+strconv.Itoa(i))
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child %d: %v\n%s", i, err, errs[i])
		}
	}
	n, token, err := readCounter(data)
	if err != nil {
		t.Fatal(err)
	}
	if n != procs*increments {
		t.Errorf("count is %d after %d increments: updates were lost", n, procs*increments)
	}
	if token < n {
		t.Errorf("last token %d is below the %d grants made", token, n)
	}
}

// A process that dies holding a lock leaves it held until its lease runs
// out, exactly as a closed one would, and the next grant, in another
// process, carries a greater token.
func TestCrashedHolderLockExpires(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	cmd, stderr := startChild(t, "hold", store, "", "doomed")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	v, perr := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil || perr != nil {
		t.Fatalf("holding child said %q (%v, %v)\n%s", line, err, perr, stderr)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	c := openClient(t, store)
	ctx := context.Background()
	_, err = c.Acquire(ctx, &raftlock.AcquireRequest{LockID: crashID, ClientID: "survivor", TTL: time.Minute})
	if time.Since(started) < holdTTL && !errors.Is(err, raftlock.ErrLockHeld) {
		t.Fatalf("Acquire of a dead process's unexpired lock: %v, want ErrLockHeld", err)
	}
	if err == nil {
		t.Skip("this machine was too slow to look before the dead holder's lease ran out")
	}
	g, err := c.Acquire(ctx, &raftlock.AcquireRequest{
		LockID: crashID, ClientID: "survivor", TTL: time.Minute, Wait: true, WaitTimeout: waitLimit,
	})
	if err != nil {
		t.Fatalf("waiting out the dead holder's lease: %v", err)
	}
	if elapsed := time.Since(started); elapsed < holdTTL {
		t.Errorf("granted %v after the dead holder's Acquire, before its TTL %v", elapsed, holdTTL)
	}
	if g.Version <= v {
		t.Errorf("grant after the crash has token %d, not above the dead holder's %d", g.Version, v)
	}
}
