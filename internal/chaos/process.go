//go:build unix

package chaos

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// servingMsg is what serve logs once its node is up; scripts and tests
// wait for it.
const servingMsg = "raft node serving"

// exitWait bounds the wait for a killed process to be reaped.
const exitWait = 30 * time.Second

// process is one node's serve process, across its restarts: the same
// command line each time, its output appended to one log file.
type process struct {
	id      string
	binary  string
	args    []string
	logPath string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the current process has been reaped
	waitErr  error         // set before exited is closed
	paused   bool
	runs     int
	logStart int64 // where the current run's output begins in the log
}

// start starts the process; it must not be running.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runningLocked() {
		return fmt.Errorf("%s is running", p.id)
	}
	f, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// The child writes to the file itself: no goroutine of ours copies
	// its output, and a log survives the test process.
	defer f.Close()
	p.runs++
	if _, err := fmt.Fprintf(f, "=== %s run %d at %s: %s\n", p.id, p.runs,
		time.Now().Format(time.RFC3339Nano), strings.Join(p.args, " ")); err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	cmd := exec.Command(p.binary, p.args...)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = f, f
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.id, err)
	}
	p.cmd, p.paused, p.logStart = cmd, false, st.Size()
	exited := make(chan struct{})
	p.exited = exited
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

// childEnv is this process's environment without RAFTLOCK_ variables,
// which would change the children's flags.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "RAFTLOCK_") })
}

func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

func (p *process) runningLocked() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *process) isPaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused && p.runningLocked()
}

// waitServing waits until the current run logs that it serves, and fails
// if the process exits first or ctx ends.
func (p *process) waitServing(ctx context.Context) error {
	p.mu.Lock()
	start, exited := p.logStart, p.exited
	p.mu.Unlock()
	if exited == nil {
		return fmt.Errorf("%s was never started", p.id)
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		out, err := readFrom(p.logPath, start)
		if err != nil {
			return err
		}
		if bytes.Contains(out, []byte(servingMsg)) {
			return nil
		}
		select {
		case <-exited:
			p.mu.Lock()
			werr := p.waitErr
			p.mu.Unlock()
			return fmt.Errorf("%s exited (%v) before serving:\n%s", p.id, werr, p.logTail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s not serving: %w\n%s", p.id, context.Cause(ctx), p.logTail(20))
		case <-t.C:
		}
	}
}

// signal sends sig to the running process.
func (p *process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return fmt.Errorf("%s is not running", p.id)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", p.id, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT:
		p.paused = false
	}
	return nil
}

// kill sends SIGKILL, which ends a stopped process too, and waits until
// the process is reaped, so that its ports are free when kill returns.
func (p *process) kill() error {
	p.mu.Lock()
	exited := p.exited
	running := p.runningLocked()
	if running {
		if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.mu.Unlock()
			return fmt.Errorf("kill %s: %w", p.id, err)
		}
	}
	p.mu.Unlock()
	if exited == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	case <-time.After(exitWait):
		return fmt.Errorf("%s did not exit within %v of SIGKILL", p.id, exitWait)
	}
}

// logTail is the last n lines of the log, every run included.
func (p *process) logTail(n int) string {
	out, err := readFrom(p.logPath, 0)
	if err != nil {
		return fmt.Sprintf("(log of %s: %v)", p.id, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// readFrom reads a file from offset to its end.
func readFrom(path string, offset int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}
