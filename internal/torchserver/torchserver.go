// Package torchserver drives a benchmark server process (bench/torch/block_server.py) over a line protocol,
// so that a Go benchmark can time its own work and PyTorch's in turns, in one pair of processes, and both
// see the same GPU clock and power state.
//
// The protocol, one line each way, UTF-8, '\n'-terminated:
//
//	server → client, once, when it has built, compiled and warmed up its work:
//	    {"ready": true, ...}              any other fields are kept in Ready.Info
//	client → server: time N               N ≥ 1 timed runs
//	server → client: {"ms": [m1, ..., mN], "peak_bytes": P, "finite": true}
//	                 or {"error": "why"}  the command failed; the server stays up
//	client → server: quit                 the server exits with status 0
//
// Every line the server writes to stdout is a protocol line (the server keeps library output off it); its
// logs go to stderr, which the client copies to Config.Stderr and keeps the tail of for error messages.
// The server is started in its own process group and the whole group is killed on Close, so compiler worker
// processes it forked do not outlive it.
package torchserver

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Errors the client returns, wrapped with the details (errors.Is matches them).
var (
	// ErrProtocol: the server wrote a line that is not the expected reply.
	ErrProtocol = errors.New("torchserver: protocol error")
	// ErrExited: the server closed its stdout or exited while a reply was awaited.
	ErrExited = errors.New("torchserver: server exited")
	// ErrTimeout: no reply came within the timeout.
	ErrTimeout = errors.New("torchserver: timed out")
	// ErrServer: the server answered a command with {"error": ...}.
	ErrServer = errors.New("torchserver: server error")
	// ErrNonFinite: the server reported a non-finite output or a time that is not a positive finite number.
	ErrNonFinite = errors.New("torchserver: non-finite result")
)

// Config says how to start a server.
type Config struct {
	// Path and Args are the program and its arguments (Args without the program name).
	Path string
	Args []string
	// Dir is the working directory; "" is the caller's.
	Dir string
	// Env is the environment (exec.Cmd.Env); nil is the caller's.
	Env []string
	// Stderr receives the server's stderr as it comes; nil discards it (the tail is kept either way).
	Stderr io.Writer
	// ReadyTimeout bounds the wait for the ready line (building and compiling may take minutes); 0 means
	// 30 minutes.
	ReadyTimeout time.Duration
	// QuitGrace is how long Close waits for the server to exit after "quit" before killing it; 0 means 10 s.
	QuitGrace time.Duration
}

// Ready is the server's ready line.
type Ready struct {
	// Info holds the line's fields (the server's description of its work: tokens, mode, gpu, ...).
	Info map[string]any
}

// Timing is the reply to one "time N".
type Timing struct {
	MS        []float64 `json:"ms"`         // per timed run, milliseconds of device time
	PeakBytes int64     `json:"peak_bytes"` // the server's peak device memory during the runs
	Finite    bool      `json:"finite"`     // whether the last run's output was all finite
}

// Server is a running benchmark server. Its methods are not safe for concurrent use.
type Server struct {
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	lines      chan string // stdout lines; closed at EOF
	stderr     *tail
	stderrDone chan struct{} // closed at the stderr pipe's EOF
	waited     chan struct{} // closed when cmd.Wait has returned
	werr       error         // cmd.Wait's result, set before waited is closed
	grace      time.Duration // Config.QuitGrace
	closed     bool
}

// Start starts the server and waits for its ready line. On any error the process (group) is killed and
// waited for before Start returns.
func Start(cfg Config) (*Server, Ready, error) {
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 30 * time.Minute
	}
	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Dir, cmd.Env = cfg.Dir, cfg.Env
	setGroup(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, Ready{}, fmt.Errorf("torchserver: %w", err)
	}
	// Own pipes for stdout and stderr (not exec's copying goroutines), so that Wait returns when the server
	// exits even while a process it forked still holds them, and nothing the server wrote before exiting is
	// lost: the readers run to EOF on their own.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, Ready{}, fmt.Errorf("torchserver: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_, _ = outR.Close(), outW.Close()
		return nil, Ready{}, fmt.Errorf("torchserver: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	_, _ = outW.Close(), errW.Close() // the server holds its own copies
	if err != nil {
		_, _ = outR.Close(), errR.Close()
		return nil, Ready{}, fmt.Errorf("torchserver: starting %s: %w", cfg.Path, err)
	}
	s := &Server{cmd: cmd, stdin: stdin, lines: make(chan string, 16), stderr: &tail{max: 8 << 10, w: cfg.Stderr},
		stderrDone: make(chan struct{}), waited: make(chan struct{}), grace: cfg.QuitGrace}
	go func() {
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	go func() {
		defer close(s.stderrDone)
		defer errR.Close()
		_, _ = io.Copy(s.stderr, errR)
	}()
	go func() {
		s.werr = cmd.Wait()
		close(s.waited)
	}()
	line, err := s.next("the ready line", cfg.ReadyTimeout)
	if err != nil {
		s.kill()
		return nil, Ready{}, err
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(line), &info); err != nil || info["ready"] != true {
		s.kill()
		return nil, Ready{}, fmt.Errorf("%w: expected the ready line {\"ready\": true, ...}, got %q", ErrProtocol, clip(line))
	}
	return s, Ready{Info: info}, nil
}

// Time asks for n timed runs and returns the reply. A protocol error, an exit, a timeout, an error reply
// or a non-finite result is an error; after one the caller should Close the server.
func (s *Server) Time(n int, timeout time.Duration) (Timing, error) {
	if n < 1 {
		return Timing{}, fmt.Errorf("torchserver: time %d: the count must be at least 1", n)
	}
	if s.closed {
		return Timing{}, fmt.Errorf("torchserver: time %d: the server is closed", n)
	}
	if _, err := fmt.Fprintf(s.stdin, "time %d\n", n); err != nil {
		return Timing{}, s.exitErr(fmt.Sprintf("sending \"time %d\": %v", n, err))
	}
	what := fmt.Sprintf("the reply to \"time %d\"", n)
	line, err := s.next(what, timeout)
	if err != nil {
		return Timing{}, err
	}
	var reply struct {
		Timing
		Error *string `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(line))
	if err := dec.Decode(&reply); err != nil {
		return Timing{}, fmt.Errorf("%w: %s: %v in %q", ErrProtocol, what, err, clip(line))
	}
	if reply.Error != nil {
		return Timing{}, fmt.Errorf("%w: %s: %s", ErrServer, what, *reply.Error)
	}
	if len(reply.MS) != n {
		return Timing{}, fmt.Errorf("%w: %s has %d times, want %d: %q", ErrProtocol, what, len(reply.MS), n, clip(line))
	}
	for i, v := range reply.MS {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			return Timing{}, fmt.Errorf("%w: %s: time %d is %v ms", ErrNonFinite, what, i, v)
		}
	}
	if !reply.Finite {
		return Timing{}, fmt.Errorf("%w: %s: the server's output is not finite", ErrNonFinite, what)
	}
	return reply.Timing, nil
}

// Close sends "quit", waits up to the quit grace for the server to exit, then kills its process group. It
// returns an error when the server had to be killed or exited with a failure status; calling it again
// returns nil.
func (s *Server) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	grace := s.grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	_, werr := io.WriteString(s.stdin, "quit\n")
	_ = s.stdin.Close()
	if werr == nil {
		select {
		case <-s.waited:
			killGroup(s.cmd) // forked children that outlived the server
			s.drainStderr()
			if s.werr != nil {
				return fmt.Errorf("%w after quit: %v%s", ErrExited, s.werr, s.stderr.context())
			}
			return nil
		case <-time.After(grace):
		}
	}
	s.kill()
	return fmt.Errorf("torchserver: the server did not exit within %v of quit; killed it%s", grace, s.stderr.context())
}

// next returns the next stdout line, waiting at most timeout.
func (s *Server) next(what string, timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case line, ok := <-s.lines:
		if !ok {
			return "", s.exitErr("waiting for " + what)
		}
		return line, nil
	case <-s.waited:
		// A line written just before the exit may still be in the pipe; a child may hold it open.
		select {
		case line, ok := <-s.lines:
			if ok {
				return line, nil
			}
		case <-time.After(time.Second):
		}
		return "", s.exitErr("waiting for " + what)
	case <-timer.C:
		return "", fmt.Errorf("%w: no %s within %v%s", ErrTimeout, what, timeout, s.stderr.context())
	}
}

// exitErr describes the server's exit, waiting briefly for its status.
func (s *Server) exitErr(doing string) error {
	status := "still running, stdout closed"
	select {
	case <-s.waited:
		status = "exit status 0"
		if s.werr != nil {
			status = s.werr.Error()
		}
		s.drainStderr()
	case <-time.After(10 * time.Second):
	}
	return fmt.Errorf("%w (%s) while %s%s", ErrExited, status, doing, s.stderr.context())
}

// kill kills the server's process group and waits for it.
func (s *Server) kill() {
	s.closed = true
	_ = s.stdin.Close()
	killGroup(s.cmd)
	<-s.waited
	s.drainStderr()
}

// drainStderr waits briefly for the rest of the server's stderr (a forked child may keep it open).
func (s *Server) drainStderr() {
	select {
	case <-s.stderrDone:
	case <-time.After(time.Second):
	}
}

// Stderr returns the last few KiB the server wrote to stderr.
func (s *Server) Stderr() string { return s.stderr.String() }

// Pid returns the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// tail copies writes to w and keeps the last max bytes.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
	w   io.Writer
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w != nil {
		_, _ = t.w.Write(p) // a failing log sink must not stop the server
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// context formats the stderr tail for an error message ("" when empty).
func (t *tail) context() string {
	s := strings.TrimSpace(t.String())
	if s == "" {
		return ""
	}
	return "; the server's stderr ends:\n" + s
}

// clip shortens a line for an error message.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
