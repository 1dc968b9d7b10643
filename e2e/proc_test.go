package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one turnin program run as a real process. It can be killed with
// SIGKILL, stopped with SIGTERM and started again; every run appends to the
// same log file.
type proc struct {
	name    string
	args    []string
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
	kills  int
}

func newProc(t *testing.T, dir, name string, env []string, args ...string) *proc {
	p := &proc{name: name, args: args, env: env, logPath: filepath.Join(dir, name+".log")}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", p.logPath, tail(p.logPath, 40))
		}
	})
	return p
}

// start starts the process; it must not be running.
func (p *proc) start(t *testing.T) {
	t.Helper()
	if err := p.startErr(); err != nil {
		t.Fatal(err)
	}
}

// startErr is start for goroutines other than the test's.
func (p *proc) startErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !closed(p.done) {
		return fmt.Errorf("%s is already running", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== start %d at %s\n", p.starts+1, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(turninBin, p.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	p.starts++
	return nil
}

// running reports whether the process is up.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !closed(p.done)
}

// exited returns a channel closed when the current run ends.
func (p *proc) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if p.signal(syscall.SIGKILL) {
		p.mu.Lock()
		p.kills++
		p.mu.Unlock()
	}
	p.wait(t, 10*time.Second)
}

// stop sends SIGTERM and waits for a graceful exit, killing after 30s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if !p.signal(syscall.SIGTERM) {
		return
	}
	select {
	case <-p.exited():
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30s of SIGTERM; killing it", p.name)
		p.kill(t)
	}
}

func (p *proc) signal(s syscall.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || closed(p.done) {
		return false
	}
	err := p.cmd.Process.Signal(s)
	return err == nil
}

func (p *proc) wait(t *testing.T, d time.Duration) {
	t.Helper()
	ch := p.exited()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s still running %v after the signal", p.name, d)
	}
}

// pid is the current run's process id (0 when not running).
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || closed(p.done) {
		return 0
	}
	return p.cmd.Process.Pid
}

// peakRSS reads the process's peak resident set size (VmHWM), in bytes.
func (p *proc) peakRSS() (int64, error) {
	pid := p.pid()
	if pid == 0 {
		return 0, errors.New(p.name + " is not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

func closed(ch chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = f.Close() }()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// grepCount counts the log lines that contain s.
func grepCount(path, s string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), s)
}
