// Package kernels holds the CUDA C sources of wan22's GPU kernels and the PTX compiled from them.
//
// One .cu file per op family (dequant, gemm, norm, elementwise, ...); common.cuh is shared by all. `make ptx`
// (scripts/ptx.sh) compiles each to compute_80 PTX, which is committed and embedded here, so building the
// engine needs no CUDA compiler. The first line of each .ptx records the sha256 of the sources it was made
// from (see SourceHash); a test fails when a source changed without regenerating the PTX.
//
// Architecture-specific modules live in a subfolder named after their target and are embedded beside the
// portable ones under that prefix: sm90a/attention.ptx (wgmma, Hopper only, made with nvcc 12 or newer by
// bench/attention/ptx_sm90a.sh, or by make ptx where nvcc is 12 or newer) is the module "sm90a/attention";
// sm89/attention8.ptx (FP8 e4m3 mma.sync, compute_89: Ada, Hopper, Blackwell; nvcc 12.4 or newer) is
// "sm89/attention8". The sm89 modules are optional: a checkout made where no nvcc 12.4 was at hand has none,
// and the engine then runs their INT8 twins (sm89/README.md keeps the folder, and so the embed pattern,
// non-empty). Modules lists only the portable compute_80 modules; ArchModules lists those of one
// architecture.
//
// The second line of a .ptx made since the scripts recorded it names the nvcc release and flags that made
// it (see RecordedBuild); older files lack it.
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
	"slices"
	"sort"
	"strings"
)

//go:embed *.ptx sm90a/*.ptx sm89/*
var ptxFS embed.FS

// HashPrefix starts the first line of every generated .ptx file; the hex sha256 of the sources follows.
const HashPrefix = "// wan22-source-sha256: "

// SM90a is the subfolder (and module-name prefix) of the modules built for compute_90a (H100, H200).
const SM90a = "sm90a"

// SM89 is the subfolder (and module-name prefix) of the modules built for compute_89 (FP8 mma.sync: compute
// capability 8.9 and newer). Its PTX may be absent from a build (see the package comment).
const SM89 = "sm89"

// PTX returns the embedded PTX of a module: a portable one ("dequant", "gemm", "norm", "elementwise",
// "attention", ...) or an architecture-specific one ("sm90a/attention", "sm89/attention8" when built in).
func PTX(module string) ([]byte, error) {
	b, err := ptxFS.ReadFile(module + ".ptx")
	if err != nil {
		have := slices.Concat(Modules(), ArchModules(SM90a), ArchModules(SM89))
		return nil, fmt.Errorf("kernels: no embedded PTX module %q (have %s)", module, strings.Join(have, ", "))
	}
	return b, nil
}

// Modules lists the embedded portable (compute_80) modules by name, sorted.
func Modules() []string { return globModules("*.ptx") }

// ArchModules lists the embedded modules of one architecture ("sm90a") by full name ("sm90a/attention"),
// sorted; none for an architecture without modules.
func ArchModules(arch string) []string {
	if arch == "" || strings.ContainsAny(arch, "/*?[\\") {
		return nil
	}
	return globModules(arch + "/*.ptx")
}

func globModules(pattern string) []string {
	ents, _ := fs.Glob(ptxFS, pattern)
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e, ".ptx"))
	}
	sort.Strings(out)
	return out
}

// BuildPrefix starts the second line of a .ptx made by scripts/ptx.sh since it records the compiler: the
// nvcc release and the flags follow.
const BuildPrefix = "// wan22-nvcc: "

// RecordedBuild returns the nvcc release and flags written on the second line of a PTX file, or "" when
// there is none (files made before the line was recorded).
func RecordedBuild(ptx []byte) string {
	r := bufio.NewReader(bytes.NewReader(ptx))
	_, _, _ = r.ReadLine()
	line, _, _ := r.ReadLine()
	s := string(line)
	if !strings.HasPrefix(s, BuildPrefix) {
		return ""
	}
	return strings.TrimSpace(strings.TrimPrefix(s, BuildPrefix))
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

// Entries returns the kernel entry points of a PTX image: the names of its .entry directives, in the
// order they appear.
func Entries(ptx []byte) []string {
	var out []string
	for rest := ptx; ; {
		i := bytes.Index(rest, []byte(".entry "))
		if i < 0 {
			return out
		}
		// A directive starts a line (after any indentation and .visible/.weak); a ".entry " inside a
		// comment or string is not one.
		line := rest[bytes.LastIndexByte(rest[:i], '\n')+1 : i]
		rest = rest[i+len(".entry "):]
		if !isDirectivePrefix(line) {
			continue
		}
		end := bytes.IndexFunc(rest, func(r rune) bool {
			return !(r == '_' || r == '$' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		})
		if end > 0 {
			out = append(out, string(rest[:end]))
		}
	}
}

// isDirectivePrefix reports whether what precedes ".entry " on its line is only indentation and linkage
// directives.
func isDirectivePrefix(line []byte) bool {
	for _, f := range strings.Fields(string(line)) {
		if f != ".visible" && f != ".weak" && f != ".extern" {
			return false
		}
	}
	return true
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
