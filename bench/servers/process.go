package servers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startTimeout bounds how long a member may take to say it serves. An etcd
// member of three waits for its peers, and the machine may be busy.
const startTimeout = 60 * time.Second

// Process is one running server process.
type Process struct {
	name string
	cmd  *exec.Cmd
	dir  string // its data directory, removed when it stops; "" for none
	errs *tail  // the end of its standard error, for error messages
	done chan struct{}

	profiles bool // it writes a CPU profile when it ends (ProfileDir)

	mu      sync.Mutex
	lastCPU time.Duration // the last CPU time read, kept for after it exits
}

// profileStopTimeout bounds how long a stop waits for a profiling server
// to end by itself before it kills it.
const profileStopTimeout = 10 * time.Second

// Name is what the process is called in messages, such as "etcd-2".
func (p *Process) Name() string { return p.name }

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// CPU is the user and system CPU time the process has used so far, read
// from /proc/<pid>/stat; once the process has exited it is the last value
// read before.
func (p *Process) CPU() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.Exited() {
		if d, err := procCPU(p.Pid()); err == nil {
			p.lastCPU = d
		}
	}
	return p.lastCPU
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it to
// be gone. Its data directory stays, for a restart to find.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop kills the process and removes its data directory. A process that
// profiles (ProfileDir) is asked to end first, so that it writes its
// profile.
func (p *Process) stop() error {
	if p.profiles {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(profileStopTimeout):
		}
	}
	p.Kill()
	if p.dir != "" {
		return os.RemoveAll(p.dir)
	}
	return nil
}

// failure wraps err with the end of the process's standard error, where
// the server said what went wrong.
func (p *Process) failure(err error) error {
	if s := strings.TrimSpace(p.errs.String()); s != "" {
		return fmt.Errorf("%s: %w; its last words:\n%s", p.name, err, s)
	}
	return fmt.Errorf("%s: %w", p.name, err)
}

// launch starts cmd as a server process named name that owns dir. The
// process gets a process group of its own, so that a Ctrl-C at the terminal
// reaches this program alone, which then stops its servers in order; and
// the kernel sends it SIGTERM if this program dies without doing so (a
// child of this package then removes its data directory as it exits). Its
// standard output goes to stdout when not nil.
func launch(name string, cmd *exec.Cmd, dir string, stdout io.Writer) (*Process, error) {
	p := &Process{name: name, cmd: cmd, dir: dir, errs: &tail{max: 8 << 10}, done: make(chan struct{})}
	cmd.Stderr = p.errs
	cmd.Stdout = stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	track(p)
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// launchChild starts this program again as the server spec describes (see
// Child) and waits until it announces, on its standard output, that it
// serves; the announcement is decoded into ready.
func launchChild(ctx context.Context, name string, spec childSpec, dir string, ready any) (*Process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if ProfileDir != "" {
		spec.Profile = filepath.Join(ProfileDir, name)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	r, w := io.Pipe()
	p, err := launch(name, cmd, dir, w)
	if err != nil {
		return nil, err
	}
	p.profiles = spec.Profile != ""
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(r)
		if s.Scan() {
			lines <- s.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, r) // whatever else it prints
	}()
	go func() {
		<-p.done
		w.Close()
	}()

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var failed error
	select {
	case line, ok := <-lines:
		switch {
		case !ok:
			<-p.done
			failed = p.failure(errors.New("exited before it served"))
		case json.Unmarshal([]byte(line), ready) != nil:
			failed = p.failure(fmt.Errorf("announced %q, not what it serves", line))
		}
	case <-ctx.Done():
		failed = p.failure(fmt.Errorf("did not serve: %w", ctx.Err()))
	}
	if failed != nil {
		p.stop()
		untrack(p)
		return nil, failed
	}
	return p, nil
}

// procCPU reads the user and system time of process pid, all its threads
// included, from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after it are plain. utime and stime are fields 14 and
	// 15, the 12th and 13th after the name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports, as the kernel fixes it for user
// space whatever its internal tick rate.
const clockTicks = 100

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// Write implements io.Writer.
func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String is what was kept.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
