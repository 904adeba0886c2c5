package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wan22/wan22/internal/atomicfile"
)

// TestCommandContextSignal sends SIGINT to the test process: the context
// of a running command must be cancelled (and the process must live on).
func TestCommandContextSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a process cannot send itself os.Interrupt on Windows")
	}
	ctx, stop := commandContext()
	defer stop()
	interruptSelf(t)
	waitCancelled(t, ctx)
}

// interruptSelf sends SIGINT to the test process.
func interruptSelf(t *testing.T) { t.Helper(); signalSelf(t, os.Interrupt) }

// signalSelf sends s to the test process, which must be catching it.
func signalSelf(t *testing.T, s os.Signal) {
	t.Helper()
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// waitCancelled fails t unless ctx is cancelled within 5 s.
func waitCancelled(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context not cancelled 5 s after SIGINT")
	}
}

// syncBuffer is a bytes.Buffer safe for the signal goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testInterruptContext is interruptContext for a test that signals itself:
// its messages go to stderr, and its exit status is sent on exited instead of
// ending the process. It skips on Windows.
func testInterruptContext(t *testing.T) (ctx context.Context, stderr *syncBuffer, exited chan int) {
	t.Helper()
	ctx, _, stderr, exited = testInterruptContextFor(t, func(os.Signal) time.Duration { return 0 })
	return ctx, stderr, exited
}

// testInterruptContextFor is testInterruptContext with the deadline each
// first signal leaves given, as interruptContextFor takes it, and the
// command's end (stop) returned too.
func testInterruptContextFor(t *testing.T, deadline func(os.Signal) time.Duration) (ctx context.Context, stop context.CancelFunc, stderr *syncBuffer, exited chan int) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("a process cannot send itself a signal on Windows")
	}
	stderr, exited = &syncBuffer{}, make(chan int, 1)
	ctx, stop = interruptContextFor(stderr, func(code int) { exited <- code }, deadline)
	t.Cleanup(stop)
	return ctx, stop, stderr, exited
}

// waitQuit fails t unless the context's exit is called with
// exitInterrupted within 5 s of what (for the message), after which the
// temporary output tmp is gone and stderr has said msg. It returns when the
// exit came.
func waitQuit(t *testing.T, exited chan int, what, tmp string, stderr *syncBuffer, msg string) time.Time {
	t.Helper()
	var at time.Time
	select {
	case code := <-exited:
		at = time.Now()
		if code != exitInterrupted {
			t.Errorf("exit status %d, want %d", code, exitInterrupted)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no exit 5 s after %s", what)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary output is still there: %v", err)
	}
	if !strings.Contains(stderr.String(), msg) {
		t.Errorf("after %s: printed %q, want %q", what, stderr.String(), msg)
	}
	return at
}

// TestSecondSignal: the first SIGINT cancels the context and says how to
// quit at once; the second removes the temporary output in progress and
// exits with 130, while the command is still running.
func TestSecondSignal(t *testing.T) {
	ctx, stderr, exited := testInterruptContext(t)
	tmp, err := atomicfile.Create(filepath.Join(t.TempDir(), "o1.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Abort()
	interruptSelf(t)
	waitCancelled(t, ctx)
	if got := stderr.String(); !strings.Contains(got, "interrupted; stopping") || !strings.Contains(got, "Ctrl-C again to quit at once") {
		t.Errorf("first signal printed %q", got)
	}
	select {
	case code := <-exited:
		t.Fatalf("exited with %d after one signal", code)
	case <-time.After(50 * time.Millisecond):
	}
	interruptSelf(t)
	waitQuit(t, exited, "the second SIGINT", tmp.Name(), stderr, "interrupted again; quitting now")
}

// TestSignalTwiceAtOnce: one press delivered twice at once (`timeout -s INT`
// signals the process and its group) stops the command like one Ctrl-C, and
// does not quit at once.
func TestSignalTwiceAtOnce(t *testing.T) {
	ctx, stderr, exited := testInterruptContext(t)
	interruptSelf(t)
	interruptSelf(t)
	waitCancelled(t, ctx)
	select {
	case code := <-exited:
		t.Fatalf("exited with %d after one press delivered twice; stderr %q", code, stderr.String())
	case <-time.After(100 * time.Millisecond):
	}
}

// TestTerminalSeenThroughWrappers: main hands a command its stderr wrapped
// twice (watchBroken, then helpTo); the progress display must still see a
// terminal behind them. /dev/null stands in for one: a character device.
func TestTerminalSeenThroughWrappers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no /dev/null")
	}
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !newReporter(io.Discard, helpTo{watchBroken(f), io.Discard}, false).tty {
		t.Error("a character device behind watchBroken and helpTo is not seen as a terminal")
	}
	if newReporter(io.Discard, helpTo{&bytes.Buffer{}, io.Discard}, false).tty {
		t.Error("a buffer is seen as a terminal")
	}
}

// TestNohupProcess: a process started with SIGHUP ignored (nohup) keeps
// running through a hangup, as nohup promises, and still stops on Ctrl-C.
func TestNohupProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGHUP on Windows")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to start the helper with SIGHUP ignored")
	}
	dir := t.TempDir()
	cmd, _, stderr := startSignalHelperWith(t, dir, "wait", sh, "-c", `trap '' HUP; exec "$0" -test.run='^TestSignalHelperProcess$'`, os.Args[0])
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(stderr.String(), "stopping") {
		t.Fatalf("the hangup stopped a run started under nohup: %q", stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitInterrupted(t, cmd, dir, stderr)
}

// helperEnv names the folder in which the helper process of
// TestSecondSignalProcess writes its temporary output.
const helperEnv = "WAN22_TEST_SIGNAL_HELPER"

// TestSignalHelperProcess is the helper process of TestSecondSignalProcess,
// and does nothing in a normal run: a command that writes a temporary output
// and never looks at its context, as a stage stuck in one long op would.
//
// With WAN22_TEST_SIGNAL_MODE set it is a command that does look at its
// context: "wait" waits for the cancel; "tick" also writes a line to its
// standard output (through watchBroken, as main's writers) every 10 ms. Once
// cancelled it removes its temporary output and exits with 130, as i2v does.
func TestSignalHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		return
	}
	ctx, stop := commandContext()
	defer stop()
	tmp, err := atomicfile.Create(filepath.Join(dir, "o1.mp4"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	stdout := watchBroken(os.Stdout)
	fmt.Fprintln(stdout, "ready")
	mode := os.Getenv("WAN22_TEST_SIGNAL_MODE")
	if mode == "" {
		time.Sleep(time.Minute)
		os.Exit(4)
	}
	for ctx.Err() == nil {
		if mode == "tick" {
			fmt.Fprintln(stdout, "tick")
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	tmp.Abort()
	os.Exit(exitInterrupted)
}

// startSignalHelper starts TestSignalHelperProcess in mode (see there) and
// waits for its "ready" line; the temporary output is in dir.
func startSignalHelper(t *testing.T, dir, mode string) (*exec.Cmd, io.ReadCloser, *syncBuffer) {
	t.Helper()
	return startSignalHelperWith(t, dir, mode, os.Args[0], "-test.run=^TestSignalHelperProcess$")
}

// startSignalHelperWith is startSignalHelper with the command line given
// (one that ends up running the helper).
func startSignalHelperWith(t *testing.T, dir, mode, name string, args ...string) (*exec.Cmd, io.ReadCloser, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+dir, "WAN22_TEST_SIGNAL_MODE="+mode)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("helper: %q, %v; stderr %q", line, err, stderr.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), ".o1.mp4.tmp-") {
		t.Fatalf("helper wrote %v", ents)
	}
	return cmd, out, stderr
}

// waitInterrupted fails t unless cmd exits with 130 within 10 s, leaving
// nothing in dir.
func waitInterrupted(t *testing.T, cmd *exec.Cmd, dir string, stderr *syncBuffer) {
	t.Helper()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-time.After(10 * time.Second):
		t.Fatalf("helper still running after 10 s; stderr %q", stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Errorf("helper ended with %v, want exit status %d; stderr %q", err, exitInterrupted, stderr.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestHangupProcess: a hangup (the terminal closed) stops the command like a
// Ctrl-C, instead of killing it with its temporary output left.
func TestHangupProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGHUP to another process on Windows")
	}
	dir := t.TempDir()
	cmd, _, stderr := startSignalHelper(t, dir, "wait")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitInterrupted(t, cmd, dir, stderr)
}

// TestBrokenStdoutProcess: the reader of the standard output goes away
// (`wan22 i2v … | head -1`): the next write cancels the command, which stops
// and removes its temporary output, instead of the runtime killing it.
func TestBrokenStdoutProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGPIPE is Unix's")
	}
	dir := t.TempDir()
	cmd, out, stderr := startSignalHelper(t, dir, "tick")
	out.Close()
	waitInterrupted(t, cmd, dir, stderr)
}

// TestSecondSignalProcess runs a stuck command in its own process and
// presses Ctrl-C twice: the process must exit with 130 at the second one,
// leaving no ".o1.mp4.tmp-*" file.
func TestSecondSignalProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no os.Interrupt to another process on Windows")
	}
	dir := t.TempDir()
	cmd, _, stderr := startSignalHelper(t, dir, "")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stderr.String(), "Ctrl-C again") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * sameSignal) // a second press, not the first one delivered twice
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitInterrupted(t, cmd, dir, stderr)
}
