package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/wan22/wan22/internal/benchreport"
	"github.com/wan22/wan22/internal/plural"
)

// mergeFlags are the flags --from-json takes: the outputs of a finished
// report. Every other flag of bench sets up runs, which --from-json does not
// do.
var mergeFlags = []string{"from-json", "json", "html", "compare"}

// benchFromJSON is `wan22 bench --from-json A.json,B.json,…`: it merges
// finished reports into one (benchreport.Merge), prints its table, and
// writes --json and --html. The merged report stays out of the bench history:
// its runs are its parts', which may be there already.
func benchFromJSON(f benchFlags, args []string, stdout, stderr io.Writer) int {
	var ignored []string
	for name := range f.set {
		if !slices.Contains(mergeFlags, name) {
			ignored = append(ignored, "--"+name)
		}
	}
	if len(ignored) > 0 {
		slices.Sort(ignored)
		it := "it"
		if len(ignored) > 1 {
			it = "them"
		}
		return usageError(stderr, "bench", "--from-json merges finished reports and runs nothing, so %s would be ignored: give %s to the bench runs, or leave %s out (with --from-json only --json, --html and --compare apply)",
			strings.Join(ignored, ", "), it, it)
	}
	if err := f.checkTilde(); err != nil {
		return usageError(stderr, "bench", "%v", err)
	}
	files, err := parseList("--from-json", f.fromJSON)
	if err != nil {
		return usageError(stderr, "bench", "%v", err)
	}
	for i, a := range files {
		for _, b := range files[:i] {
			if sameFile(a, b) {
				return usageError(stderr, "bench", "--from-json names one report twice (%s and %s): give each once", b, a)
			}
		}
	}
	for _, o := range []struct{ flag, path string }{{"--json", f.jsonPath}, {"--html", f.htmlPath}} {
		if o.path != "" && slices.ContainsFunc(files, func(in string) bool { return sameFile(in, o.path) }) {
			return usageError(stderr, "bench", "%s %s is one of the --from-json reports: write to another file", o.flag, o.path)
		}
	}
	if err := f.checkReportOutputs(); err != nil {
		return usageError(stderr, "bench", "%v", err)
	}
	res, err := reserveReports(f) // as a bench run does (bench.go)
	if err != nil {
		return usageError(stderr, "bench", "%v", err)
	}
	defer res.release()
	// A report named on the command line that cannot be read or merged is
	// a usage error (exit 2), as --compare's is for a bench run.
	srcs := make([]benchreport.Source, len(files))
	for i, path := range files {
		r, err := benchreport.ReadFile(path)
		if err != nil {
			// The error names the file: "--from-json r.json does not exist: …".
			return usageError(stderr, "bench", "--from-json %v", err)
		}
		srcs[i] = benchreport.Source{File: path, Report: r}
	}
	var old *benchreport.Report
	if f.compare != "" {
		if old, err = benchreport.ReadFile(f.compare); err != nil {
			return usageError(stderr, "bench", "--compare %v", err)
		}
	}
	rep, err := benchreport.Merge(srcs)
	if err != nil {
		return usageError(stderr, "bench", "--from-json: %v", err)
	}
	if f.jsonPath == "" && f.htmlPath == "" {
		fmt.Fprintln(stderr, "wan22 bench: note: no --json or --html given: the merged table is only printed")
	}
	rep.Command = args
	fmt.Fprintf(stdout, "merged %s of %s; nothing was run\n", plural.Count(len(rep.Runs), "run"), plural.Count(len(files), "report"))
	if err := writeBenchOutputs(context.Background(), rep, f, old, res, stdout); err != nil {
		fmt.Fprintln(stderr, "wan22 bench:", err)
		return 1
	}
	return 0
}
