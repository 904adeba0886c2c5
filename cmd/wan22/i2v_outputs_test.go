package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/video"
	"github.com/wan22/wan22/internal/atomicfile"
)

// fakeOutput is an output whose Close fails with closeErr, or else writes
// its path, as a finished video is.
type fakeOutput struct {
	path            string
	closeErr        error
	closed, aborted bool
}

func (f *fakeOutput) WriteFrame(image.Image) error { return nil }
func (f *fakeOutput) Path() string                 { return f.path }
func (f *fakeOutput) Format() video.Format         { return video.AVI }
func (f *fakeOutput) Frames() int                  { return 5 }

func (f *fakeOutput) Close() error {
	f.closed = true
	if f.closeErr != nil {
		return f.closeErr
	}
	return os.WriteFile(f.path, []byte("complete"), 0o644)
}

// Abort does nothing after Close, as video.File's.
func (f *fakeOutput) Abort() error {
	if !f.closed {
		f.aborted = true
		os.Remove(f.path)
	}
	return nil
}

// TestMultiWriterCloseKeepsFinished: when one output's Close fails, the
// others are still closed, not aborted, and what they wrote is kept; the
// error names every failure (a KeptError's kept file included) and every
// output kept, and errors.Is/As see each failure. One failure and nothing
// written is that error as it is.
func TestMultiWriterCloseKeepsFinished(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	errDisk := errors.New("video b.mp4: ffmpeg: disk quota exceeded")
	kept := &video.KeptError{Target: p("k.mp4"), Kept: p("k.finished.mp4"), Err: errors.New("Access is denied.")}

	a, b, k, c := &fakeOutput{path: p("a.avi")}, &fakeOutput{path: p("b.mp4"), closeErr: errDisk},
		&fakeOutput{path: p("k.mp4"), closeErr: kept}, &fakeOutput{path: p("c")}
	m := multiWriter{a, b, k, c}
	err := m.Close()
	require.Error(t, err)
	require.NoError(t, m.Abort()) // generateTo's deferred cleanup after a failure
	for _, o := range m {
		f := o.(*fakeOutput)
		require.True(t, f.closed, f.path)
		require.False(t, f.aborted, f.path)
	}
	require.ErrorIs(t, err, errDisk)
	ke, ok := errors.AsType[*video.KeptError](err)
	require.True(t, ok, "no KeptError in %v", err)
	require.Same(t, kept, ke)
	require.True(t, keptOutputs(err))
	lines := strings.Split(err.Error(), "\n")
	require.Equal(t, []string{
		errDisk.Error(),
		kept.Error(),
		"written, complete and kept: " + p("a.avi") + " (MJPEG AVI, 5 frames), " + p("c") + " (MJPEG AVI, 5 frames)",
	}, lines)
	require.Contains(t, lines[1], "it is kept as "+p("k.finished.mp4"))
	require.Equal(t, []string{"a.avi", "c"}, entries(t, dir))

	// Only failures: each named, nothing said kept.
	dir2 := t.TempDir()
	errOther := errors.New("video x.avi: no frames were written")
	m = multiWriter{&fakeOutput{path: filepath.Join(dir2, "x.avi"), closeErr: errOther}, &fakeOutput{path: filepath.Join(dir2, "y"), closeErr: errDisk}}
	err = m.Close()
	require.Equal(t, errOther.Error()+"\n"+errDisk.Error(), err.Error())
	require.False(t, keptOutputs(err))
	require.Empty(t, entries(t, dir2))

	// One output failing alone: its own error.
	m = multiWriter{&fakeOutput{path: filepath.Join(dir2, "x.avi"), closeErr: errDisk}}
	require.Same(t, errDisk, m.Close())

	// All closing: no error.
	m = multiWriter{&fakeOutput{path: filepath.Join(dir2, "x.avi")}, &fakeOutput{path: filepath.Join(dir2, "y")}}
	require.NoError(t, m.Close())
	require.Equal(t, []string{"x.avi", "y"}, entries(t, dir2))
}

// onceOn is a stdout that runs do the first time a write contains s.
type onceOn struct {
	s    string
	once *sync.Once
	do   func()
	buf  *bytes.Buffer
}

func (o onceOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(o.s)) {
		o.once.Do(o.do)
	}
	return o.buf.Write(p)
}

// TestI2VKeepsFinishedVideoWhenFramesFail: a real run writing an AVI and a
// frames folder, whose folder's name is taken while the frames are written:
// the frames fail at the end, the AVI is complete and kept, stdout reports
// it written as after a success (a "done" object), and the error says the
// frames failed and the AVI was kept. Nothing temporary is left.
func TestI2VKeepsFinishedVideoWhenFramesFail(t *testing.T) {
	args, out := i2vSetup(t)
	avi, frames := filepath.Join(out, "v.avi"), filepath.Join(out, "frames")
	f, code, ok := parseI2V(append(args[1:], "--out", avi, "--frames-dir", frames, "--json"), &bytes.Buffer{}, &bytes.Buffer{})
	require.True(t, ok, code)
	var stdout bytes.Buffer
	w := onceOn{`"stage":"video-write"`, new(sync.Once), func() { require.NoError(t, os.Mkdir(frames, 0o755)) }, &stdout}
	err := i2v(context.Background(), f, w, &bytes.Buffer{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "video "+frames+": already exists")
	require.Contains(t, err.Error(), "written, complete and kept: "+avi+" (MJPEG AVI, 5 frames)")
	require.True(t, keptOutputs(err))
	require.Contains(t, stdout.String(), `"path":"`+avi+`"`)
	b, rerr := os.ReadFile(avi)
	require.NoError(t, rerr)
	require.Equal(t, "RIFF", string(b[:4]))
	require.ElementsMatch(t, []string{"v.avi", "frames"}, entries(t, out))
	require.Empty(t, entries(t, frames))
	require.Empty(t, atomicfile.Pending())

	// Reported by the command: status 1, and no "nothing was written".
	var se, so bytes.Buffer
	require.Equal(t, 1, runFailed(context.Background(), "i2v", err, true, &so, &se))
	require.Contains(t, se.String(), "written, complete and kept")
	require.Contains(t, so.String(), `"type":"error"`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	se.Reset()
	require.Equal(t, exitInterrupted, runFailed(ctx, "i2v", err, false, &so, &se))
	require.NotContains(t, se.String(), "nothing was written")
	require.Contains(t, se.String(), "interrupted; ")
}
