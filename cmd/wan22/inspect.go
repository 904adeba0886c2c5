package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/wan22/wan22/engine/modelfile"
)

// runInspect implements `wan22 inspect [-v] FILE...`.
func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "list every tensor: name, type, shape (PyTorch order) and bytes")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wan22 inspect [-v] FILE...")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Describes GGUF and safetensors model files: format, detected architecture and")
		fmt.Fprintln(stderr, "its dimensions, tensor count, bytes per tensor type and metadata.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	status := 0
	for i, path := range fs.Args() {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		rep, err := modelfile.Inspect(path)
		if err != nil {
			fmt.Fprintf(stderr, "wan22 inspect: %v\n", err)
			status = 1
			continue
		}
		if err := rep.WriteText(stdout, *verbose); err != nil {
			fmt.Fprintf(stderr, "wan22 inspect: %v\n", err)
			return 1
		}
	}
	return status
}
