package benchreport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/wan22/wan22/internal/fserr"
)

// HistoryKeep is how many reports the per-user bench history keeps: saving
// a report removes the oldest beyond it.
const HistoryKeep = 20

// historyStamp names a history file after its report's creation time (UTC);
// names sort in time order.
const historyStamp = "20060102T150405.000000000Z"

// HistoryDir returns the per-user bench history folder,
// os.UserCacheDir()/wan22/bench (it may not exist yet).
func HistoryDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for the bench history: %w", err)
	}
	return filepath.Join(cache, "wan22", "bench"), nil
}

// SaveHistory writes r into the bench history as <created>.json (through a
// temporary file and a rename) and removes the oldest reports beyond
// HistoryKeep. It returns the file written.
func SaveHistory(r *Report) (string, error) {
	dir, err := HistoryDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("the bench history folder %s cannot be made: %w", dir, fserr.WithoutPath(err))
	}
	base := r.Created.UTC().Format(historyStamp)
	path := filepath.Join(dir, base+".json")
	for i := 1; ; i++ { // two reports of the same instant: keep both
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		path = filepath.Join(dir, fmt.Sprintf("%s_%d.json", base, i)) // sorts after base.json
	}
	if err := r.WriteFile(path); err != nil {
		// The error names the temporary file the report went through.
		return "", fmt.Errorf("the bench history's %s cannot be written: %w", path, fserr.WithoutPath(err))
	}
	return path, rotateHistory(dir, HistoryKeep)
}

// historyFiles lists the reports of the history folder dir, oldest first;
// temporary files of an unfinished write (".name.partial-N") are left out.
func historyFiles(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range es {
		if n := e.Name(); e.Type().IsRegular() && strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// rotateHistory removes the oldest reports of dir beyond keep.
func rotateHistory(dir string, keep int) error {
	names, err := historyFiles(dir)
	if err != nil {
		return fmt.Errorf("bench history: %w", err)
	}
	var errs []error
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			errs = append(errs, fmt.Errorf("removing an old bench report: %w", err))
		}
		names = names[1:]
	}
	return errors.Join(errs...)
}

// LoadHistory reads the per-user bench history, oldest first. A missing
// folder is an empty history; a file that does not read as a report (of
// another schema, or damaged) is skipped.
func LoadHistory() ([]Report, error) {
	dir, err := HistoryDir()
	if err != nil {
		return nil, err
	}
	names, err := historyFiles(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench history: %w", err)
	}
	var reps []Report
	for _, n := range names {
		if r, err := ReadFile(filepath.Join(dir, n)); err == nil {
			reps = append(reps, *r)
		}
	}
	return reps, nil
}
