// Package video writes the frames of a generated video to a file as they are
// decoded: MP4 (H.264, yuv420p, BT.709) through an ffmpeg subprocess, a
// pure-Go MJPEG AVI when ffmpeg is absent, or a directory of PNG frames.
//
// Every output is written to a hidden temporary file (or directory) next to
// the target, named after it and the process id, and renamed onto the target
// by Close. Abort, or a failed Close, removes it: a failed or cancelled run
// leaves nothing behind. The one exception is a finished video that another
// program keeps Close from renaming (on Windows, one with the file open):
// it is kept, and Close's *KeptError says where. The usual pattern is
//
//	w, err := video.Create(ctx, path, video.Options{Width: 832, Height: 480})
//	if err != nil { return err }
//	defer w.Abort() // no-op after a successful Close
//	if w.Fallback() != "" { log.Print(w.Fallback()) }
//	... w.WriteFrame(img) for each frame ...
//	return w.Close()
//
// A File is not safe for concurrent use.
package video

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"os"
	"path/filepath"
	"strings"

	"github.com/wan22/wan22/internal/atomicfile"
	"github.com/wan22/wan22/internal/plural"
)

// Format is an output container and codec.
type Format int

const (
	// Auto chooses the format from the target's extension: .mp4 or .avi.
	Auto Format = iota
	// MP4 is H.264 yuv420p with BT.709 tags through ffmpeg; without ffmpeg
	// (see FindFFmpeg) it falls back to AVI (see File.Fallback).
	MP4
	// AVI is Motion-JPEG in an AVI 1.0 file, pure Go, limited to 1 GiB.
	AVI
	// PNGDir is a directory of frame_0000.png, frame_0001.png, …; the target
	// directory must not exist.
	PNGDir
)

func (f Format) String() string {
	switch f {
	case Auto:
		return "auto"
	case MP4:
		return "MP4"
	case AVI:
		return "MJPEG AVI"
	case PNGDir:
		return "PNG frames"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// MaxSide is the largest accepted frame width or height.
const MaxSide = 16384

// DefaultFPS is the official WAN 2.2 frame rate.
const DefaultFPS = 16

// Options configures Create.
type Options struct {
	Width, Height int    // frame size in pixels; even for MP4
	FPS           int    // frames per second; 0 means DefaultFPS
	Format        Format // Auto: from the extension
	Overwrite     bool   // replace an existing file (never a directory)
	CRF           int    // H.264 constant rate factor; 0 means 18 (visually lossless)
	JPEGQuality   int    // MJPEG quality 1…100; 0 means 90
}

// Writer receives the frames of one video in order. Close finishes the file
// and renames it onto the target; Abort stops and removes everything written.
type Writer interface {
	WriteFrame(img image.Image) error
	Close() error
	Abort() error
}

// FrameSizer is a Writer that knows the size of the frames it accepts, as
// File does: a producer can check its frames' size before making any.
type FrameSizer interface {
	FrameSize() (width, height int)
}

// FrameRater is a Writer that knows its frame rate in frames per second,
// as File does: a producer can check the rate it means before writing.
type FrameRater interface {
	FPS() int
}

// encoder is one output format behind a File: it writes into the temporary
// path the File chose and leaves removing it to the File.
type encoder interface {
	writeFrame(img *image.RGBA) error
	finish() error // completes the temporary output
	abort()        // stops at once; the File removes the output
}

// File is a video being written; it implements Writer.
type File struct {
	path     string // final target
	tmp      string // temporary file or directory next to it
	format   Format
	fallback string
	o        Options
	ctx      context.Context
	enc      encoder
	frames   int
	err      error // first error; the File is unusable after it
	done     bool  // closed or aborted
	scratch  *image.RGBA
}

// Create validates the options and the target, creates the temporary output
// next to path (so an unwritable directory fails here, before any frame is
// encoded) and starts the encoder. The ffmpeg subprocess of MP4 is tied to
// ctx: cancelling it kills ffmpeg, and a WriteFrame under way then fails.
// In every format, once ctx has ended WriteFrame and Close fail (errors.Is
// the context's error), and Close removes the output.
func Create(ctx context.Context, path string, o Options) (*File, error) {
	if path == "" {
		return nil, errors.New("video: no output path given")
	}
	if o.Width <= 0 || o.Height <= 0 || o.Width > MaxSide || o.Height > MaxSide {
		return nil, fmt.Errorf("video %s: frame size %d×%d must be 1…%d pixels a side", path, o.Width, o.Height, MaxSide)
	}
	if o.FPS == 0 {
		o.FPS = DefaultFPS
	}
	if o.FPS < 1 || o.FPS > 1000 {
		return nil, fmt.Errorf("video %s: %d fps: must be 1…1000", path, o.FPS)
	}
	if o.CRF == 0 {
		o.CRF = 18
	}
	if o.CRF < 0 || o.CRF > 51 {
		return nil, fmt.Errorf("video %s: CRF %d: must be 0…51", path, o.CRF)
	}
	if o.JPEGQuality == 0 {
		o.JPEGQuality = 90
	}
	if o.JPEGQuality < 1 || o.JPEGQuality > 100 {
		return nil, fmt.Errorf("video %s: JPEG quality %d: must be 1…100", path, o.JPEGQuality)
	}
	format := o.Format
	if format == Auto {
		var err error
		if format, err = FormatOf(path); err != nil {
			// A folder's name has no video extension: say that it is a
			// folder, not that its extension is unknown.
			if st, serr := os.Stat(path); serr == nil && st.IsDir() {
				return nil, fmt.Errorf("video %s: is a directory, not a video file: name a file inside it, such as %s", path, filepath.Join(path, "video.mp4"))
			}
			return nil, err
		}
	}
	if format < MP4 || format > PNGDir {
		return nil, fmt.Errorf("video %s: unknown format %v", path, format)
	}
	if format == MP4 && (o.Width%2 != 0 || o.Height%2 != 0) {
		return nil, fmt.Errorf("video %s: frame size %d×%d: H.264 yuv420p needs even width and height", path, o.Width, o.Height)
	}
	f := &File{path: path, format: format, o: o, ctx: ctx}
	var ffmpeg string
	if format == MP4 {
		var err error
		if ffmpeg, err = FindFFmpeg(); err != nil {
			f.format = AVI
			f.path = FallbackPath(path)
			f.fallback = fmt.Sprintf("writing an MJPEG AVI (%s) instead of MP4: %v", f.path, err)
		}
	}
	if err := checkTarget(f.path, f.format, o.Overwrite); err != nil {
		return nil, err
	}
	dir, _ := filepath.Split(f.path)
	if dir == "" {
		dir = "."
	}
	// The temporary output (internal/atomicfile) has the modes of a new
	// file or folder, 0666 or 0777 less the umask, and is registered for a
	// process that quits at once.
	var err error
	if f.format == PNGDir {
		f.tmp, err = atomicfile.TempDir(f.path)
	} else {
		var tf *atomicfile.File
		if tf, err = atomicfile.Create(f.path); err == nil {
			f.tmp = tf.Name()
			if f.format == AVI {
				f.enc, err = newAVI(tf.File, o.Width, o.Height, o.FPS, o.JPEGQuality)
			} else {
				tf.Close()
			}
		}
	}
	if err != nil {
		f.removeTemp()
		return nil, fmt.Errorf("video %s: cannot write in directory %s: %w", f.path, dir, err)
	}
	// Each writer registers what it holds open in the temporary output as
	// its closer (the AVI's file is the one atomicfile.Create registered):
	// a quit closes it before removing the output, which Windows cannot
	// remove while it is open.
	switch f.format {
	case MP4:
		e := newFFmpeg(ctx, ffmpeg, f.tmp, o)
		atomicfile.RegisterCloser(f.tmp, e.kill) // before the start: a quit from now on stops ffmpeg first
		if err = e.start(); err == nil {
			f.enc = e
		}
	case PNGDir:
		p := &pngDir{dir: f.tmp}
		atomicfile.RegisterCloser(f.tmp, p.closeFrame)
		f.enc = p
	}
	if err != nil {
		f.removeTemp()
		return nil, fmt.Errorf("video %s: %w", f.path, err)
	}
	return f, nil
}

// renameOutput is Close's rename of the finished temporary output onto the
// target (a variable for the tests: the failures it retries and keeps the
// output after happen on Windows only).
var renameOutput = atomicfile.Rename

// KeptError is Close's error when the finished video could not be renamed
// onto its path, most likely because another program had the file (or a
// file in the frames folder, or the older file at the path) open — on
// Windows an antivirus or indexer scan, Explorer's preview pane, a player.
// Close retries for a few seconds first. The video is kept, complete, at
// Kept: the user renames it to Target once the other program lets go.
//
// It is an alias of a type in an internal package, so its fields are listed
// here (go doc does not show an alias's fields):
//
//	Target string  // where the video was to go: File.Path
//	Kept   string  // where the finished video is (a visible name beside Target, or the temporary one)
//	Err    error   // the last error renaming it onto Target (Unwrap returns it)
//	Found  Blocker // what stood at Target: BlockedByProgram, BlockedByFolder or BlockedByReadOnly
//
// Inspect it with errors.As (or errors.AsType[*video.KeptError]):
//
//	if ke, ok := errors.AsType[*video.KeptError](w.Close()); ok {
//		log.Printf("the video is at %s; rename it to %s", ke.Kept, ke.Target)
//	}
type KeptError = atomicfile.KeptError

// Blocker is KeptError.Found: what stood at the target when the rename had
// failed for good. Windows answers "access denied" alike for a file another
// program has open, a folder at the target and a read-only file there, so
// Close looks. It is an alias of the internal package's type, so that a
// caller can name it and its values.
type Blocker = atomicfile.Blocker

// The values of Blocker.
const (
	// BlockedByProgram: a file or nothing is at the target, so most likely
	// another program has it (or the new video) open.
	BlockedByProgram = atomicfile.BlockedByProgram
	// BlockedByFolder: a folder is at the target.
	BlockedByFolder = atomicfile.BlockedByFolder
	// BlockedByReadOnly: the file at the target is read-only.
	BlockedByReadOnly = atomicfile.BlockedByReadOnly
)

// ExtensionError is FormatOf's error: the extension of Path names no video
// format (Ext, in lower case, is "" when the name has none).
type ExtensionError struct {
	Path, Ext string
}

func (e *ExtensionError) Error() string {
	return fmt.Sprintf("video %s: unknown extension %q: use .mp4 (H.264 through ffmpeg), .avi (MJPEG) or a frames directory", e.Path, e.Ext)
}

// FormatOf is the format Create chooses for path when Options.Format is
// Auto, from its extension in any case: MP4 for .mp4, AVI for .avi. Any
// other extension, or none, gives an *ExtensionError. A caller can check a
// path with it before any frame exists.
func FormatOf(path string) (Format, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".mp4":
		return MP4, nil
	case ".avi":
		return AVI, nil
	default:
		return Auto, &ExtensionError{Path: path, Ext: ext}
	}
}

// FallbackPath is the file Create writes instead of the MP4 path when
// ffmpeg is missing: the same name ending in .avi, an MJPEG AVI (see
// File.Fallback). A caller that must keep other files apart from the video
// checks both.
func FallbackPath(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + ".avi"
}

// checkTarget refuses targets that Close could not or should not replace.
func checkTarget(path string, format Format, overwrite bool) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("video %s: directory %s does not exist or cannot be read: %w", path, dir, err)
	} else if !st.IsDir() {
		return fmt.Errorf("video %s: %s is not a directory", path, dir)
	}
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("video %s: %w", path, err)
	}
	switch {
	case format == PNGDir:
		return fmt.Errorf("video %s: already exists; frames go into a new directory: choose a name that does not exist", path)
	case st.IsDir():
		return fmt.Errorf("video %s: is a directory; give a file name", path)
	case !overwrite:
		return fmt.Errorf("video %s: already exists; choose another name or allow overwriting", path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("video %s: exists and is not a regular file", path)
	}
	return nil
}

// Path is where Close puts the video: the target, or the .avi name when MP4
// fell back to MJPEG.
func (f *File) Path() string { return f.path }

// Format is the format actually written (AVI after a fallback).
func (f *File) Format() Format { return f.format }

// Fallback is a message for the user when MP4 was asked for but ffmpeg was
// not found (FindFFmpeg's error says where it looked and what to do) and an
// MJPEG AVI is written instead; "" otherwise.
func (f *File) Fallback() string { return f.fallback }

// FrameSize is the size every frame given to WriteFrame must have
// (Options.Width × Options.Height).
func (f *File) FrameSize() (width, height int) { return f.o.Width, f.o.Height }

// FPS is the video's frame rate in frames per second (Options.FPS, or
// DefaultFPS when it was 0).
func (f *File) FPS() int { return f.o.FPS }

// Frames is the number of frames written so far.
func (f *File) Frames() int { return f.frames }

// Err is nil while the File takes frames, and otherwise why it takes no
// more: Close or Abort was called, a frame failed to encode, or the context
// it was created with has ended. A caller handing the File to long work
// (wan22's Generate) checks it first.
func (f *File) Err() error {
	switch {
	case f.err != nil:
		return f.err
	case f.done:
		return fmt.Errorf("video %s: closed", f.path)
	}
	if err := f.ctx.Err(); err != nil {
		return fmt.Errorf("video %s: its context has ended: %w", f.path, err)
	}
	return nil
}

// WriteFrame encodes the next frame. img must be Width×Height; alpha is
// ignored (frames are expected opaque). *image.RGBA at the origin is used
// without a copy (see FrameRGBA). After an error the File only accepts
// Abort or Close, which remove the output.
func (f *File) WriteFrame(img image.Image) error {
	if f.done {
		return fmt.Errorf("video %s: WriteFrame after Close or Abort", f.path)
	}
	if f.err != nil {
		return f.err
	}
	if err := f.ctx.Err(); err != nil {
		f.err = f.cancelled(err, nil)
		return f.err
	}
	if img == nil {
		return fmt.Errorf("video %s: frame %d is nil", f.path, f.frames)
	}
	b := img.Bounds()
	if b.Dx() != f.o.Width || b.Dy() != f.o.Height {
		return fmt.Errorf("video %s: frame %d is %d×%d, the video is %d×%d", f.path, f.frames, b.Dx(), b.Dy(), f.o.Width, f.o.Height)
	}
	rgba, ok := img.(*image.RGBA)
	if !ok || b.Min != (image.Point{}) || rgba.Stride != 4*b.Dx() {
		if f.scratch == nil {
			f.scratch = image.NewRGBA(image.Rect(0, 0, f.o.Width, f.o.Height))
		}
		draw.Draw(f.scratch, f.scratch.Rect, img, b.Min, draw.Src)
		rgba = f.scratch
	}
	if err := f.enc.writeFrame(rgba); err != nil {
		if cerr := f.ctx.Err(); cerr != nil { // ended during the write: ffmpeg was killed by it
			f.err = f.cancelled(cerr, err)
			return f.err
		}
		f.err = fmt.Errorf("video %s: frame %d: %w", f.path, f.frames, err)
		return f.err
	}
	f.frames++
	return nil
}

// cancelled is the error of a File whose context has ended (ctxErr): the
// frames written so far, and cause, the error the end brought about (ffmpeg
// killed by it), when there is one.
func (f *File) cancelled(ctxErr, cause error) error {
	if cause != nil {
		return fmt.Errorf("video %s: cancelled after %s: %w (%w)", f.path, plural.Count(f.frames, "frame"), ctxErr, cause)
	}
	return fmt.Errorf("video %s: cancelled after %s: %w", f.path, plural.Count(f.frames, "frame"), ctxErr)
}

// Close finishes the video and renames it onto Path. On any error (including
// an earlier one, the end of the context it was created with, or no frames
// at all) it removes the temporary output and returns the error: nothing is
// left behind — except when the finished video cannot be renamed onto Path
// because another program keeps it (see KeptError): it is kept, and the
// error, a *KeptError, names it.
func (f *File) Close() error {
	if f.done {
		if f.err != nil {
			return f.err
		}
		return nil
	}
	f.done = true
	fail := func(err error) error {
		f.enc.abort()
		f.removeTemp()
		f.err = err
		return err
	}
	if f.err != nil {
		return fail(f.err)
	}
	if f.frames == 0 {
		return fail(fmt.Errorf("video %s: no frames were written", f.path))
	}
	// A File whose context has ended takes no more frames (Err), and its
	// video is not completed either, whatever the format: MP4's ffmpeg is
	// killed by it, and an AVI or PNG folder would be renamed onto Path
	// with the frames written so far, a partial video of a cancelled run.
	if err := f.ctx.Err(); err != nil {
		return fail(f.cancelled(err, nil))
	}
	if err := f.enc.finish(); err != nil {
		if cerr := f.ctx.Err(); cerr != nil { // ended during finish: ffmpeg was killed by it
			return fail(f.cancelled(cerr, err))
		}
		return fail(fmt.Errorf("video %s: %w", f.path, err))
	}
	if err := checkTarget(f.path, f.format, f.o.Overwrite); err != nil {
		return fail(err) // appeared while encoding
	}
	if err := renameOutput(f.tmp, f.path); err != nil {
		f.tmp = "" // kept or removed by Rename
		if _, kept := errors.AsType[*KeptError](err); kept {
			f.err = fmt.Errorf("video %s: %w", f.path, err)
			return f.err
		}
		return fail(fmt.Errorf("video %s: %w", f.path, err))
	}
	return nil
}

// Abort stops the encoder (killing ffmpeg) and removes the temporary output.
// It does nothing after a successful Close, so it can always be deferred.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	f.enc.abort()
	if f.err == nil {
		f.err = fmt.Errorf("video %s: aborted", f.path)
	}
	if err := f.removeTemp(); err != nil {
		return fmt.Errorf("video %s: removing the temporary output: %w", f.path, err)
	}
	return nil
}

func (f *File) removeTemp() error {
	if f.tmp == "" {
		return nil
	}
	return atomicfile.Remove(f.tmp)
}
