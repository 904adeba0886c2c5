// Command wan22 is the wan22 command line: image-to-video generation with
// WAN 2.2 and tools around it. It is a thin layer over the engine packages.
//
//	wan22 <command> [flags] [arguments]
//
// Run `wan22 help` for the list of commands.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/wan22/wan22/internal/atomicfile"
)

// command is one subcommand. run gets the arguments after the command name
// and returns the process exit status: 0 on success, 1 when the work failed,
// 2 for a usage error.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is the subcommand table, in the order `wan22 help` lists them.
// To add a command (i2v, bench, demo, …), write its run function in a file
// of its own in this folder and add one line here.
var commands = []command{
	{"inspect", "describe model files: format, architecture, tensor types and sizes", runInspect},
	{"i2v", "generate a video from an image and a prompt (WAN 2.2 I2V-A14B)", runI2V},
	{"bench", "time 81/161/241-frame runs per stage and memory budget; JSON, table and chart", runBench},
	{"demo", "run image-to-video end to end on tiny models and write the video", runDemo},
	{"synth", "write a synthetic DiT expert, umT5 encoder or VAE (random weights, real shapes)", runSynth},
	{"version", "print the version, the Go version and whether this binary has CUDA", runVersion},
}

func main() {
	// A closed stdout or stderr (`wan22 i2v … | head -1`) stops the command
	// and removes its partial output, as a Ctrl-C does (cli_signal.go).
	stderr := watchBroken(os.Stderr)
	code := run(os.Args[1:], watchBroken(os.Stdout), stderr)
	removeLeftovers(stderr)
	os.Exit(code)
}

// removeLeftovers removes the temporary outputs still registered once a
// command has returned (atomicfile.RemovePending): those whose removal
// failed while the command unwound after a failure or a Ctrl-C — on
// Windows a file cannot be removed while it is open, and an antivirus scan
// or an ffmpeg not yet exited may still hold it then — are tried once more,
// now that the command has closed what it wrote (after a success, a scratch
// folder whose removal failed, if any). Only temporary paths are
// registered: a finished output is forgotten when it is renamed into place
// or kept under another name (a *atomicfile.KeptError), and --preview is
// registered only once this run has replaced what was there (i2v.go
// previewWriter). It prints a line for what it still could not remove.
func removeLeftovers(stderr io.Writer) {
	if err := atomicfile.RemovePending(); err != nil {
		fmt.Fprintf(stderr, "wan22: a temporary output could not be removed, remove it by hand: %v\n", err)
	}
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	// Help goes to standard output through help, which notes a failed write (a full disk, /dev/full): the
	// command then exits 1 saying so instead of 0 with nothing written.
	help := &writeCheck{w: stdout}
	switch name {
	case "-h", "-help", "--help":
		usage(help)
		return helpWritten(0, help, stderr)
	case "help":
		return helpWritten(runHelp(args[1:], help, stderr), help, stderr)
	case "-version", "--version":
		return helpWritten(runVersion(args[1:], stdout, helpTo{stderr, help}), help, stderr)
	}
	for _, c := range commands {
		if c.name == name {
			return helpWritten(c.run(args[1:], stdout, helpTo{stderr, help}), help, stderr)
		}
	}
	if strings.HasPrefix(name, "-") && name != "-" {
		// A flag before the command (wan22 -out v.mp4 demo): flags are the command's.
		fmt.Fprintf(stderr, "wan22: unknown flag %s: a command comes first, its flags after it (wan22 demo -out v.mp4)\n\n", name)
	} else {
		fmt.Fprintf(stderr, "wan22: unknown command %q\n\n", name)
	}
	usage(stderr)
	return 2
}

// writeCheck is a writer that keeps the first error of its writes.
type writeCheck struct {
	w   io.Writer
	err error
}

func (c *writeCheck) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// helpWritten is the exit status of a command that succeeded (code 0) but whose help could not be written to
// standard output: 1, with the reason on stderr; code otherwise. A reader that went away (`wan22 help | head
// -1`: a broken pipe) is no error, as for other command-line tools.
func helpWritten(code int, help *writeCheck, stderr io.Writer) int {
	if code == 0 && help.err != nil && !isBrokenPipe(help.err) {
		fmt.Fprintf(stderr, "wan22: the help could not be written to standard output: %v\n", help.err)
		return 1
	}
	return code
}

// usage lists the commands.
func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: wan22 <command> [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `wan22 help <command>` (or `wan22 <command> -h`) for a command's flags.")
}

// runHelp implements `wan22 help [COMMAND]`: the command list, or one
// command's help, on stdout. Help about help itself (`wan22 help help`,
// `wan22 help -h`) is the command list.
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (len(args) == 1 && isHelpArg(args[0])) {
		usage(stdout)
		return 0
	}
	if len(args) > 1 {
		fmt.Fprintf(stderr, "wan22 help: one command at a time, got %q\n", args)
		return 2
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run([]string{"-h"}, stdout, helpTo{stderr, stdout})
		}
	}
	fmt.Fprintf(stderr, "wan22 help: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// isHelpArg reports whether a is a request for help: help, -h, -help or
// --help.
func isHelpArg(a string) bool {
	switch a {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// helpTo is the stderr run hands every command: errors are written to the
// Writer, and help that was asked for (-h, --help, `wan22 help CMD`) goes to
// help, the standard output, as `wan22 -h` does. parseFlags looks for it.
type helpTo struct {
	io.Writer
	help io.Writer
}

// Stat is the Writer's, when it has one (a file, or watchBroken's writer of
// one): the progress display tells a terminal by it (i2v.go newReporter).
func (h helpTo) Stat() (os.FileInfo, error) {
	if f, ok := h.Writer.(interface{ Stat() (os.FileInfo, error) }); ok {
		return f.Stat()
	}
	return nil, errors.New("not a file")
}

// Fd is the Writer's, when it has one (a file, or watchBroken's writer of
// one), else the invalid descriptor ^uintptr(0): the progress display sets
// the Windows console's mode through it (terminal_windows.go).
func (h helpTo) Fd() uintptr {
	if f, ok := h.Writer.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

// newFlagSet makes a subcommand's flag set whose -h output is the usage line,
// the description and the flag defaults. parseFlags prints it to stdout when
// asked for and to stderr after a usage error; fs.Usage() prints to stderr.
func newFlagSet(name, usageLine, description string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: "+usageLine)
		fmt.Fprintln(w)
		fmt.Fprintln(w, description)
		fmt.Fprintln(w)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses a subcommand's arguments. When it returns false the
// command should exit with the returned status: 0 after -h (the help went to
// stdout when the command runs under run), 2 after a usage error (the
// message went to stderr, with where to find the help).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	code, ok, _ := parseFlagsErr(fs, args)
	return code, ok
}

// parseFlagsErr is parseFlags that also returns the usage error it
// reported (nil after -h).
func parseFlagsErr(fs *flag.FlagSet, args []string) (int, bool, error) {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		if h, ok := out.(helpTo); ok {
			out = h.help
		}
		out.Write(buf.Bytes())
		return 0, false, nil
	case err != nil:
		err = flagValueError(fs, err)
		return usageError(out, fs.Name(), "%v", err), false, err
	}
	return 0, true, nil
}

// usageError reports a usage problem found after parsing (a missing
// argument, a value out of range): one line naming it, then where to find
// the command's help. The command returns 2.
func usageError(stderr io.Writer, cmd string, format string, args ...any) int {
	fmt.Fprintf(stderr, "wan22 %s: %s\n", cmd, fmt.Sprintf(format, args...))
	fmt.Fprintf(stderr, "Run `wan22 help %s` for its flags.\n", cmd)
	return 2
}
