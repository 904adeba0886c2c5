package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/wan22/wan22/engine/video"
	"github.com/wan22/wan22/internal/atomicfile"
	"github.com/wan22/wan22/internal/fserr"
	"github.com/wan22/wan22/internal/safetext"
)

// outputKind is what an output path names.
type outputKind int

const (
	newFile      outputKind = iota // a file that must not exist yet (--out, bench --json)
	newFolder                      // a folder made by the run (--frames-dir)
	replacedFile                   // a file replaced when it exists (--preview)
)

// checkOutputPath checks, before anything loads, that the output flagName
// names can be written at path: its name holds no control character
// (checkNameChars) and is one the system allows (checkOutputName), its
// folder exists and is writable, path is not a folder where a file goes,
// and nothing is there unless kind is replacedFile.
func checkOutputPath(flagName, path string, kind outputKind) error {
	if err := checkNameChars(flagName, path); err != nil {
		return err
	}
	if err := checkTrailingSpace(flagName, path, kind); err != nil {
		return err
	}
	if err := checkOutputName(flagName, path, runtime.GOOS); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case folderNotThere(err, runtime.GOOS):
		if a := tildeAdvice(flagName, path, runtime.GOOS); a != "" {
			// "Create it first" would make a folder named ~.
			return fmt.Errorf("%s %s: the folder %s does not exist: %s", flagName, path, dir, a)
		}
		if a := uncreatableFolderAdvice(path, runtime.GOOS); a != "" {
			return fmt.Errorf("%s %s: the folder %s does not exist: %s", flagName, path, dir, a)
		}
		return fmt.Errorf("%s %s: the folder %s does not exist: create it first", flagName, path, dir)
	case err != nil:
		return fmt.Errorf("%s %s: %w", flagName, path, err)
	case !st.IsDir():
		return fmt.Errorf("%s %s: %s is not a folder", flagName, path, dir)
	}
	if a := wholeVarNameAdvice(path, runtime.GOOS, os.Getenv); a != "" {
		// The output's own name is a variable (--out %VIDEO%, --frames-dir
		// %FRAMES% in PowerShell): the run would write a file or make a
		// folder named so.
		return fmt.Errorf("%s %s: %s", flagName, path, a)
	}
	if st, err := os.Lstat(path); err == nil {
		switch {
		case st.IsDir() && kind != newFolder:
			return fmt.Errorf("%s %s is a folder: give a file name", flagName, path)
		case st.IsDir():
			// A folder of the user's, maybe full of other files: never
			// advise removing it.
			return fmt.Errorf("%s %s already exists: the frames go into a new folder that the run makes, so that no earlier file is mixed in or replaced: name one that does not exist yet, such as %s", flagName, path, freeName(path, "frames"))
		case kind != replacedFile:
			return fmt.Errorf("%s %s already exists: choose another name or remove it", flagName, path)
		}
	}
	// Writable: the outputs are written through a temporary file in dir.
	if err := checkWritable(dir); err != nil {
		return fmt.Errorf("%s %s: cannot write in the folder %s: %w", flagName, path, dir, err)
	}
	return nil
}

// checkTrailingSpace refuses, on every system, an output name (the last
// element of path, which flagName gives) that ends in a space, a no-break
// space too: a name copied with the space after it ("r.json "), which would
// make a file or folder whose name shows no space and which a shell can
// hardly name (Windows drops the space: checkOutputName). The message
// quotes the name, so that the space shows, and gives it without the
// space, in synth's words (checkSynthExt): '--json "r.json ": the name ends
// in a space after its extension .json: name the file r.json'.
func checkTrailingSpace(flagName, path string, kind outputKind) error {
	name := strings.TrimRightFunc(path, func(r rune) bool { return r < utf8.RuneSelf && os.IsPathSeparator(byte(r)) })
	trimmed := strings.TrimRightFunc(name, unicode.IsSpace)
	if trimmed == name {
		return nil
	}
	quoted := `"` + path + `"`
	if strings.ContainsFunc(path, func(r rune) bool { return r == '"' || !unicode.IsPrint(r) }) {
		quoted = strconv.Quote(path) // a no-break space shows as \u00a0
	}
	if trimmed == "" || os.IsPathSeparator(trimmed[len(trimmed)-1]) {
		return fmt.Errorf("%s %s: the name is only spaces: choose a name", flagName, quoted)
	}
	spaces := "a space"
	if utf8.RuneCountInString(name[len(trimmed):]) > 1 {
		spaces = "spaces"
	}
	what, after := "file", ""
	if kind == newFolder {
		what = "folder"
	} else if ext := filepath.Ext(trimmed); ext != "" {
		after = " after its extension " + ext
	}
	return fmt.Errorf("%s %s: the name ends in %s%s: name the %s %s", flagName, quoted, spaces, after, what, trimmed)
}

// tildeAdvice says what to write instead of path, given by flagName, when
// it starts with a ~ that no shell expanded to a home folder: bash expands
// ~ and ~user only at the start of a word, so --out=~/v.mp4 or "~/v.mp4"
// reach the program as typed, and Windows's command line never expands
// it. It is "" for any other path, and for one whose first element (~, or
// ~user) is there: a folder really named so. goos is runtime.GOOS.
func tildeAdvice(flagName, path, goos string) string {
	if !strings.HasPrefix(path, "~") {
		return ""
	}
	seps := "/"
	if goos == "windows" {
		seps = `\/`
	}
	first, rest := path, ""
	if i := strings.IndexAny(path, seps); i >= 0 {
		first, rest = path[:i], path[i+1:]
	}
	if _, err := os.Lstat(first); !errors.Is(err, os.ErrNotExist) {
		return ""
	}
	full := ""
	if home, err := os.UserHomeDir(); err == nil && first == "~" {
		full = filepath.Join(home, rest)
	}
	if goos == "windows" {
		if full == "" {
			return "Windows's command line does not expand ~ to a home folder: write the full path"
		}
		return "Windows's command line does not expand ~ to your home folder: write the full path, such as " + displayName(full)
	}
	msg := fmt.Sprintf("the shell did not expand ~ to a home folder: it does so only at the start of a word, not after = or in quotes; write %s %s (with a space, no quotes)", flagName, displayName(path))
	if full != "" {
		msg += " or the full path " + displayName(full)
	}
	return msg
}

// missingVolumeAdvice says, on Windows (goos), why the folder of the output
// path cannot be made when the drive (Z:) or network share
// (\\server\share) it is on is not there, as exists (dirExists) finds its
// root: a USB disk unplugged, a network drive not connected. Told to create
// the folder, the user could not. The volume is named as displayName
// prints it. "" where the volume is there, or the path names none (a
// relative path, another system).
func missingVolumeAdvice(path, goos string, exists func(string) bool) string {
	if goos != "windows" {
		return ""
	}
	vol := windowsVolume(path)
	if vol == "" || exists(vol+`\`) {
		return ""
	}
	if len(vol) == 2 {
		return fmt.Sprintf("there is no drive %s (a disk not plugged in, a network drive not connected): connect it or choose a folder on another drive", strings.ToUpper(vol))
	}
	return fmt.Sprintf("the network share %s cannot be reached (the computer is off or the share's name is wrong): check it in Explorer or choose a folder on a drive", displayName(vol))
}

// Windows's errors for a network path whose server (ERROR_BAD_NETPATH) or
// share on a server that answers (ERROR_BAD_NET_NAME) is not there.
const (
	errorBadNetpath = syscall.Errno(53)
	errorBadNetName = syscall.Errno(67)
)

// folderNotThere reports whether err, from os.Stat of an output's folder,
// says that the folder is not there: fs.ErrNotExist, or on Windows (goos)
// a network share that is not there, so that missingVolumeAdvice says so
// where the bare system error was printed: ERROR_BAD_NET_NAME, a share
// whose name is wrong (\\nas\vidoes\out), which Go does not count as
// fs.ErrNotExist, and ERROR_BAD_NETPATH, a server that is not there, which
// Go does count so. Elsewhere these numbers are other errors.
func folderNotThere(err error, goos string) bool {
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	var errno syscall.Errno
	return goos == "windows" && errors.As(err, &errno) && (errno == errorBadNetpath || errno == errorBadNetName)
}

// windowsVolume is the drive (C:) or network share (\\server\share) a
// Windows path starts with, or "" for a relative path, a path from the
// current drive's root (\out), or one with a \\?\ or \\.\ prefix.
func windowsVolume(path string) string {
	if len(path) >= 2 && path[1] == ':' && isDriveLetter(path[:1]) {
		return path[:2]
	}
	isSep := func(r rune) bool { return r == '\\' || r == '/' }
	if len(path) < 3 || !isSep(rune(path[0])) || !isSep(rune(path[1])) || path[2] == '?' || path[2] == '.' {
		return ""
	}
	parts := strings.FieldsFunc(path[2:], isSep)
	if len(parts) < 2 {
		return ""
	}
	return `\\` + parts[0] + `\` + parts[1]
}

// dirExists reports whether path is a folder.
func dirExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// envVar finds a variable that no shell expanded in a path: cmd.exe's
// %NAME%, PowerShell's $env:NAME, a Unix shell's ${NAME} or $NAME.
var envVar = regexp.MustCompile(`%([A-Za-z_][A-Za-z0-9_()]*)%|\$env:([A-Za-z_][A-Za-z0-9_]*)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// envVarAdvice says, for an output path whose folder does not exist,
// why it holds a variable's name where its value was meant, and what to
// write, as tildeAdvice does for ~: cmd.exe's %USERPROFILE% typed in
// PowerShell (which leaves it as it is), PowerShell's $env:USERPROFILE or a
// Unix shell's $HOME in cmd.exe, $HOME in single quotes. Advising to create
// the folder would make one named %USERPROFILE%. It gives the path with
// the variable's value when getenv knows it. "" when the folder holds no
// variable.
// goos is runtime.GOOS.
func envVarAdvice(path, goos string, getenv func(string) string) string {
	return envVarAdviceIn(path, goos, false, getenv)
}

// envVarFolderAdvice is envVarAdvice for a path that names a folder (bench
// --out-video, --synth-dir, i2v --frames-dir), whose last element is a
// folder too: it is also considered, when it is a variable's name as a
// whole (--out-video %VIDEOS%, --frames-dir $HOME in cmd.exe), where
// envVarAdvice skips it as an output file's name. A last element with a %
// or $ inside other characters (100%, a$b) may be the folder's own name.
func envVarFolderAdvice(path, goos string, getenv func(string) string) string {
	return envVarAdviceIn(path, goos, true, getenv)
}

// wholeEnvVar is envVar matching a whole path element.
var wholeEnvVar = regexp.MustCompile(`^(?:` + envVar.String() + `)$`)

// envVarAdviceIn is envVarAdvice, considering path's last element too when
// folder is set (envVarFolderAdvice).
func envVarAdviceIn(path, goos string, folder bool, getenv func(string) string) string {
	dir := path[:strings.LastIndex(path, "/")+1] // the base may hold a % or $ of its own
	base := path[len(dir):]
	if goos == "windows" {
		base = windowsBase(path)
		dir = strings.TrimSuffix(strings.TrimRight(path, `\/`), base)
	}
	m := envVar.FindStringSubmatch(dir)
	if m == nil && folder && wholeEnvVar.MatchString(base) {
		m = envVar.FindStringSubmatch(base)
	}
	if m == nil {
		return ""
	}
	name := m[1] + m[2] + m[3] + m[4]
	var msg string
	switch {
	case m[1] != "" && goos == "windows":
		msg = fmt.Sprintf("%s is how cmd.exe names a variable, and PowerShell leaves it as it is: there write $env:%s", m[0], name)
	case m[1] != "":
		msg = fmt.Sprintf("%s is how cmd.exe names a variable; the shell here writes $%s", m[0], name)
	case m[2] != "" && goos == "windows":
		msg = fmt.Sprintf("%s is how PowerShell names a variable, and cmd.exe leaves it as it is: there write %%%s%%", m[0], name)
	case m[2] != "":
		msg = fmt.Sprintf("%s is how PowerShell names a variable; the shell here writes $%s", m[0], name)
	case goos == "windows":
		msg = fmt.Sprintf("%s is how a Unix shell names a variable: cmd.exe writes %%%s%%, PowerShell $env:%s", m[0], name, name)
	default:
		msg = fmt.Sprintf("the shell did not expand %s: it does not in single quotes; use double quotes", m[0])
	}
	if v := getenv(name); v != "" {
		msg += ", or write the full path " + displayName(strings.Replace(path, m[0], v, 1))
	}
	return "it holds the variable's name, not its value: " + msg
}

// wholeVarNameAdvice says, for an output path (a file or a new folder) that
// is not there and whose own name, its last element, is wholly a variable
// no shell expanded (--out %VIDEO%, synth '$OUT', --frames-dir %FRAMES%),
// that it holds the variable's name, not its value (envVarFolderAdvice):
// the run would write a file or make a folder named so, and a file's
// refusal for its extension (checkVideoExt, checkSynthExt) would miss the
// point. "" where something is at path, the name is not wholly a variable
// (v%N%.mp4 may be the user's), or the path's folder holds one: a missing
// folder is said to hold it (uncreatableFolderAdvice), and one that is there
// is the user's, whatever its name.
func wholeVarNameAdvice(path, goos string, getenv func(string) string) string {
	if envVarAdvice(path, goos, getenv) != "" {
		return ""
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return envVarFolderAdvice(path, goos, getenv)
}

// uncreatableFolderAdvice says why "create it first" is the wrong advice for
// the missing folder of an output path: its drive or network share is not
// there (missingVolumeAdvice), which cannot be created as a folder can, or
// it holds a variable no shell expanded (envVarAdvice), which would make a
// folder named %USERPROFILE%. "" for any other folder.
func uncreatableFolderAdvice(path, goos string) string {
	if a := missingVolumeAdvice(path, goos, dirExists); a != "" {
		return a
	}
	return envVarAdvice(path, goos, os.Getenv)
}

// freeName is a name for a new entry in the folder dir: dir/base, or
// dir/base-2, dir/base-3, … when that is taken.
func freeName(dir, base string) string {
	p := filepath.Join(dir, base)
	for i := 2; i < 100; i++ {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			break
		}
		p = filepath.Join(dir, fmt.Sprintf("%s-%d", base, i))
	}
	return p
}

// checkWritable checks that a file can be made in the existing folder dir,
// as every output is made there under a temporary name first (a read-only
// folder or file system, no permission); the error is the system's, without
// the probe's name, which says nothing to the user.
func checkWritable(dir string) error {
	probe, err := os.CreateTemp(dir, ".wan22-write-check-*")
	if err != nil {
		return fserr.WithoutPath(err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// checkOutputDash refuses "-" as the output flagName names (path), which
// other programs read as standard output: wan22 writes none of its
// outputs there, and took it as the name of a file or folder "-" in the
// current folder. is says what the output is instead ("the video is
// written to a file"), name what to give ("a file name, such as --out
// video.mp4"). ./- still names a file so.
func checkOutputDash(flagName, path, is, name string) error {
	if path != "-" {
		return nil
	}
	return fmt.Errorf("%s -: - would mean standard output, but %s: give %s", flagName, is, name)
}

// checkNameChars refuses, on every system, an output path that flagName
// gives holding a control character (C0 such as a newline, a tab or ESC;
// DEL; C1), bytes that are not UTF-8 text, or an invisible character that
// deceives (a bidirectional override or isolate, a zero-width character,
// a soft hyphen, a line separator; see nameProblem): Linux makes such a
// file, which ls shows as ? or across two lines, in another order than its
// letters (a right-to-left override shows "clip\u202e4pm.exe" as
// clipexe.mp4) or alike to another name, and which a shell command can
// hardly name, and every message naming it would print it raw (an ESC
// drives the terminal). The path is quoted in the message (displayName),
// so that the message shows what the name holds and holds no such
// character itself.
func checkNameChars(flagName, path string) error {
	if what := nameProblem(path); what != "" {
		return fmt.Errorf("%s %s: the name contains %s; choose a name without it", flagName, displayName(path), what)
	}
	return nil
}

// nameProblem says, for a person, the first thing in path that a message
// must not print raw: "a control character (newline)", "a byte that is not
// UTF-8 text (\xff)", "a right-to-left override (U+202E), an invisible
// character that changes the order in which the name is shown", "a zero
// width space (U+200B), an invisible character" (safetext.Invisible's
// characters: also the soft hyphen, the line and paragraph separators, …);
// "" when there is none (spaces, accents, every script, the zero width
// joiner and non-joiner of Persian words and emoji sequences are printed
// as they are).
func nameProblem(path string) string {
	for i := 0; i < len(path); {
		r, size := utf8.DecodeRuneInString(path[i:])
		what, reorders := safetext.Invisible(r)
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Sprintf(`a byte that is not UTF-8 text (\x%02x)`, path[i])
		case unicode.IsControl(r):
			return "a control character (" + controlName(r) + ")"
		case reorders:
			return fmt.Sprintf("%s (U+%04X), an invisible character that changes the order in which the name is shown", what, r)
		case what != "":
			return fmt.Sprintf("%s (U+%04X), an invisible character", what, r)
		}
		i += size
	}
	return ""
}

// displayName is path as a message prints it: safetext.Path, as the
// library's messages print it, so that both name a file alike: as it is
// when nameProblem finds nothing in it, else Go-quoted (strconv.Quote:
// "a\x1b[31m.png"), so that the message shows what the name holds and holds
// no control character itself (TestDisplayNameIsSafetextPath checks that
// nameProblem finds something in just the names Path quotes). Output names
// holding one are refused (checkNameChars); input names are not, the file
// being there, and are printed so.
func displayName(path string) string {
	return safetext.Path(path)
}

// displayPaths is msg with each of paths that displayName quotes replaced
// by its quoted form, as it is and in the other forms messages name it in
// (cleaned, absolute, its last element), for the library's messages that
// print the paths they were given raw: engine/imageprep's ("image PATH: not
// a PNG, JPEG or WebP image"), the paths in the wan22 package's log lines
// and in what bench prints. A *wan22.ModelError ("high-noise expert PATH:
// cannot be read: no such file or directory") and the errors of
// engine/modelfile and engine/lora quote such a path themselves
// (safetext.Path, displayName's criteria): their quoted form no longer holds
// the raw path, and passes through unchanged.
func displayPaths(msg string, paths []string) string {
	var forms []string
	for _, p := range paths {
		if displayName(p) == p {
			continue
		}
		forms = append(forms, p, filepath.Clean(p), filepath.Base(p))
		if abs, err := filepath.Abs(p); err == nil {
			forms = append(forms, abs)
		}
	}
	// The longest first: a path holds its last element, and an absolute
	// path the relative one.
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		if q := displayName(f); q != f {
			msg = strings.ReplaceAll(msg, f, q)
		}
	}
	return msg
}

// displayedError is err with the message displayPaths makes of its own;
// errors.Is and errors.As see err.
type displayedError struct {
	err error
	msg string
}

func (e *displayedError) Error() string { return e.msg }
func (e *displayedError) Unwrap() error { return e.err }

// displayPathsErr is err with its message through displayPaths (err
// itself when that changes nothing, nil for nil).
func displayPathsErr(err error, paths []string) error {
	if err == nil {
		return nil
	}
	msg := displayPaths(err.Error(), paths)
	if msg == err.Error() {
		return err
	}
	return &displayedError{err, msg}
}

// controlName names the control character r for a person: "newline",
// "escape, ESC", or its code point ("U+0001") for the rarer ones.
func controlName(r rune) string {
	switch r {
	case '\n':
		return "newline"
	case '\r':
		return "carriage return"
	case '\t':
		return "tab"
	case 0:
		return "NUL"
	case 0x1b:
		return "escape, ESC"
	case 0x7f:
		return "delete, DEL"
	}
	return fmt.Sprintf("U+%04X", r)
}

// checkOutputName checks the last element of the output path that flagName
// gives, as the system goos (runtime.GOOS) will name the file: on Windows it
// must not be a device name (CON, PRN, AUX, NUL, COM1–COM9, LPT1–LPT9,
// CONIN$ or CONOUT$, in any case, with any extension: aux.mp4, NUL.png),
// end in a dot or a space (which Windows drops), or hold a character Windows
// refuses in names (<>:"|?* and control characters; a colon would write an
// alternate data stream; a quote most likely from a backslash before the
// closing one is explained, escapedQuoteAdvice). Each of these passes the other checks and fails
// only when the finished output is renamed into place, after the whole
// generation, or writes somewhere else than asked. (Windows 11 accepts
// some device names with an extension; they are refused on every version
// alike.) Other systems take any name here but one too long
// (checkNameLength) or wrapped in quotes (wrappedQuotesAdvice), refused on
// every system; a drive or server path after a single quote ('C:\my) is
// refused on Windows, where cmd.exe takes the quote as a letter. Control
// characters are
// checkNameChars's to refuse, on every system, with their own message.
func checkOutputName(flagName, path, goos string) error {
	if a := wrappedQuotesAdvice(path); a != "" {
		return fmt.Errorf("%s %s: %s", flagName, path, a)
	}
	if err := checkNameLength(flagName, path, goos); err != nil {
		return err
	}
	if goos != "windows" {
		return nil
	}
	if rest, ok := strings.CutPrefix(path, "'"); ok && (len(rest) >= 2 && rest[1] == ':' && isDriveLetter(rest[:1]) || strings.HasPrefix(rest, `\\`)) {
		// 'C:\my videos\v.mp4' reaches wan22 as two words in cmd.exe. A
		// name of its own may start with an apostrophe ('90s.mp4), a
		// drive or a server's name cannot.
		return fmt.Errorf("%s %s: the path starts with a single quote, which cmd.exe takes as a letter, not as a quote (a path in single quotes with a space in it arrives cut in two there): put the path in double quotes", flagName, path)
	}
	if a := escapedQuoteAdvice(path); a != "" {
		return fmt.Errorf("%s %s: Windows does not allow a quote (\") in a file name: %s", flagName, path, a)
	}
	name := windowsBase(path)
	if name == "" || name == "." || name == ".." {
		return nil // a folder; the existence checks speak of it
	}
	if dev := windowsDevice(name); dev != "" {
		return fmt.Errorf("%s %s: %s is a reserved device name on Windows (CON, PRN, AUX, NUL, COM1–COM9, LPT1–LPT9, also with an extension on most versions); wan22 refuses it up front so the run cannot fail at the end: choose another name", flagName, path, dev)
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return r < 32 || strings.ContainsRune(`<>:"|?*`, r) }); i >= 0 {
		return fmt.Errorf("%s %s: Windows does not allow %q in a file name: choose another name", flagName, path, name[i:i+1])
	}
	if last := name[len(name)-1]; last == '.' || last == ' ' {
		fix := "choose another name"
		if stem := strings.TrimRight(name, ". "); stem != "" {
			fix = "name it " + strings.TrimRight(strings.TrimRight(path, `\/`), ". ")
		}
		return fmt.Errorf("%s %s: Windows drops a dot or space at the end of a file name, so the output would not get this name: %s", flagName, path, fix)
	}
	return nil
}

// wrappedQuotesAdvice explains, on every system, a path wrapped in quotes
// that reached wan22 as part of it: straight ones ("C:\out\v.mp4", as
// Explorer's "Copy as path" gives it, put inside other quotes or a
// variable that is quoted again), which Windows refuses in a name and
// Linux makes a file of, under a folder named with the quote, or
// typographic ones (“v.mp4”, from a page or a document), which no shell
// takes for quotes and every system takes as letters of the name. It
// says what to give instead, the path as displayName prints it (an input's
// name may hold a control character); "" for a path not wrapped so.
func wrappedQuotesAdvice(path string) string {
	for _, q := range []struct{ open, close string }{{`"`, `"`}, {"'", "'"}, {"“", "”"}, {"”", "”"}, {"„", "“"}, {"‘", "’"}, {"«", "»"}} {
		inner, opened := strings.CutPrefix(path, q.open)
		inner, closed := strings.CutSuffix(inner, q.close)
		switch {
		case !opened || !closed || inner == "":
			continue
		case q.open == "'":
			return "the path is wrapped in single quotes that are part of it (cmd.exe takes single quotes as letters, not as quotes): give it in double quotes or none: " + displayName(inner)
		case q.open == `"`:
			return "the path is wrapped in quotes that are part of it (quoted twice, or copied with its quotes into a quoted string or variable): give it without them: " + displayName(inner)
		}
		return "the path is wrapped in typographic quotes (" + q.open + " " + q.close + "), as a page or a document shows them, which are letters of the name to every shell and system: give it with straight quotes or none: " + displayName(inner)
	}
	return ""
}

// escapedQuoteAdvice explains a quote in a Windows path (the value of a
// flag) that most likely comes from a backslash before the closing quote:
// cmd.exe and PowerShell pass "C:\out\frames\" on as typed, and a program's
// command line (Go's os.Args, as the C runtime's) reads \" as a quote inside
// the word, so the path arrives as C:\out\frames" and, when the word was
// followed by others, with those joined to it (C:\out" --out v.mp4). It
// says so and what to type (each as displayName prints it), for a quote at
// the end of path or before a space; "" for any other path (a"b.png: a
// quote typed in the name).
func escapedQuoteAdvice(path string) string {
	i := strings.IndexByte(path, '"')
	if i < 0 || i+1 < len(path) && path[i+1] != ' ' {
		return ""
	}
	typed, fixed := `"`+path[:i]+`\"`, `"`+strings.TrimRight(path[:i], `\/`)+`"`
	if d := path[:i]; len(d) == 2 && d[1] == ':' && isDriveLetter(d[:1]) {
		fixed = d + `\` // "C:" would be the current folder of drive C
	}
	joined := ""
	if i+1 < len(path) {
		joined = ", with the words after it (" + displayName(strings.TrimSpace(path[i+1:])) + ") joined to it"
	}
	return fmt.Sprintf("it was most likely typed as %s, and a backslash just before the closing quote makes the quote part of the path%s: leave that backslash out, as in %s", displayName(typed), joined, displayName(fixed))
}

// maxNameLen is the longest name (one element of a path) the usual file
// systems take: 255 bytes on Linux (ext4, btrfs, XFS, tmpfs) and macOS,
// 255 UTF-16 units on Windows (NTFS, exFAT).
const maxNameLen = 255

// checkNameLength refuses, on every system goos (runtime.GOOS), an output
// name (the last element of path, which flagName gives) too long for the
// temporary name it is written under first (atomicfile.LongestTempName:
// some 25 characters more): the system refuses that name only when the
// output is created, after the whole generation for a video or a report,
// where the folder's check (checkWritable) made a short name of its own.
// The length counts as the system does: UTF-16 units on Windows (a letter
// each, an emoji two), bytes elsewhere (an accented or CJK letter two to
// four).
func checkNameLength(flagName, path, goos string) error {
	name := windowsBase(path)
	if goos != "windows" {
		name = strings.TrimRight(path, "/")
		name = name[strings.LastIndex(name, "/")+1:]
	}
	size, unit := len(name), "bytes"
	if goos == "windows" {
		size, unit = utf16Len(name), "characters"
	}
	tmp := atomicfile.LongestTempName(name)
	extra := len(tmp) - len(name) // ASCII: the same in both units
	if size+extra <= maxNameLen {
		return nil
	}
	msg := fmt.Sprintf("%s %s: the name is too long: %d %s, and the output is written first under a temporary name %d %s longer, where the system takes at most %d: shorten the name to %d %s or fewer",
		flagName, displayName(path), size, unit, extra, unit, maxNameLen, maxNameLen-extra, unit)
	if unit == "bytes" && size != utf8.RuneCountInString(name) {
		msg += " (a letter outside ASCII takes 2 to 4 bytes)"
	}
	return errors.New(msg)
}

// utf16Len is the length of s in UTF-16 units, as Windows counts a name.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// windowsBase is the last element of a Windows path: after the last slash
// or backslash (trailing ones ignored) and after a drive (C:name).
func windowsBase(path string) string {
	path = strings.TrimRight(path, `\/`)
	if i := strings.LastIndexAny(path, `\/`); i >= 0 {
		return path[i+1:]
	}
	if len(path) >= 2 && path[1] == ':' && isDriveLetter(path[:1]) {
		return path[2:]
	}
	return path
}

// windowsDevice returns the device a Windows file name opens instead of a
// file, in capitals ("AUX" for aux.mp4), or "" when it names a file: the
// name up to its first dot or colon, trailing spaces dropped, is a device.
func windowsDevice(name string) string {
	stem := name
	if i := strings.IndexAny(stem, ".:"); i >= 0 {
		stem = stem[:i]
	}
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return stem
	}
	if len(stem) > 3 && (stem[:3] == "COM" || stem[:3] == "LPT") {
		// COM1…COM9 and LPT1…LPT9; Windows counts ¹, ² and ³ as digits too.
		switch n := stem[3:]; n {
		case "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return stem
		}
	}
	return ""
}

// ffmpegMissing reports whether video.Create would write an .mp4 as an
// MJPEG .avi: the same test, video.FindFFmpeg (PATH, then the running
// program's folder; never an ffmpeg found only through the current folder).
func ffmpegMissing() bool {
	_, err := video.FindFFmpeg()
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

// String is the path for messages: "--image in.png" (the path as
// displayName prints it), or as.
func (n namedPath) String() string {
	if n.as != "" {
		return n.as
	}
	return n.flag + " " + displayName(n.path)
}

// sameFile reports whether a and b name the same file: the same cleaned
// absolute path (in any case where the file system ignores case, see
// foldCase), or, when both exist, one file reached two ways (a link, a hard
// link, another spelling) by os.SameFile.
func sameFile(a, b string) bool { return sameFileFold(a, b, foldCase) }

// foldCase is whether the usual file system of this system ignores the case
// of names: NTFS on Windows and APFS on macOS (as formatted by default) take
// R.json and r.JSON for one file, so two outputs spelled so would overwrite
// each other. A case-sensitive volume there only makes the check refuse a
// pair it could have allowed.
const foldCase = runtime.GOOS == "windows" || runtime.GOOS == "darwin"

// sameFileFold is sameFile with the case folding given: fold compares the
// absolute paths, and the names of files that need not exist yet, in any
// case.
func sameFileFold(a, b string, fold bool) bool {
	if a == "" || b == "" {
		return false
	}
	if aa, err1 := filepath.Abs(a); err1 == nil {
		if ab, err2 := filepath.Abs(b); err2 == nil && (aa == ab || fold && strings.EqualFold(aa, ab)) {
			return true
		}
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 == nil && err2 == nil {
		return os.SameFile(sa, sb)
	}
	// Files not there yet (outputs) are one file when their names match in
	// one folder reached by two paths (a link to it, a junction, another
	// drive letter for it).
	if err1 == nil || err2 == nil {
		return false
	}
	na, nb := filepath.Base(a), filepath.Base(b)
	if na != nb && !(fold && strings.EqualFold(na, nb)) {
		return false
	}
	da, err1 := os.Stat(filepath.Dir(a))
	db, err2 := os.Stat(filepath.Dir(b))
	return err1 == nil && err2 == nil && os.SameFile(da, db)
}

// pngMagic is the first 8 bytes of every PNG file.
const pngMagic = "\x89PNG\r\n\x1a\n"

// checkPreviewPath checks, before anything loads, the file --preview
// replaces after every step: it must not be any of the run's inputs or
// other outputs (others), a file already there must be a PNG image (an
// earlier preview), never another kind of file, and its name must end in
// .png (checkPreviewExt).
func checkPreviewPath(path string, others []namedPath) error {
	for _, o := range others {
		if sameFile(path, o.path) {
			return fmt.Errorf("--preview %s is the same file as %s: the preview is rewritten after every step; give it a name of its own", path, o)
		}
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return checkPreviewExt(path)
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
	return checkPreviewExt(path)
}

// checkPreviewExt refuses a --preview name that does not end in .png (in
// any case): the preview is PNG data, which a .jpg name would misname, and
// a name without an extension neither a viewer nor the system's file
// associations would open as an image (--out without an extension is
// refused alike).
func checkPreviewExt(path string) error {
	ext := filepath.Ext(path)
	if strings.EqualFold(ext, ".png") {
		return nil
	}
	fix := strings.TrimSuffix(path, ext)
	if !strings.EqualFold(filepath.Ext(fix), ".png") {
		fix += ".png" // p.png.txt: p.png
	}
	if ext == "" || ext == "." {
		return fmt.Errorf("--preview %s: the preview is a PNG image, so its name must end in .png: name it %s", path, fix)
	}
	return fmt.Errorf("--preview %s: the preview is a PNG image, so its name must end in .png, not %s: name it %s", path, ext, fix)
}
