package video

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Injection points for the tests: where the running program is, and the
// lookup of an executable.
var (
	executable = os.Executable
	lookPath   = exec.LookPath
)

// FindFFmpeg is the ffmpeg that Create runs for MP4. It looks on PATH, then
// in the folder of the running program (where a user puts ffmpeg.exe beside
// wan22.exe on Windows). The error is an *FFmpegNotFoundError.
//
// An ffmpeg found only through the current folder — on Windows, which
// searches it before PATH, or through a relative entry such as "." in PATH,
// for which exec.LookPath returns exec.ErrDot — is not used: a program in
// the folder one happens to work in may have been put there by anyone (a
// downloaded archive), and Go refuses to run it implicitly for that reason.
// The error says so and where to put it instead. A GODEBUG of
// execerrdot=0 turns Go's check off, and then FindFFmpeg takes what
// exec.LookPath finds.
func FindFFmpeg() (string, error) {
	path, err := lookPath("ffmpeg")
	if err == nil {
		return path, nil
	}
	nf := &FFmpegNotFoundError{}
	if errors.Is(err, exec.ErrDot) {
		nf.Dot = path
		if abs, err := filepath.Abs(path); err == nil {
			nf.Dot = abs
		}
		// Windows looks in the current folder before PATH: an ffmpeg on
		// PATH proper is still fine.
		for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
			if filepath.IsAbs(dir) {
				if p, err := lookPath(filepath.Join(dir, "ffmpeg")); err == nil {
					return p, nil
				}
			}
		}
	}
	if exe, err := executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		nf.Dir, nf.Program = filepath.Dir(exe), filepath.Base(exe)
		// A path with a separator is looked up as it is (with Windows'
		// .exe and the like added), never through the current folder.
		if p, err := lookPath(filepath.Join(nf.Dir, "ffmpeg")); err == nil {
			return p, nil
		}
	}
	return "", nf
}

// FFmpegNotFoundError is FindFFmpeg's error: no ffmpeg on PATH nor in the
// folder of the running program. It wraps exec.ErrDot when one was found in
// the current folder and not used, exec.ErrNotFound otherwise.
type FFmpegNotFoundError struct {
	Dot     string // the ffmpeg in the current folder that was not used; "" if none
	Dir     string // the running program's folder, searched after PATH; "" if unknown
	Program string // the running program's file name in Dir
}

func (e *FFmpegNotFoundError) Error() string {
	if e.Dot != "" {
		fix := "add its folder to PATH"
		if e.Dir != "" {
			fix = fmt.Sprintf("move it next to %s (in %s) or add its folder to PATH", e.Program, e.Dir)
		}
		return fmt.Sprintf("ffmpeg in the current folder (%s) is not run, as a program found through the current folder may have been put there by anyone: for MP4, %s", e.Dot, fix)
	}
	const install = "install ffmpeg (apt install ffmpeg, brew install ffmpeg or winget install ffmpeg)"
	if e.Dir == "" {
		return "ffmpeg is not on PATH: for MP4, " + install
	}
	return fmt.Sprintf("ffmpeg was found neither on PATH nor next to %s (in %s): for MP4, %s or put ffmpeg in that folder", e.Program, e.Dir, install)
}

func (e *FFmpegNotFoundError) Unwrap() error {
	if e.Dot != "" {
		return exec.ErrDot
	}
	return exec.ErrNotFound
}
