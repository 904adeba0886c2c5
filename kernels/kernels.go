// Package kernels holds the CUDA C sources of wan22's GPU kernels and the PTX compiled from them.
//
// One .cu file per op family (dequant, gemm, norm, elementwise); common.cuh is shared by all. `make ptx`
// (scripts/ptx.sh) compiles each to compute_80 PTX, which is committed and embedded here, so building the
// engine needs no CUDA compiler. The first line of each .ptx records the sha256 of the sources it was made
// from (see SourceHash); a test fails when a source changed without regenerating the PTX.
//
// This package only embeds; engine/cuda loads the modules into a CUDA context when first used.
package kernels

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.ptx
var ptxFS embed.FS

// HashPrefix starts the first line of every generated .ptx file; the hex sha256 of the sources follows.
const HashPrefix = "// wan22-source-sha256: "

// PTX returns the embedded PTX of a module ("dequant", "gemm", "norm", "elementwise").
func PTX(module string) ([]byte, error) {
	b, err := ptxFS.ReadFile(module + ".ptx")
	if err != nil {
		return nil, fmt.Errorf("kernels: no embedded PTX module %q (have %s)", module, strings.Join(Modules(), ", "))
	}
	return b, nil
}

// Modules lists the embedded modules by name, sorted.
func Modules() []string {
	ents, _ := fs.Glob(ptxFS, "*.ptx")
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e, ".ptx"))
	}
	sort.Strings(out)
	return out
}

// RecordedHash returns the source hash written on the first line of a PTX file, or "" when there is none.
func RecordedHash(ptx []byte) string {
	line, _, _ := bufio.NewReader(bytes.NewReader(ptx)).ReadLine()
	s := string(line)
	if !strings.HasPrefix(s, HashPrefix) {
		return ""
	}
	return strings.TrimSpace(strings.TrimPrefix(s, HashPrefix))
}

// SourceHash is the hash scripts/ptx.sh records: the hex sha256 of the .cu source followed by every shared
// header (*.cuh) in byte-wise name order.
func SourceHash(cu []byte, headers map[string][]byte) string {
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	h.Write(cu)
	for _, n := range names {
		h.Write(headers[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}
