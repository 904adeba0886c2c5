package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/engine/modelfile"
)

// runInspect implements `wan22 inspect [-v] FILE...`.
func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("inspect", "wan22 inspect [-v] FILE...",
		"Describes GGUF and safetensors model files: format, detected architecture and\n"+
			"its dimensions, tensor count, bytes per tensor type and metadata. On a LoRA\n"+
			"file: its key style, ranks and alphas, the layers it touches and the models\n"+
			"(and expert) it fits.", stderr)
	verbose := fs.Bool("v", false, "list every tensor: name, type, shape (PyTorch order) and bytes")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(stderr, "inspect", "give at least one model file")
	}
	status, printed := 0, false
	for _, path := range fs.Args() {
		rep, err := modelfile.Inspect(path)
		if err != nil {
			fmt.Fprintf(stderr, "wan22 inspect: %v\n", err)
			status = 1
			continue
		}
		if printed {
			fmt.Fprintln(stdout)
		}
		printed = true
		if rep.Info.Kind == modelfile.KindUnknown && rep.Format == modelfile.FormatSafetensors {
			sum, err := lora.Inspect(path)
			if err == nil {
				fmt.Fprint(stdout, sum)
				if !*verbose {
					continue
				}
			} else if looksLikeLoRA(rep) {
				fmt.Fprintf(stdout, "%s\n  LoRA: not one wan22 can apply: %v\n", path, err)
			}
		}
		if err := rep.WriteText(stdout, *verbose); err != nil {
			fmt.Fprintf(stderr, "wan22 inspect: %v\n", err)
			return 1
		}
	}
	return status
}

// looksLikeLoRA reports whether a file has tensor names of a LoRA.
func looksLikeLoRA(rep *modelfile.Report) bool {
	for _, t := range rep.Tensors {
		if strings.Contains(t.Name, "lora") || strings.HasSuffix(t.Name, ".diff") || strings.HasSuffix(t.Name, ".diff_b") {
			return true
		}
	}
	return false
}
