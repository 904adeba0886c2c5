package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/engine/modelfile"
)

// runInspect implements `wan22 inspect [-v] FILE...`.
func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("inspect", "wan22 inspect [-v] FILE... (flags may also follow the files; -- ends them)",
		"Describes GGUF and safetensors model files: format, detected architecture and\n"+
			"its dimensions, tensor count, bytes per tensor type and metadata. On a LoRA\n"+
			"file: its key style, ranks and alphas, the layers it touches and the models\n"+
			"(and expert) it fits.", stderr)
	verbose := fs.Bool("v", false, "list every tensor: name, type, shape (PyTorch order) and bytes")
	// The names and keys printed come from the files, which may be crafted
	// or damaged: their control characters are escaped.
	stdout, stderr = controlEscaper{stdout}, controlEscaper{stderr}
	out := &writeCheck{w: stdout} // the first failed write ends the command (unwritten)
	files, code, ok := parseInterspersed(fs, args)
	if !ok {
		return code
	}
	if len(files) == 0 {
		return usageError(stderr, "inspect", "give at least one model file")
	}
	status, printed := 0, false
	for _, path := range files {
		if _, err := os.Lstat(path); path != "" && errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "wan22 inspect: %s does not exist\n", path)
			status = 1
			continue
		}
		rep, err := modelfile.Inspect(path)
		if err != nil {
			fmt.Fprintf(stderr, "wan22 inspect: %v\n", err)
			status = 1
			continue
		}
		if printed {
			fmt.Fprintln(out)
		}
		printed = true
		var notApplied error // a LoRA wan22 refuses, said after the report
		if rep.Info.Kind == modelfile.KindUnknown && rep.Format == modelfile.FormatSafetensors {
			sum, err := lora.Inspect(path)
			if err == nil {
				fmt.Fprint(out, sum)
				if out.err != nil {
					return unwritten(out.err, status, stderr)
				}
				if !*verbose {
					continue
				}
			} else if looksLikeLoRA(rep) {
				notApplied = err
			}
		}
		rep.WriteText(out, *verbose) // its error is out.err
		if notApplied != nil && out.err == nil {
			// The report names the file above: the error's "lora: PATH: " is not repeated.
			msg := strings.TrimPrefix(notApplied.Error(), "lora: "+path+": ")
			fmt.Fprintf(out, "  LoRA: not one wan22 can apply: %s\n", msg)
		}
		if out.err != nil {
			return unwritten(out.err, status, stderr)
		}
	}
	return status
}

// unwritten is the exit status once the report could not be written to
// standard output (err): a reader that went away (`wan22 inspect -v FILE |
// head`: a broken pipe) ends the command quietly with the status so far, as
// it ends other command-line tools; any other failure (a full disk) is said,
// without Go's "write /dev/stdout: ", and is status 1.
func unwritten(err error, status int, stderr io.Writer) int {
	if isBrokenPipe(err) {
		return status
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	fmt.Fprintf(stderr, "wan22 inspect: the report could not be written to standard output: %v\n", err)
	return 1
}

// parseInterspersed parses fs's flags wherever they are among the
// arguments (`wan22 inspect FILE -v` as well as `-v FILE`) and returns the
// other arguments in order; after "--" every argument is one, so a file
// named like a flag can be given. ok false: exit with code, as parseFlags.
func parseInterspersed(fs *flag.FlagSet, args []string) (rest []string, code int, ok bool) {
	for {
		if code, ok := parseFlags(fs, args); !ok {
			return nil, code, false
		}
		consumed := len(args) - fs.NArg()
		if fs.NArg() == 0 {
			return rest, 0, true
		}
		if consumed > 0 && args[consumed-1] == "--" {
			return append(rest, fs.Args()...), 0, true
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// looksLikeLoRA reports whether a file has tensor names of a LoRA or of a
// LyCORIS adapter (LoHa hada_*, LoKr lokr_*, …) in any naming.
func looksLikeLoRA(rep *modelfile.Report) bool {
	for _, t := range rep.Tensors {
		if strings.Contains(t.Name, "lora") || modelfile.AdapterKey(t.Name) {
			return true
		}
	}
	return false
}

// controlEscaper writes to w what it is given with every control character
// but newline and tab (ESC, CR, NUL, the C1 controls such as U+009B CSI) and
// every byte that is not UTF-8 escaped as Go does in a quoted string (\x1b,
// \r, \u009b), so that a tensor name or metadata key of a model file cannot
// recolour, move the cursor or clear the terminal. Newlines and tabs pass:
// the report's layout is made of them. Each Write is escaped on its own (a
// rune split across two writes shows as two escaped bytes).
type controlEscaper struct{ w io.Writer }

func (e controlEscaper) Write(p []byte) (int, error) {
	clean := true
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if escapeRune(r, n) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return e.w.Write(p)
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", p[i])
		case escapeRune(r, n):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.Write(p[i : i+n])
		}
		i += n
	}
	if _, err := io.WriteString(e.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeRune reports whether controlEscaper escapes rune r, decoded from n
// bytes (a byte that is not UTF-8 decodes as utf8.RuneError of 1 byte).
func escapeRune(r rune, n int) bool {
	return r == utf8.RuneError && n == 1 || r != '\n' && r != '\t' && unicode.IsControl(r)
}
