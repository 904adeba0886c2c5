package video

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ffmpegArgs is the ffmpeg command line for H.264 yuv420p MP4 from raw RGBA
// frames on stdin: converted with the BT.709 matrix to limited range and
// tagged BT.709 so players do not guess BT.601, moov atom first
// (+faststart), bit-exact muxing (no encoder version or time in the file).
func ffmpegArgs(out string, o Options) []string {
	return []string{
		"-hide_banner", "-nostats", "-loglevel", "error",
		"-f", "rawvideo", "-pix_fmt", "rgba",
		"-s", fmt.Sprintf("%dx%d", o.Width, o.Height),
		"-framerate", strconv.Itoa(o.FPS),
		"-i", "pipe:0",
		"-an",
		"-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
		"-c:v", "libx264", "-preset", "medium", "-crf", strconv.Itoa(o.CRF),
		"-pix_fmt", "yuv420p",
		"-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
		"-movflags", "+faststart",
		"-fflags", "+bitexact", "-map_metadata", "-1",
		"-f", "mp4", "-y", out,
	}
}

// ffmpegEnc feeds frames to an ffmpeg subprocess writing the temporary file.
type ffmpegEnc struct {
	cmd    *exec.Cmd
	bin    string
	stdin  io.WriteCloser // set by start
	stderr *tail
	wait   func() error // cmd.Wait, run once; every caller gets its result

	mu     sync.Mutex // orders start and kill, which may run on another goroutine
	killed bool       // kill ran: start must not start ffmpeg
}

// newFFmpeg prepares the ffmpeg subprocess that writes the MP4 out from the
// frames on its stdin; start starts it. Register kill as out's closer first
// (atomicfile.RegisterCloser), so that a quit from then on stops it.
func newFFmpeg(ctx context.Context, bin, out string, o Options) *ffmpegEnc {
	cmd := exec.CommandContext(ctx, bin, ffmpegArgs(out, o)...)
	e := &ffmpegEnc{cmd: cmd, bin: bin, stderr: &tail{max: 4096}, wait: sync.OnceValue(cmd.Wait)}
	cmd.Stderr = e.stderr
	cmd.WaitDelay = 5 * time.Second // do not hang on a child holding stderr open
	return e
}

// start starts ffmpeg, unless kill came first.
func (e *ffmpegEnc) start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.killed {
		return errors.New("stopped before ffmpeg started")
	}
	var err error
	if e.stdin, err = e.cmd.StdinPipe(); err != nil {
		return err
	}
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("starting ffmpeg (%s): %w", e.bin, err)
	}
	return nil
}

// kill is the temporary file's closer (atomicfile.RegisterCloser): it kills
// ffmpeg and waits for it to exit, so that nothing has the file open when
// it is removed (Windows cannot remove an open file). It may run on another
// goroutine while the writer writes, whose writes then fail, and after
// ffmpeg exited.
func (e *ffmpegEnc) kill() error {
	e.mu.Lock()
	e.killed = true
	started := e.cmd.Process != nil
	if started {
		e.cmd.Process.Kill() // os.ErrProcessDone after an exit: nothing to do
	}
	e.mu.Unlock()
	if started {
		e.wait()
	}
	return nil
}

// failure describes ffmpeg's exit with the last lines it printed. When
// they say the disk is full (ffmpegCause), the error is also that
// system error (errors.Is syscall.ENOSPC or EDQUOT), as the AVI and PNG
// writers' errors are.
func (e *ffmpegEnc) failure(err error) error {
	msg := e.stderr.lastLines(5)
	if msg == "" {
		return fmt.Errorf("ffmpeg failed: %w", err)
	}
	if cause := ffmpegCause(msg); cause != nil {
		err = alsoError{err, cause}
	}
	return fmt.Errorf("ffmpeg failed: %w: %s", err, msg)
}

// ffmpegCause is the system error that ffmpeg's last lines msg report in
// its words (C's strerror, the same on every system): a full disk or an
// exceeded disk quota; nil for any other failure.
func ffmpegCause(msg string) error {
	switch {
	case strings.Contains(msg, "No space left on device"):
		return syscall.ENOSPC
	case strings.Contains(msg, "Disk quota exceeded"):
		return syscall.EDQUOT
	}
	return nil
}

// alsoError is an error that is also another: its message is the first's,
// and errors.Is and errors.As see both.
type alsoError struct{ err, also error }

func (e alsoError) Error() string   { return e.err.Error() }
func (e alsoError) Unwrap() []error { return []error{e.err, e.also} }

func (e *ffmpegEnc) writeFrame(img *image.RGBA) error {
	if _, err := e.stdin.Write(img.Pix); err != nil {
		e.stdin.Close()
		werr := e.wait()
		if werr == nil {
			werr = err
		}
		return e.failure(werr)
	}
	return nil
}

func (e *ffmpegEnc) finish() error {
	cerr := e.stdin.Close()
	if err := e.wait(); err != nil {
		return e.failure(err)
	}
	if cerr != nil && !errors.Is(cerr, io.ErrClosedPipe) {
		return e.failure(cerr)
	}
	return nil
}

func (e *ffmpegEnc) abort() { e.kill() }

// tail keeps the last max bytes written to it (ffmpeg's stderr).
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// lastLines returns up to n last non-empty lines joined by " | ".
func (t *tail) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(string(t.buf), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
