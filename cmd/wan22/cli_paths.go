package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/wan22/wan22/engine/video"
)

// outputKind is what an output path names.
type outputKind int

const (
	newFile      outputKind = iota // a file that must not exist yet (--out, bench --json)
	newFolder                      // a folder made by the run (--frames-dir)
	replacedFile                   // a file replaced when it exists (--preview)
)

// checkOutputPath checks, before anything loads, that the output flagName
// names can be written at path: its folder exists and is writable, path is
// not a folder where a file goes, and nothing is there unless kind is
// replacedFile.
func checkOutputPath(flagName, path string, kind outputKind) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s %s: the folder %s does not exist: create it first", flagName, path, dir)
	case err != nil:
		return fmt.Errorf("%s %s: %w", flagName, path, err)
	case !st.IsDir():
		return fmt.Errorf("%s %s: %s is not a folder", flagName, path, dir)
	}
	if st, err := os.Lstat(path); err == nil {
		switch {
		case st.IsDir() && kind != newFolder:
			return fmt.Errorf("%s %s is a folder: give a file name", flagName, path)
		case kind != replacedFile:
			return fmt.Errorf("%s %s already exists: choose another name or remove it", flagName, path)
		}
	}
	// Writable: the outputs are written through a temporary file in dir.
	probe, err := os.CreateTemp(dir, ".wan22-write-check-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the probe's own name says nothing to the user
		}
		return fmt.Errorf("%s %s: cannot write in the folder %s: %w", flagName, path, dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// ffmpegMissing reports whether ffmpeg is not on PATH, the test video.Create
// makes (exec.LookPath) before it writes an .mp4 as an MJPEG .avi.
func ffmpegMissing() bool {
	_, err := exec.LookPath("ffmpeg")
	return err != nil
}

// videoTarget is the file video.Create (with the Auto format) writes for
// the video path: path itself or, for an .mp4 while ffmpeg is missing, its
// .avi (video.FallbackPath), which fellBack reports.
func videoTarget(path string) (target string, fellBack bool) {
	if format, _ := video.FormatOf(path); format == video.MP4 && ffmpegMissing() {
		return video.FallbackPath(path), true
	}
	return path, false
}

// checkVideoTarget checks, before anything loads and again just before the
// video is created, that nothing is at the file the video flagName names
// (path) is written to: path itself (checkOutputPath says so first), or the
// .avi an .mp4 is written as without ffmpeg. The message names both paths
// and why, in the CLI's words (the library's speaks of an overwrite option
// the CLI does not have).
func checkVideoTarget(flagName, path string) error {
	if path == "" {
		return nil
	}
	target, fellBack := videoTarget(path)
	if _, err := os.Lstat(target); err != nil {
		return nil // nothing there; an unreadable folder is checkOutputPath's and Create's to report
	}
	if fellBack {
		return fmt.Errorf("%s %s: ffmpeg is missing, so the video would be written as the MJPEG AVI %s, and %s already exists: choose another name, remove %s, or install ffmpeg (apt install ffmpeg, brew install ffmpeg or winget install ffmpeg) for MP4",
			flagName, path, target, target, target)
	}
	return fmt.Errorf("%s %s already exists: choose another name or remove it", flagName, path)
}

// namedPath is a path a flag gives, for messages: "--image in.png". A path
// the run may write in place of the flag's own (the .avi of an --out .mp4
// without ffmpeg) is described by as instead.
type namedPath struct{ flag, path, as string }

// String is the path for messages: "--image in.png", or as.
func (n namedPath) String() string {
	if n.as != "" {
		return n.as
	}
	return n.flag + " " + n.path
}

// sameFile reports whether a and b name the same file: the same cleaned
// absolute path, or, when both exist, one file reached two ways (a link, a
// hard link, another spelling) by os.SameFile.
func sameFile(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if aa, err1 := filepath.Abs(a); err1 == nil {
		if ab, err2 := filepath.Abs(b); err2 == nil && aa == ab {
			return true
		}
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// pngMagic is the first 8 bytes of every PNG file.
const pngMagic = "\x89PNG\r\n\x1a\n"

// checkPreviewPath checks, before anything loads, the file --preview
// replaces after every step: it must not be any of the run's inputs or
// other outputs (others), and a file already there must be a PNG image (an
// earlier preview), never another kind of file.
func checkPreviewPath(path string, others []namedPath) error {
	for _, o := range others {
		if sameFile(path, o.path) {
			return fmt.Errorf("--preview %s is the same file as %s: the preview is rewritten after every step; give it a name of its own", path, o)
		}
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("--preview %s: %w", path, err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("--preview %s exists and is not a regular file: choose another name", path)
	}
	head := make([]byte, len(pngMagic))
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--preview %s: %w", path, err)
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	if string(head[:n]) != pngMagic {
		return fmt.Errorf("--preview %s exists and is not a PNG image: the preview replaces only an earlier preview; choose another name or remove it", path)
	}
	return nil
}
