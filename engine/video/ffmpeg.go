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
	stdin  io.WriteCloser
	stderr *tail
	waited bool
	werr   error
}

func startFFmpeg(ctx context.Context, bin, out string, o Options) (*ffmpegEnc, error) {
	cmd := exec.CommandContext(ctx, bin, ffmpegArgs(out, o)...)
	e := &ffmpegEnc{cmd: cmd, stderr: &tail{max: 4096}}
	cmd.Stderr = e.stderr
	cmd.WaitDelay = 5 * time.Second // do not hang on a child holding stderr open
	var err error
	if e.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting ffmpeg (%s): %w", bin, err)
	}
	return e, nil
}

func (e *ffmpegEnc) wait() error {
	if !e.waited {
		e.waited = true
		e.werr = e.cmd.Wait()
	}
	return e.werr
}

// failure describes ffmpeg's exit with the last lines it printed.
func (e *ffmpegEnc) failure(err error) error {
	msg := e.stderr.lastLines(5)
	if msg == "" {
		return fmt.Errorf("ffmpeg failed: %w", err)
	}
	return fmt.Errorf("ffmpeg failed: %w: %s", err, msg)
}

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

func (e *ffmpegEnc) abort() {
	if !e.waited && e.cmd.Process != nil {
		e.cmd.Process.Kill()
	}
	e.stdin.Close()
	e.wait()
}

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
