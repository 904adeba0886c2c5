package torchserver

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// fakeEnv names the behaviour of the fake server when the test binary runs as one.
const fakeEnv = "TORCHSERVER_FAKE"

// TestMain runs the test binary as a fake server when fakeEnv is set.
func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		os.Exit(fake(mode))
	}
	os.Exit(m.Run())
}

// fake speaks the protocol on stdin/stdout, misbehaving as mode says:
//
//	ok        ready; "time N" → N times 1.5, 2.5, ...; quit exits 0
//	noready   writes to stderr and exits 3 before the ready line
//	notready  a first line that is not the ready line
//	slow      never becomes ready
//	badjson   ready, then answers "time" with a line that is not JSON
//	count     ready, then answers with one time too few
//	errreply  ready, then answers {"error": ...}
//	nonfinite ready, then reports a non-finite output
//	die       ready, then exits 4 on "time"
//	hang      ready, then never answers and ignores quit
//	child     as ok, but forks a child (itself, mode "sleep") that holds stderr and never exits
//	sleep     sleeps for a minute
func fake(mode string) int {
	out := os.Stdout
	switch mode {
	case "noready":
		fmt.Fprintln(os.Stderr, "Traceback: no CUDA device")
		return 3
	case "notready":
		fmt.Fprintln(out, "hello")
	case "slow", "sleep":
		time.Sleep(time.Minute)
		return 0
	case "child":
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), fakeEnv+"=sleep")
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 5
		}
		fmt.Fprintf(os.Stderr, "child pid %d\n", c.Process.Pid)
	}
	fmt.Fprintln(out, `{"ready": true, "tokens": 32760, "mode": "fake"}`)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 1 && f[0] == "quit" {
			if mode == "hang" {
				continue
			}
			return 0
		}
		var n int
		if len(f) != 2 || f[0] != "time" {
			fmt.Fprintf(out, "{\"error\": \"unknown command %q\"}\n", in.Text())
			continue
		}
		fmt.Sscan(f[1], &n)
		switch mode {
		case "badjson":
			fmt.Fprintln(out, "AUTOTUNE mm(32760x5120)")
			continue
		case "count":
			n--
		case "errreply":
			fmt.Fprintln(out, `{"error": "CUDA out of memory"}`)
			continue
		case "die":
			fmt.Fprintln(os.Stderr, "RuntimeError: illegal memory access")
			return 4
		case "hang":
			continue
		}
		ms := make([]string, n)
		for i := range ms {
			ms[i] = fmt.Sprintf("%.1f", 1.5+float64(i))
		}
		fmt.Fprintf(out, "{\"ms\": [%s], \"peak_bytes\": 123456789, \"finite\": %v}\n", strings.Join(ms, ", "), mode != "nonfinite")
	}
	if mode == "hang" {
		time.Sleep(time.Minute) // ignores the closed stdin too
	}
	return 0
}

// start starts the test binary as a fake server in mode.
func start(t *testing.T, mode string, ready time.Duration) (*Server, Ready, error) {
	t.Helper()
	var logs strings.Builder
	s, r, err := Start(Config{
		Path: os.Args[0], Args: []string{"-test.run=^$"},
		Env:    append(os.Environ(), fakeEnv+"="+mode),
		Stderr: &logs, ReadyTimeout: ready, QuitGrace: 2 * time.Second,
	})
	if s != nil {
		t.Cleanup(func() { _ = s.Close() })
	}
	return s, r, err
}

func TestServerTimes(t *testing.T) {
	s, r, err := start(t, "ok", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Info["tokens"] != 32760.0 || r.Info["mode"] != "fake" {
		t.Errorf("ready info %v, want tokens 32760 and mode fake", r.Info)
	}
	for _, n := range []int{1, 3} {
		tm, err := s.Time(n, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(tm.MS) != n || tm.MS[0] != 1.5 || tm.MS[n-1] != 1.5+float64(n-1) || tm.PeakBytes != 123456789 || !tm.Finite {
			t.Errorf("time %d: got %+v", n, tm)
		}
	}
	if _, err := s.Time(0, time.Second); err == nil {
		t.Error("time 0 was accepted")
	}
	if err := s.Close(); err != nil {
		t.Errorf("close after quit: %v", err)
	}
	if st := s.cmd.ProcessState; st == nil || st.ExitCode() != 0 {
		t.Errorf("the server's state after Close: %v, want exited with status 0", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := s.Time(1, time.Second); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("time after close: %v, want an error saying the server is closed", err)
	}
}

func TestServerStartErrors(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want error
		text string
	}{
		{"noready", ErrExited, "no CUDA device"},
		{"notready", ErrProtocol, `"hello"`},
		{"slow", ErrTimeout, "the ready line"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			begin := time.Now()
			s, _, err := start(t, tc.mode, 500*time.Millisecond)
			if s != nil || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got server %v, error %v; want %v mentioning %s", s, err, tc.want, tc.text)
			}
			if d := time.Since(begin); d > 15*time.Second {
				t.Errorf("Start took %v to fail", d)
			}
		})
	}
	if _, _, err := Start(Config{Path: "/nonexistent/python3"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/python3") {
		t.Errorf("a missing program: %v, want an error naming it", err)
	}
}

func TestServerReplyErrors(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want error
		text string
	}{
		{"badjson", ErrProtocol, "AUTOTUNE"},
		{"count", ErrProtocol, "has 2 times, want 3"},
		{"errreply", ErrServer, "CUDA out of memory"},
		{"nonfinite", ErrNonFinite, "not finite"},
		{"die", ErrExited, "illegal memory access"},
		{"hang", ErrTimeout, `"time 3"`},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			s, _, err := start(t, tc.mode, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Time(3, 500*time.Millisecond)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v; want %v mentioning %s", err, tc.want, tc.text)
			}
			if tc.mode == "die" && !strings.Contains(err.Error(), "exit status 4") {
				t.Errorf("the error does not give the exit status: %v", err)
			}
			begin := time.Now()
			cerr := s.Close()
			if d := time.Since(begin); d > 10*time.Second {
				t.Errorf("Close took %v", d)
			}
			if s.cmd.ProcessState == nil {
				t.Error("the server was not waited for")
			}
			if tc.mode == "hang" && (cerr == nil || !strings.Contains(cerr.Error(), "killed")) {
				t.Errorf("closing a server that ignores quit: %v, want an error saying it was killed", cerr)
			}
		})
	}
}

// TestServerKillsGroup checks that Close leaves no process the server forked.
func TestServerKillsGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to see the child's state")
	}
	s, _, err := start(t, "child", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// stderr is read apart from stdout: the line may come after the ready line.
	var pid int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e := s.Stderr()
		if strings.HasSuffix(e, "\n") {
			if _, err := fmt.Sscanf(e, "child pid %d", &pid); err != nil {
				t.Fatalf("no child pid in the fake's stderr %q: %v", e, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no child pid in the fake's stderr %q after 5 s", e)
		}
	}
	begin := time.Now()
	_ = s.Close()
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("Close took %v with a child holding stderr", d)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(st), ") Z ") {
			break // gone, or dead and not yet reaped
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's child %d is still alive after Close: %s", pid, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
