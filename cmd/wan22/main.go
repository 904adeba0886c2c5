// Command wan22 is the wan22 command line: image-to-video generation with
// WAN 2.2 and tools around it. It is a thin layer over the engine packages.
//
//	wan22 <command> [flags] [arguments]
//
// Run `wan22 help` for the list of commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
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
	{"demo", "run image-to-video end to end on tiny models and write the frames", runDemo},
	{"synth", "write a synthetic WAN DiT expert (random weights, real shapes) for benchmarks", runSynth},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "wan22: unknown command %q\n\n", name)
	usage(stderr)
	return 2
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
	fmt.Fprintln(w, "Run `wan22 <command> -h` for a command's flags.")
}

// newFlagSet makes a subcommand's flag set whose -h output is the usage line,
// the description and the flag defaults, written to stderr.
func newFlagSet(name, usageLine, description string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: "+usageLine)
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, description)
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses a subcommand's arguments. When it returns false the
// command should exit with the returned status: 0 after -h, 2 after a
// usage error (the flag package has printed it).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}
