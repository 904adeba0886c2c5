package main

// Tests of the output names a Windows user (and others) can give, on any
// system: the checks take the system as a parameter, or apply on every one.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/internal/atomicfile"
)

// TestCheckNameLength: an output name that fits the system's 255 but not
// with the temporary name's 25 or so characters more was accepted up
// front, and failed when the output was created, after the whole
// generation; now every name the checks accept can be created under its
// temporary name, and a longer one is refused, saying how long it may be.
func TestCheckNameLength(t *testing.T) {
	dir := t.TempDir()
	extra := len(atomicfile.LongestTempName("")) // the temporary name's characters
	fits := maxNameLen - extra
	for _, n := range []int{fits - 1, fits, fits + 1, fits + 10, maxNameLen - 4} {
		path := filepath.Join(dir, strings.Repeat("v", n-4)+".mp4")
		err := checkOutputPath("--out", path, newFile)
		if n > fits {
			if err == nil || !strings.Contains(err.Error(), "the name is too long") || !strings.Contains(err.Error(), "shorten the name to") {
				t.Errorf("a %d-character name: %v, want it refused as too long", n, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("a %d-character name: %v", n, err)
			continue
		}
		// What the checks accept, the writers can make.
		f, err := atomicfile.Create(path)
		if err != nil {
			t.Errorf("a %d-character name, accepted: %v", n, err)
			continue
		}
		f.Abort()
		d, err := atomicfile.TempDir(path)
		if err != nil {
			t.Errorf("a %d-character folder name, accepted: %v", n, err)
			continue
		}
		atomicfile.Remove(d)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the checks left %d files", len(entries))
	}
}

// TestCheckNameLengthUnits: Windows counts a name in UTF-16 units (a CJK
// letter one, an emoji two), other systems in bytes (a CJK letter three);
// the folders before the name do not count, nor a trailing separator.
func TestCheckNameLengthUnits(t *testing.T) {
	extra := len(atomicfile.LongestTempName(""))
	cjk := strings.Repeat("视", 200) + ".mp4" // 204 UTF-16 units, 604 bytes
	emoji := strings.Repeat("🎬", 120) + ".mp4"
	for _, c := range []struct {
		goos, path string
		refused    bool
	}{
		{"windows", cjk, false},
		{"linux", cjk, true},
		{"darwin", cjk, true},
		{"windows", emoji, true}, // 244 UTF-16 units
		{"windows", `C:\` + strings.Repeat("d", 250) + `\v.mp4`, false},
		{"linux", "/" + strings.Repeat("d", 250) + "/v.mp4", false},
		{"linux", strings.Repeat("f", 255-extra) + "/", false},
		{"linux", strings.Repeat("f", 256-extra) + "/", true},
		{"windows", `C:` + strings.Repeat("f", 256-extra), true}, // drive-relative
		{"windows", `C:` + strings.Repeat("f", 255-extra), false},
	} {
		err := checkOutputName("--frames-dir", c.path, c.goos)
		if got := err != nil && strings.Contains(err.Error(), "the name is too long"); got != c.refused {
			t.Errorf("%s %.20q… (%d bytes): %v, want refused %v", c.goos, c.path, len(c.path), err, c.refused)
		}
	}
	err := checkOutputName("--out", cjk, "linux")
	if err == nil || !strings.Contains(err.Error(), "604 bytes") || !strings.Contains(err.Error(), "2 to 4 bytes") {
		t.Errorf("linux, CJK: %v, want the length in bytes and why", err)
	}
	if err := checkOutputName("--out", emoji, "windows"); err == nil || !strings.Contains(err.Error(), "244 characters") {
		t.Errorf("windows, emoji: %v, want the length in UTF-16 units", err)
	}
}

// TestEscapedQuoteAdvice: on Windows a path typed with a backslash before
// its closing quote ("C:\out\frames\") arrives with the quote in it, and
// the words after it joined to it when it was not the last; the refusal
// said only that Windows does not allow the quote, which the user did not
// mean as part of the name. It now says how it came there and what to
// type. A quote inside a name keeps the plain refusal; other systems take
// the quote.
func TestEscapedQuoteAdvice(t *testing.T) {
	for _, c := range []struct {
		path string
		want []string
	}{
		{`C:\out\frames"`, []string{`typed as "C:\out\frames\"`, `leave that backslash out, as in "C:\out\frames"`}},
		{`C:\My Videos\frames"`, []string{`as in "C:\My Videos\frames"`}},
		{`C:\out" --out v.mp4`, []string{`typed as "C:\out\"`, "(--out v.mp4) joined to it", `as in "C:\out"`}},
		{`C:\out" --out D:\v.mp4 --steps 4`, []string{"(--out D:\\v.mp4 --steps 4) joined", `as in "C:\out"`}},
		{`C:"`, []string{`typed as "C:\"`, `as in C:\`}},
		{`frames"`, []string{`typed as "frames\"`, `as in "frames"`}},
	} {
		err := checkOutputName("--frames-dir", c.path, "windows")
		if err == nil || !strings.HasPrefix(err.Error(), "--frames-dir "+c.path+": Windows does not allow a quote") {
			t.Errorf("windows %q: %v, want the quote refused", c.path, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("windows %q: %v, want %q in it", c.path, err, w)
			}
		}
		if err := checkOutputName("--frames-dir", c.path, "linux"); err != nil {
			t.Errorf("linux %q: %v", c.path, err)
		}
	}
	for _, path := range []string{`a"b.png`, `"x".png`, `C:\out\"quoted".mp4`} {
		err := checkOutputName("--out", path, "windows")
		if err == nil || !strings.Contains(err.Error(), `Windows does not allow "\"" in a file name: choose another name`) {
			t.Errorf("windows %q: %v, want the plain refusal", path, err)
		}
	}
}

// TestWrappedQuotesAdvice: an output path wrapped in quotes that reached
// wan22 as part of it (Explorer's "Copy as path" inside other quotes,
// single quotes in cmd.exe, typographic quotes from a page) was refused on
// Windows only as a name with a quote, or as one whose folder ("C:\out)
// does not exist, to be created, and taken on Linux as a name with the
// quotes; it is refused on every system with the path to give. On Windows
// a drive or server path after a single quote (cut in two by cmd.exe at
// its space) is refused as such; a name starting with an apostrophe is not.
func TestWrappedQuotesAdvice(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{`"C:\out\v.mp4"`, `wrapped in quotes that are part of it (quoted twice, or copied with its quotes into a quoted string or variable): give it without them: C:\out\v.mp4`},
		{`"v.mp4"`, "give it without them: v.mp4"},
		{`'C:\out\v.mp4'`, `cmd.exe takes single quotes as letters, not as quotes): give it in double quotes or none: C:\out\v.mp4`},
		{"“clip.mp4”", "typographic quotes (“ ”)"},
		{"”clip.mp4”", "give it with straight quotes or none: clip.mp4"},
		{"„out/clip.mp4“", "give it with straight quotes or none: out/clip.mp4"},
		{"‘clip.mp4’", "typographic quotes (‘ ’)"},
		{"«clip.mp4»", "typographic quotes (« »)"},
	} {
		for _, goos := range []string{"windows", "linux", "darwin"} {
			err := checkOutputName("--out", c.path, goos)
			if err == nil || !strings.HasPrefix(err.Error(), "--out "+c.path+": ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %q: %v, want %q in it", goos, c.path, err, c.want)
			}
		}
	}
	// Before the folder's check, which said to create the folder "C:\out.
	dir := t.TempDir()
	if err := checkOutputPath("--out", `"`+filepath.Join(dir, "v.mp4")+`"`, newFile); err == nil || !strings.Contains(err.Error(), "give it without them: "+filepath.Join(dir, "v.mp4")) {
		t.Errorf("checkOutputPath: %v", err)
	}
	for _, path := range []string{`'C:\my`, `'d:\videos\my`, `'\\server\share\my`, `'C:my`} {
		err := checkOutputName("--out", path, "windows")
		if err == nil || !strings.Contains(err.Error(), "starts with a single quote, which cmd.exe takes as a letter") {
			t.Errorf("windows %q: %v", path, err)
		}
	}
	for _, path := range []string{"it's.mp4", `"`, `""`, "“", "a“b”.mp4", "'v.mp4"} {
		if err := checkOutputName("--out", path, "linux"); err != nil {
			t.Errorf("linux %q: %v", path, err)
		}
	}
	for _, path := range []string{"it's.mp4", "“", "a“b”.mp4", "don't stop.mp4", "'90s.mp4", `C:\out\'90s.mp4`, "'a"} {
		if err := checkOutputName("--out", path, "windows"); err != nil {
			t.Errorf("windows %q: %v", path, err)
		}
	}
}

// TestEnvVarAdvice: an output whose folder holds a variable no shell
// expanded (%USERPROFILE% typed in PowerShell, $env:USERPROFILE or $HOME in
// cmd.exe, $HOME in single quotes) was told to create the folder, which
// would make one named %USERPROFILE%; it is told why and what to write,
// with the full path where the variable is set.
func TestEnvVarAdvice(t *testing.T) {
	env := map[string]string{"USERPROFILE": `C:\Users\me`, "HOME": "/home/me"}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		goos, path string
		want       []string
	}{
		{"windows", `%USERPROFILE%\Videos\v.mp4`, []string{"not its value", "%USERPROFILE% is how cmd.exe names a variable, and PowerShell leaves it as it is: there write $env:USERPROFILE", `or write the full path C:\Users\me\Videos\v.mp4`}},
		{"windows", `$env:USERPROFILE\v.mp4`, []string{"PowerShell names a variable, and cmd.exe leaves it as it is: there write %USERPROFILE%", `C:\Users\me\v.mp4`}},
		{"windows", `$HOME\v.mp4`, []string{"how a Unix shell names a variable: cmd.exe writes %HOME%, PowerShell $env:HOME"}},
		{"windows", `%OUTDIR%\v.mp4`, []string{"PowerShell leaves it as it is: there write $env:OUTDIR"}},
		{"linux", "$HOME/videos/v.mp4", []string{"the shell did not expand $HOME: it does not in single quotes; use double quotes, or write the full path /home/me/videos/v.mp4"}},
		{"linux", "${HOME}/v.mp4", []string{"did not expand ${HOME}"}},
		{"linux", "%USERPROFILE%/v.mp4", []string{"cmd.exe names a variable; the shell here writes $USERPROFILE"}},
	} {
		got := envVarAdvice(c.path, c.goos, getenv)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s %q: %q, want %q in it", c.goos, c.path, got, w)
			}
		}
	}
	for _, path := range []string{"v.mp4", `C:\out\v.mp4`, "out/100%.mp4", "out/$HOME.mp4", "a%b/v.mp4"} {
		if got := envVarAdvice(path, "windows", getenv); got != "" {
			t.Errorf("%q: %q", path, got)
		}
	}
	// checkOutputPath says so in place of "create it first".
	err := checkOutputPath("--out", "%WAN22_QA15_NOT_SET%/v.mp4", newFile)
	if err == nil || !strings.Contains(err.Error(), "does not exist: it holds the variable's name") || strings.Contains(err.Error(), "create it") {
		t.Errorf("checkOutputPath: %v", err)
	}
}

// TestMissingVolumeAdvice: an output on a drive or network share that is
// not there (Z:\videos\v.mp4 with no Z:, a share that cannot be reached)
// was told to create the folder, which the user cannot; it is told that the
// drive or share is missing. Volumes that are there, relative paths and
// other systems are left to the other messages.
func TestMissingVolumeAdvice(t *testing.T) {
	there := map[string]bool{`C:\`: true, `\\nas\media\`: true}
	exists := func(p string) bool { return there[p] }
	for _, c := range []struct{ path, want string }{
		{`Z:\videos\v.mp4`, "there is no drive Z: (a disk not plugged in, a network drive not connected)"},
		{`z:v.mp4`, "there is no drive Z:"},
		{`e:/out/frames`, "there is no drive E:"},
		{`\\server\share\out\v.mp4`, `the network share \\server\share cannot be reached`},
		{`//server/share/v.mp4`, `the network share \\server\share cannot be reached`},
	} {
		if got := missingVolumeAdvice(c.path, "windows", exists); !strings.Contains(got, c.want) {
			t.Errorf("%q: %q, want %q in it", c.path, got, c.want)
		}
		if got := missingVolumeAdvice(c.path, "linux", exists); got != "" {
			t.Errorf("linux %q: %q", c.path, got)
		}
	}
	for _, path := range []string{`C:\missing\v.mp4`, `c:\missing\v.mp4`, `\\nas\media\missing\v.mp4`, `out\v.mp4`, `\out\v.mp4`, `\\?\Z:\v.mp4`, `\\.\Z:\v.mp4`, `\\server`, "v.mp4"} {
		if got := missingVolumeAdvice(path, "windows", func(p string) bool { return there[strings.ToUpper(p[:1])+p[1:]] }); got != "" {
			t.Errorf("%q: %q", path, got)
		}
	}
}
