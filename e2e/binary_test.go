package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	binexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The sysemu binary is built once per test binary, into a directory under
// os.TempDir() that is unique per process; binBuild removes directories
// left behind by test processes that no longer exist.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

const binDirPrefix = "sysemu-e2e-bin-"

// binBuild builds ./cmd/sysemu (once per process) and returns its path.
func binBuild(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binPath, binErr = binBuildOnce()
	})
	if binErr != nil {
		t.Fatalf("building sysemu: %v", binErr)
	}
	return binPath
}

func binBuildOnce() (string, error) {
	root, err := binModuleRoot()
	if err != nil {
		return "", err
	}
	binSweepStale()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d", binDirPrefix, os.Getpid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "sysemu")
	cmd := binexec.Command("go", "build", "-o", out, "./cmd/sysemu")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sysemu: %v\n%s", err, msg)
	}
	return out, nil
}

// binSweepStale removes build directories of test processes that are gone.
func binSweepStale() {
	ents, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		var pid int
		if !e.IsDir() || !strings.HasPrefix(e.Name(), binDirPrefix) {
			continue
		}
		if _, err := fmt.Sscanf(strings.TrimPrefix(e.Name(), binDirPrefix), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// binModuleRoot walks up from the working directory to the go.mod.
func binModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// binProc is one running `sysemu serve` process.
type binProc struct {
	t         testing.TB
	cmd       *binexec.Cmd
	dataDir   string
	mysqlAddr string
	httpAddr  string
	logPath   string
	done      chan struct{} // closed when the process has exited
	waitErr   error         // valid after done is closed
}

// binFreePort returns a loopback port that was free a moment ago.
func binFreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

var binLogSeq struct {
	sync.Mutex
	n int
}

// binStart starts `bin serve` on dataDir (plus the extra flags) with fresh loopback ports and
// waits (at most 30 s) until the MySQL port answers a ping. The process is
// killed when the test ends if it is still running; its stderr is shown
// when the test fails.
func binStart(t testing.TB, bin, dataDir string, extra ...string) *binProc {
	t.Helper()
	var lastErr error
	// The ports are probed then released, so another process may grab
	// one in between: retry with new ports if the bind fails.
	for attempt := 0; attempt < 3; attempt++ {
		p, err := binTryStart(t, bin, dataDir, extra...)
		if err == nil {
			return p
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("starting sysemu: %v", lastErr)
	return nil
}

func binTryStart(t testing.TB, bin, dataDir string, extra ...string) (*binProc, error) {
	binLogSeq.Lock()
	binLogSeq.n++
	seq := binLogSeq.n
	binLogSeq.Unlock()
	p := &binProc{
		t:         t,
		dataDir:   dataDir,
		mysqlAddr: fmt.Sprintf("127.0.0.1:%d", binFreePort(t)),
		httpAddr:  fmt.Sprintf("127.0.0.1:%d", binFreePort(t)),
		logPath:   filepath.Join(t.TempDir(), fmt.Sprintf("sysemu-%d.log", seq)),
		done:      make(chan struct{}),
	}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	p.cmd = binexec.Command(bin, append([]string{"serve", "--data-dir", dataDir,
		"--mysql-addr", p.mysqlAddr, "--http-addr", p.httpAddr}, extra...)...)
	p.cmd.Stdout = logf
	p.cmd.Stderr = logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		stacks := ""
		if p.running() && t.Failed() {
			// A failing test may be one that waited on a stuck server:
			// SIGQUIT makes the Go runtime write every goroutine's stack.
			size := p.logSize()
			_ = p.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-p.done:
				stacks = sysemuStacks(p.logFrom(size))
			case <-time.After(5 * time.Second):
			}
		}
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("sysemu stderr (%s, pid %d):\n%s%s", p.mysqlAddr, p.cmd.Process.Pid, p.logTail(8000), stacks)
		}
	})

	db, err := sql.Open("mysql", p.dsn(""))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("sysemu exited before serving (%v): %s", p.waitErr, p.logTail(2000))
		default:
		}
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			<-p.done
			return nil, fmt.Errorf("sysemu not reachable at %s after 30s: %v: %s", p.mysqlAddr, err, p.logTail(2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *binProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// logTail returns the last n bytes of the process's stderr.
func (p *binProc) logSize() int64 {
	fi, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logFrom returns the process's stderr from byte off on.
func (p *binProc) logFrom(off int64) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

// sysemuStacks condenses a Go goroutine dump to the goroutines that are in
// sysemu's own code, each as its header and sysemu's frames.
func sysemuStacks(dump string) string {
	var out strings.Builder
	for _, g := range strings.Split(dump, "\n\n") {
		lines := strings.Split(strings.TrimSpace(g), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "goroutine ") || !strings.Contains(g, "sysemu/sysemu/") {
			continue
		}
		out.WriteString("\n" + lines[0])
		for i := 1; i+1 < len(lines); i += 2 {
			if strings.Contains(lines[i], "sysemu/sysemu/") && !strings.Contains(lines[i], "/vitess/") {
				fn := lines[i]
				if j := strings.LastIndexByte(fn, '('); j > 0 {
					fn = fn[:j]
				}
				at := strings.Fields(lines[i+1])
				if len(at) == 0 {
					continue
				}
				out.WriteString("\n    " + fn + "  " + at[0])
			}
		}
	}
	if out.Len() == 0 {
		return ""
	}
	return "\ngoroutines in sysemu's code at SIGQUIT:" + out.String()
}

func (p *binProc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		return "...\n" + string(b)
	}
	return string(b)
}

// dsn is the root DSN (empty password) for database db ("" for none).
func (p *binProc) dsn(db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", "tcp", p.mysqlAddr, db
	cfg.Timeout = 5 * time.Second
	cfg.ReadTimeout = 30 * time.Second
	cfg.WriteTimeout = 30 * time.Second
	cfg.InterpolateParams = true
	return cfg.FormatDSN()
}

// mysqlPort is the numeric MySQL port.
func (p *binProc) mysqlPort() string {
	_, port, _ := net.SplitHostPort(p.mysqlAddr)
	return port
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *binProc) Kill() {
	p.t.Helper()
	if !p.running() {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("SIGKILL: %v", err)
	}
	<-p.done
}

// Stop sends SIGTERM and waits up to 15 s for a clean exit; otherwise it
// kills the process and fails the test.
func (p *binProc) Stop() {
	p.t.Helper()
	if !p.running() {
		p.t.Fatalf("sysemu already exited: %v", p.waitErr)
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
		if p.waitErr != nil {
			p.t.Fatalf("sysemu exited uncleanly after SIGTERM: %v", p.waitErr)
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("sysemu did not stop within 15s of SIGTERM")
	}
}
