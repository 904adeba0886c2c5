package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// optionField is an Options or Request field named in a message:
// "Options.VRAMBudget", "Request.LoRAs", not another package's
// "video.Options.FPS".
var optionField = regexp.MustCompile(`(^|[^.\w])(Options|Request)\.([A-Z]\w*)`)

// writerOnly are the parts of the library's texts that reach a Go program
// only: Generate's refusal of a video writer whose frame size or rate is not
// the request's (checkWriter) names Request.Width and Request.FPS, but the
// commands make their writers from the settings Resolve gives.
var writerOnly = []string{"the video writer takes frames of", "the video writer's is"}

// libraryOptionTexts is every string literal of the wan22 package's
// non-test files that names an Options or Request field, less writerOnly's:
// the words its errors and log lines (optionNames) give a Go program.
func libraryOptionTexts(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "*.go"))
	require.NoError(t, err)
	var texts []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				if optionField.MatchString(s) && !slices.ContainsFunc(writerOnly, func(w string) bool { return strings.Contains(s, w) }) {
					texts = append(texts, s)
				}
			}
			return true
		})
	}
	return texts
}

// libraryText is the one of the library's texts that contains part.
func libraryText(t *testing.T, part string) string {
	t.Helper()
	for _, s := range libraryOptionTexts(t) {
		if strings.Contains(s, part) {
			return s
		}
	}
	t.Fatalf("the wan22 package has no message with %q: update this test to its words", part)
	return ""
}

// TestFlagWordsCoverLibrary: every Options or Request field that a message
// of the library names (VRAMBudget, PinnedBudget and LoRAs so far) is turned
// into a flag, or what to do without one, by each command that runs the
// pipeline, and each flag named is one of that command's, or wan22 i2v's
// where the message sends its user there.
func TestFlagWordsCoverLibrary(t *testing.T) {
	texts := libraryOptionTexts(t)
	var fields []string
	for _, s := range texts {
		for _, m := range optionField.FindAllStringSubmatch(s, -1) {
			fields = append(fields, m[3])
		}
	}
	slices.Sort(fields)
	fields = slices.Compact(fields)
	require.Contains(t, fields, "VRAMBudget", "the driver's out-of-memory advice (eae5107)")
	require.Contains(t, fields, "PinnedBudget", "the refused pin's warning (af5c1cd)")
	require.Contains(t, fields, "LoRAs", "an expert's latent turned NaN with LoRAs attached (expertNonFinite)")
	flagRE := regexp.MustCompile(`(^|\s|\()(-{1,2}[a-z][a-z-]*)`)
	_, i2vHelp, _ := runCLI("i2v", "-h")
	for cmd := range optionFlags {
		_, help, _ := runCLI(cmd, "-h")
		require.Contains(t, help, "-vram-budget ", "%s -h lists its flags", cmd)
		for _, s := range texts {
			got := flagWords(cmd, s)
			require.NotRegexp(t, optionField, got, "%s: %q", cmd, s)
			for _, fl := range flagRE.FindAllStringSubmatch(got, -1) {
				name := fl[2]
				if strings.Contains(got, "wan22 i2v") && strings.HasPrefix(name, "--") && cmd != "i2v" && !strings.HasPrefix(flagDash(cmd), "--") {
					require.Contains(t, i2vHelp, name[1:]+" ", "%s sends its user to i2v's flag", cmd)
					require.NotContains(t, help, name[1:]+" ", "%s has the flag after all", cmd)
					continue
				}
				require.True(t, strings.HasPrefix(name, flagDash(cmd)) && !strings.HasPrefix(name, flagDash(cmd)+"-"), "%s names %s: %q", cmd, name, got)
				require.Contains(t, help, "-"+strings.TrimLeft(name, "-")+" ", "%s has no %s: %q", cmd, name, got)
			}
		}
	}
	require.Equal(t, "x Options.VRAMBudget", flagWords("inspect", "x Options.VRAMBudget"), "a command without a pipeline")
}

// driverOOM is the error Generate returns when the driver refuses a device
// allocation the budget allowed, in the library's words.
func driverOOM(t *testing.T) error {
	advice := libraryText(t, "Options.VRAMBudget below what they leave free")
	return fmt.Errorf("wan22: generating: cuda: cuMemAlloc(2.00 GiB) for %q: CUDA_ERROR_OUT_OF_MEMORY; the budget allowed it, so other processes or libraries use the GPU: %s", "high-noise", advice)
}

// pinRefused is the error attribute of the library's warning of a refused
// pin, in its words.
var pinRefused = errors.New("cuda: cannot pin 2.00 GiB of host memory: cuda: pinned host memory budget exceeded: 2.00 GiB for \"high-noise\" with 0 B of 1.00 GiB in use (raise the cap or free memory); raise Options.PinnedBudget")

// TestRunFailedNamesFlags: a library error that names Options.VRAMBudget
// (the driver's out-of-memory advice) reaches the user of i2v and demo,
// on standard error and in the --json error object, naming the command's
// flag; it read "set Options.VRAMBudget below what they leave free (0, the
// default, takes what was free at Open …)".
func TestRunFailedNamesFlags(t *testing.T) {
	err := driverOOM(t)
	for cmd, flag := range map[string]string{"i2v": "--vram-budget", "demo": "-vram-budget"} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 1, runFailed(context.Background(), cmd, err, true, &stdout, &stderr))
		for _, out := range []string{stderr.String(), stdout.String()} {
			require.NotContains(t, out, "Options.", cmd)
			require.NotContains(t, out, "at Open", cmd)
			require.Contains(t, out, "stop them, or give "+flag+" below what they leave free (0, the default, takes what was free when the models were opened, less 512 MiB)", cmd)
		}
		require.Contains(t, stdout.String(), `"type":"error"`)
	}
}

// TestLogNamesFlags: the library's warning of a refused pin, which says to
// raise Options.PinnedBudget in its err attribute, names --pinned-budget in
// i2v's (plain and --json) and bench's warnings, and in the demo, which has
// no such flag, sends its user to wan22 i2v's.
func TestLogNamesFlags(t *testing.T) {
	const msg = "pinning host memory refused; using pageable memory (host→device copies will be slower and not asynchronous)"
	for _, c := range []struct {
		cmd  string
		json bool
		want string
	}{
		{"i2v", false, "raise --pinned-budget"},
		{"i2v", true, "raise --pinned-budget"},
		{"demo", false, "run wan22 i2v with a larger --pinned-budget (the demo has none: it pins at most half of physical memory)"},
		{"bench", false, "raise --pinned-budget"},
	} {
		var stdout, stderr bytes.Buffer
		l := benchLog(&stderr)
		if c.cmd != "bench" {
			r := newReporter(&stdout, &stderr, c.json)
			r.prefix = "wan22 " + c.cmd + ":"
			l = reporterLog(r)
		}
		l.With("component", "cuda").Warn(msg, "err", pinRefused)
		out := stderr.String()
		if c.json {
			out = stdout.String()
		}
		require.Contains(t, out, msg, c.cmd)
		require.Contains(t, out, c.want, c.cmd)
		require.NotContains(t, out, "Options.", c.cmd)
	}
}

// TestBenchErrorNamesFlags: a bench run's error, printed in its table and
// kept in its report, names the bench's --vram-budget.
func TestBenchErrorNamesFlags(t *testing.T) {
	_, msg, _ := classify(driverOOM(t))
	require.NotContains(t, msg, "Options.")
	require.Contains(t, msg, "stop them, or give --vram-budget below what they leave free")
}
