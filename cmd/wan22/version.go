package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// runVersion implements `wan22 version` (and `wan22 --version`): the module
// version ("(devel)" when built from a checkout) with the commit when the
// build recorded one, the Go version and platform, and whether this binary
// has CUDA.
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "wan22 version", "Prints wan22's version, the Go version it was built with, and whether\nthe binary has CUDA (built with `make cuda`) or runs on the CPU only.", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(stderr, "version", "unexpected arguments %q", fs.Args())
	}
	if _, err := fmt.Fprintln(stdout, versionLine(readBuildInfo, cudaAvailable())); err != nil {
		fmt.Fprintf(stderr, "wan22 version: %v\n", err) // a full disk or a closed pipe: the line was lost
		return 1
	}
	return 0
}

// readBuildInfo is debug.ReadBuildInfo (tests replace it).
var readBuildInfo = debug.ReadBuildInfo

// versionLine is the line `wan22 version` prints:
// "wan22 v1.2.0 (commit 0123abcd, modified), go1.26.0 linux/amd64, with CUDA".
func versionLine(info func() (*debug.BuildInfo, bool), cuda bool) string {
	version, goVersion, commit, modified := "unknown", runtime.Version(), "", false
	if bi, ok := info(); ok && bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	line := "wan22 " + version
	if commit != "" {
		line += " (commit " + commit[:min(len(commit), 12)]
		if modified {
			line += ", modified"
		}
		line += ")"
	}
	line += ", " + goVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
	if cuda {
		return line + ", with CUDA"
	}
	return line + ", CPU only (built without CUDA; `make cuda` builds the CUDA binary)"
}
