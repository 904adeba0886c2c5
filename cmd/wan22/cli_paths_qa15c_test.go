package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A folder flag given entirely as a variable no shell expanded is said to
// be one, not to be created first; a file's own name is still its own.
func TestEnvVarFolderWhole(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"VIDEOS": `C:\Users\me\Videos`, "HOME": "/home/me"}[k]
	}
	for _, c := range []struct{ goos, path, want string }{
		{"windows", `%VIDEOS%`, `PowerShell leaves it as it is: there write $env:VIDEOS, or write the full path C:\Users\me\Videos`},
		{"windows", `$HOME`, "how a Unix shell names a variable: cmd.exe writes %HOME%"},
		{"windows", `D:\out\$env:VIDEOS\`, "PowerShell names a variable"},
		{"linux", "$HOME", "the shell did not expand $HOME: it does not in single quotes; use double quotes, or write the full path /home/me"},
		{"linux", "out/${HOME}/", "did not expand ${HOME}"},
		{"linux", "%VIDEOS%", "cmd.exe names a variable; the shell here writes $VIDEOS"},
	} {
		if got := envVarFolderAdvice(c.path, c.goos, getenv); !strings.Contains(got, c.want) {
			t.Errorf("%s %q: %q, want %q in it", c.goos, c.path, got, c.want)
		}
		if got := missingFolderAdvice(c.path, c.goos, func(string) bool { return true }, getenv); !strings.Contains(got, c.want) {
			t.Errorf("missingFolderAdvice %s %q: %q, want %q in it", c.goos, c.path, got, c.want)
		}
	}
	for _, path := range []string{"videos", "100%", "a$b", "out/x%V%", `C:\out\v`} {
		if got := envVarFolderAdvice(path, "windows", getenv); got != "" {
			t.Errorf("%q: %q", path, got)
		}
	}
	// An output file's name is still skipped.
	if got := envVarAdvice("$HOME", "linux", getenv); got != "" {
		t.Errorf("file $HOME: %q", got)
	}
}

func TestFolderFlagWholeVariable(t *testing.T) {
	v := "%WAN22_QA15C_NOT_SET%"
	err := checkExistingFolder("--out-video", v, "the videos")
	if err == nil || strings.Contains(err.Error(), "create it first") || !strings.Contains(err.Error(), "not its value") {
		t.Errorf("--out-video %s: %v", v, err)
	}
	t.Chdir(t.TempDir())
	err = checkOutputPath("--frames-dir", v, newFolder)
	if err == nil || !strings.Contains(err.Error(), "not its value") {
		t.Errorf("--frames-dir %s: %v", v, err)
	}
	if _, err := os.Lstat(v); err == nil {
		t.Errorf("%s was made", v)
	}
	// A folder named so that exists is refused as any other existing one.
	if err := os.Mkdir(v, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkOutputPath("--frames-dir", v, newFolder); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("existing %s: %v", v, err)
	}
	// Inside an existing folder that is named so, a plain name is the user's.
	if err := checkOutputPath("--frames-dir", filepath.Join(v, "frames"), newFolder); err != nil {
		t.Errorf("%s/frames: %v", v, err)
	}
}
