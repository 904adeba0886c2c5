package main

// Tests of the CLI's behaviour on Windows (and macOS) that run on any
// system: the functions take the system, or what depends on it, as a
// parameter.

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wan22/wan22/internal/atomicfile"
)

// TestSplitLoRA: a colon in a --lora* value starts the strength only when a
// number follows it; a Windows drive or a path after the colon keeps the
// whole value as the file (reported missing later, not as a bad number).
// A lone letter before a number is a drive only on Windows, and there too
// it is the file when that file exists and the whole value does not;
// whichever reading names an existing file wins.
func TestSplitLoRA(t *testing.T) {
	existing := map[string]bool{"odd:name.safetensors": true, "a": true, "b": true, "b:0.5": true, "odd:1.5": true}
	exists := func(p string) bool { return existing[p] }
	for _, c := range []struct {
		goos     string // "" for both linux and windows
		v        string
		path     string
		strength float64
		err      string // a part of the error; "" for none
	}{
		{v: "a.safetensors", path: "a.safetensors", strength: 1},
		{v: "a.safetensors:0.8", path: "a.safetensors", strength: 0.8},
		{v: "dir/a.safetensors:-1.5", path: "dir/a.safetensors", strength: -1.5},
		{v: `C:\loras\typo.safetensors`, path: `C:\loras\typo.safetensors`, strength: 1},
		{v: `c:\loras\typo.safetensors`, path: `c:\loras\typo.safetensors`, strength: 1},
		{v: `C:\loras\x.safetensors:0.8`, path: `C:\loras\x.safetensors`, strength: 0.8},
		{v: `C:/loras/x.safetensors`, path: `C:/loras/x.safetensors`, strength: 1},
		{v: `C:/loras/x.safetensors:2`, path: `C:/loras/x.safetensors`, strength: 2},
		{v: `C:x.safetensors`, path: `C:x.safetensors`, strength: 1},
		{goos: "windows", v: `D:0.5`, path: `D:0.5`, strength: 1}, // drive-relative file "0.5", not a file "D"
		{goos: "linux", v: `D:0.5`, path: `D`, strength: 0.5},     // no drives: the file "D"
		{v: `a:0.5`, path: `a`, strength: 0.5},                    // the file "a" exists, "a:0.5" does not
		{goos: "linux", v: `b:0.5`, path: `b`, strength: 0.5},     // both exist: the strength…
		{goos: "windows", v: `b:0.5`, path: `b:0.5`, strength: 1}, // …or the drive
		{goos: "windows", v: `c:0.5`, path: `c:0.5`, strength: 1}, // neither: the drive
		{v: "odd:1.5", path: "odd:1.5", strength: 1},              // only the whole value exists
		{v: `\\server\share\x.safetensors:0.25`, path: `\\server\share\x.safetensors`, strength: 0.25},
		{v: `\\server\share\x.safetensors`, path: `\\server\share\x.safetensors`, strength: 1},
		{v: "/data/run:2/x.safetensors", path: "/data/run:2/x.safetensors", strength: 1},
		{v: "/data/run:2/x.safetensors:0.5", path: "/data/run:2/x.safetensors", strength: 0.5},
		{v: `loras:\x.safetensors`, path: `loras:\x.safetensors`, strength: 1},
		{v: "odd:name.safetensors", path: "odd:name.safetensors", strength: 1}, // exists
		{v: "x.safetensors:strong", err: `"strong" is not a number`},
		{v: "ab:x.safetensors", err: `"x.safetensors" is not a number`}, // two letters: no drive
		{v: "x.safetensors:", err: `"" is not a number`},
		{v: ":0.5", path: "", strength: 0.5}, // parseLoRA reports the empty name
	} {
		for _, goos := range []string{"linux", "windows"} {
			if c.goos != "" && c.goos != goos {
				continue
			}
			path, strength, err := splitLoRA(c.v, goos, exists)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("%s: splitLoRA(%q): error %v, want one with %q", goos, c.v, err, c.err)
				}
				continue
			}
			if err != nil || path != c.path || strength != c.strength {
				t.Errorf("%s: splitLoRA(%q) = %q, %g, %v; want %q, %g", goos, c.v, path, strength, err, c.path, c.strength)
			}
		}
	}
}

// TestLoRAWindowsPathMissing: --lora with a Windows path that does not exist
// is refused as a missing file, whatever the system.
func TestLoRAWindowsPathMissing(t *testing.T) {
	for _, v := range []string{`C:\loras\typo.safetensors`, `C:\loras\typo.safetensors:0.8`} {
		path := strings.TrimSuffix(v, ":0.8")
		code, _, stderr := runCLI("i2v", "--lora", v, "--image", "in.png", "--prompt", "p",
			"--high", "h.gguf", "--low", "l.gguf", "--text-encoder", "t.gguf", "--vae", "v.safetensors", "--out", "o.mp4")
		if code != 2 || !strings.Contains(stderr, "--lora "+path+": no such file") || strings.Contains(stderr, "not a number") {
			t.Errorf("--lora %s: status %d, stderr %q; want a usage error saying the file is missing", v, code, stderr)
		}
	}
}

// TestSameFileFold: outputs spelled alike but for case are one file where
// the file system ignores case (foldCase: Windows, macOS), before either
// exists; elsewhere they are two.
func TestSameFileFold(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "R.json"), filepath.Join(dir, "r.JSON")
	if !sameFileFold(a, b, true) {
		t.Errorf("%s and %s: not the same file with case folded", a, b)
	}
	if sameFileFold(a, b, false) {
		t.Errorf("%s and %s: the same file with case kept", a, b)
	}
	if sameFileFold(a, filepath.Join(dir, "r.html"), true) {
		t.Error("R.json and r.html: the same file with case folded")
	}
	if sameFileFold(a, "", true) || sameFileFold("", "", true) {
		t.Error("an empty path is the same file as another")
	}
	// Relative and absolute spellings still meet, and folding applies to
	// the folder part too.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if !sameFileFold("Out/V.mp4", filepath.Join(wd, "out", "v.mp4"), true) {
		t.Error("Out/V.mp4 and its absolute path in lower case: not the same file with case folded")
	}
	if want := runtime.GOOS == "windows" || runtime.GOOS == "darwin"; foldCase != want {
		t.Errorf("foldCase = %v on %s, want %v", foldCase, runtime.GOOS, want)
	}
	if sameFile(a, b) != foldCase {
		t.Errorf("sameFile(%s, %s) = %v on %s", a, b, !foldCase, runtime.GOOS)
	}
	// Files not there yet in one folder reached by two paths (a link to it).
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if !sameFileFold(a, filepath.Join(link, "R.json"), false) {
		t.Errorf("%s and the same name through a link to its folder: not the same file", a)
	}
	if !sameFileFold(a, filepath.Join(link, "r.JSON"), true) || sameFileFold(a, filepath.Join(link, "r.JSON"), false) {
		t.Error("through a linked folder, case folding is not applied as asked")
	}
	if sameFileFold(a, filepath.Join(link, "S.json"), true) {
		t.Error("R.json and S.json through a linked folder: the same file")
	}
}

// TestCheckOutputNameWindows: on Windows an output named after a device
// (any case, any extension), ending in a dot or space, or holding a
// character Windows refuses, is refused up front, and names that merely
// look alike are not; other systems accept them all.
func TestCheckOutputNameWindows(t *testing.T) {
	refused := map[string]string{ // path: a part of the error
		"aux.mp4":              "AUX is a reserved device name on Windows",
		"con.avi":              "CON is a reserved device name",
		"NUL.png":              "NUL is a reserved device name",
		"lpt1.json":            "LPT1 is a reserved device name",
		"Com9.tar.gz":          "COM9 is a reserved device name",
		"prn":                  "PRN is a reserved device name",
		`C:\out\Aux.MP4`:       "AUX is a reserved device name",
		`out/frames/nul\`:      "NUL is a reserved device name",
		"C:aux.mp4":            "AUX is a reserved device name",
		"aux .mp4":             "AUX is a reserved device name",
		"CONOUT$.txt":          "CONOUT$ is a reserved device name",
		"com¹.png":             "COM¹ is a reserved device name",
		"nul:stream":           "NUL is a reserved device name",
		"video.mp4.":           "Windows drops a dot or space at the end",
		"video.mp4 ":           "Windows drops a dot or space at the end",
		`out\frames. `:         "Windows drops a dot or space at the end",
		"what?.mp4":            `Windows does not allow "?" in a file name`,
		"v.mp4:stream":         `Windows does not allow ":" in a file name`,
		`a"b.png`:              `Windows does not allow "\"" in a file name`,
		"a*b.json":             `Windows does not allow "*"`,
		"a<b>.json":            `Windows does not allow "<"`,
		"a|b.json":             `Windows does not allow "|"`,
		"tab\there.mp4":        `Windows does not allow "\t"`,
		`C:\Users\me\lpt3.avi`: "LPT3 is a reserved device name",
	}
	for path, want := range refused {
		err := checkOutputName("--out", path, "windows")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "--out "+path+": ") {
			t.Errorf("windows %q: error %v, want one starting with the flag and path, with %q", path, err, want)
		}
		for _, goos := range []string{"linux", "darwin", "freebsd"} {
			if err := checkOutputName("--out", path, goos); err != nil {
				t.Errorf("%s %q: %v", goos, path, err)
			}
		}
	}
	for _, path := range []string{
		"video.mp4", "auxiliary.mp4", "con_video.avi", "com10.mp4", "lpt0.json", "nul_", "x.aux",
		"my.con.png", `C:\aux\video.mp4`, "aux/video.mp4", ".", "..", `C:\`, "C:", "frames/", ".hidden",
		"COM.mp4", "LPT.json", "console.avi", "a b.mp4",
	} {
		if err := checkOutputName("--out", path, "windows"); err != nil {
			t.Errorf("windows %q: %v", path, err)
		}
	}
}

// TestCheckOutputPathDeviceName: checkOutputPath refuses a device name on
// Windows, for every kind of output, before it looks at the folder; on other
// systems aux.mp4 is an ordinary new file.
func TestCheckOutputPathDeviceName(t *testing.T) {
	dir := t.TempDir()
	for _, kind := range []outputKind{newFile, newFolder, replacedFile} {
		err := checkOutputPath("--out", filepath.Join(dir, "aux.mp4"), kind)
		if runtime.GOOS == "windows" {
			if err == nil || !strings.Contains(err.Error(), "AUX is a reserved device name") {
				t.Errorf("kind %d: %v, want the device name refused", kind, err)
			}
		} else if err != nil {
			t.Errorf("kind %d: %v", kind, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the check left %d files", len(entries))
	}
}

// TestDiskFreeHere: the free-space check works on the systems that have one
// (unix and Windows), and says so.
func TestDiskFreeHere(t *testing.T) {
	free, ok, err := freeBytes(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	switch runtime.GOOS {
	case "windows", "linux", "darwin", "freebsd":
		if !ok || free <= 0 {
			t.Errorf("freeBytes = %d, %v; want the free bytes of the test's folder", free, ok)
		}
	}
	if _, _, err := freeBytes(filepath.Join(t.TempDir(), "missing")); err == nil && runtime.GOOS == "linux" {
		t.Error("freeBytes of a missing folder: no error")
	}
}

// TestDemoEpilogueWindows: the real-weights command the demo suggests is
// one line on Windows (cmd.exe and PowerShell do not continue lines with a
// backslash) and lines joined by backslashes elsewhere, the same command.
func TestDemoEpilogueWindows(t *testing.T) {
	command := func(epilogue string) string {
		i := strings.Index(epilogue, "wan22 i2v ")
		if i < 0 {
			t.Fatalf("no command in %q", epilogue)
		}
		return strings.TrimSuffix(epilogue[i:], "\n")
	}
	win := command(demoEpilogue("windows"))
	if strings.Contains(win, "\n") || strings.Contains(win, `\`) {
		t.Errorf("windows: the command is not one line without backslashes: %q", win)
	}
	unix := command(demoEpilogue("linux"))
	lines := strings.Split(unix, "\n")
	if len(lines) < 2 {
		t.Fatalf("linux: the command is one line: %q", unix)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasSuffix(l, ` \`) {
			t.Errorf("linux: line %q does not continue with a backslash", l)
		}
	}
	if joined := strings.Join(strings.Fields(strings.ReplaceAll(unix, " \\\n", " ")), " "); joined != win {
		t.Errorf("the commands differ:\n unix joined %q\n windows     %q", joined, win)
	}
	for _, want := range []string{"--image photo.png", `--prompt "a cat surfing a wave at sunset"`, "--high ", "--low ", "--text-encoder ", "--vae ", "--out video.mp4"} {
		if !strings.Contains(win, want) {
			t.Errorf("the command lacks %q: %q", want, win)
		}
	}
	if !strings.Contains(demoEpilogue("windows"), "coloured noise") {
		t.Error("the epilogue lost its explanation")
	}
}

// TestQuitDeadline: only SIGTERM on Windows (the console closing, log-off,
// shutdown: the process is ended about 5 s later) leaves the command a
// limited time to stop, well inside those 5 s.
func TestQuitDeadline(t *testing.T) {
	for _, c := range []struct {
		s    os.Signal
		goos string
		want time.Duration
	}{
		{syscall.SIGTERM, "windows", windowsCloseGrace},
		{os.Interrupt, "windows", 0},
		{syscall.SIGHUP, "windows", 0},
		{syscall.SIGTERM, "linux", 0},
		{syscall.SIGTERM, "darwin", 0},
		{os.Interrupt, "linux", 0},
	} {
		if got := quitDeadline(c.s, c.goos); got != c.want {
			t.Errorf("quitDeadline(%v, %s) = %v, want %v", c.s, c.goos, got, c.want)
		}
	}
	if windowsCloseGrace <= 0 || windowsCloseGrace > 4*time.Second {
		t.Errorf("windowsCloseGrace %v: want a grace that ends before Windows' 5 s", windowsCloseGrace)
	}
}

// deadlineContext is testInterruptContextFor with SIGTERM given d to stop,
// as on Windows. It skips where SIGTERM is ignored.
func deadlineContext(t *testing.T, d time.Duration) (ctx context.Context, stop context.CancelFunc, stderr *syncBuffer, exited chan int) {
	t.Helper()
	if !slices.Contains(stopSignals, os.Signal(syscall.SIGTERM)) {
		t.Skip("SIGTERM is ignored in this process")
	}
	return testInterruptContextFor(t, func(s os.Signal) time.Duration {
		if s == syscall.SIGTERM {
			return d
		}
		return 0
	})
}

// TestDeadlineQuits: a SIGTERM with a deadline (the Windows console
// closing) cancels the command at once and, when the command has not
// stopped by the deadline, removes the temporary outputs still in progress
// and exits with 130, with no second signal.
func TestDeadlineQuits(t *testing.T) {
	ctx, _, stderr, exited := deadlineContext(t, 300*time.Millisecond)
	tmp, err := atomicfile.Create(filepath.Join(t.TempDir(), "o.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Abort()
	start := time.Now()
	signalSelf(t, syscall.SIGTERM)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context not cancelled 5 s after SIGTERM")
	}
	if got := stderr.String(); !strings.Contains(got, "terminated; stopping and removing the partial output") || strings.Contains(got, "Ctrl-C") {
		t.Errorf("SIGTERM printed %q, want no Ctrl-C hint (the console is closing)", got)
	}
	at := waitQuit(t, exited, "SIGTERM with a 300 ms deadline", tmp.Name(), stderr, "out of time to stop; quitting now (the partial output was removed)")
	if waited := at.Sub(start); waited < 250*time.Millisecond {
		t.Errorf("quit after %v, before the deadline", waited)
	}
}

// TestDeadlineCommandStopped: a command that stops within the deadline
// ends the usual way; the deadline does not quit the process afterwards.
func TestDeadlineCommandStopped(t *testing.T) {
	ctx, stop, stderr, exited := deadlineContext(t, 100*time.Millisecond)
	signalSelf(t, syscall.SIGTERM)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context not cancelled 5 s after SIGTERM")
	}
	stop() // the command has stopped
	select {
	case code := <-exited:
		t.Fatalf("exited with %d after the command had stopped; stderr %q", code, stderr.String())
	case <-time.After(300 * time.Millisecond):
	}
}
