package cuda

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wan22/wan22/kernels"
)

// TestLaunchedKernelsInPTX: every kernel of launchedKernels is an .entry of its module's embedded PTX, and
// no module is listed twice over. Needs no GPU and no nvcc.
func TestLaunchedKernelsInPTX(t *testing.T) {
	if len(launchedKernels) == 0 {
		t.Fatal("launchedKernels is empty")
	}
	for mod, names := range launchedKernels {
		ptx, err := kernels.PTX(mod)
		if err != nil && (mod == attn8FP8Module || mod == attn8HopperModule) {
			// Optional: built by nvcc 12.4 (sm89) or 12.0 (sm90a) or newer only; the backend runs the mma.sync INT8
			// kernels without it.
			t.Logf("skipping the %d kernel names of %s: its PTX is not built in (scripts/ptx.sh %s.cu with nvcc ≥ 12.4 makes it)", len(names), mod, mod)
			continue
		}
		if err != nil {
			t.Errorf("launchedKernels lists module %q: %v", mod, err)
			continue
		}
		entries := kernels.Entries(ptx)
		for i, n := range names {
			if i > 0 && names[i-1] == n {
				t.Errorf("%s: %s listed twice", mod, n)
			}
			if !slices.Contains(entries, n) {
				t.Errorf("%s: kernel %s is launched but is no .entry of %s.ptx (a typo, or run make ptx)", mod, n, mod)
			}
			if !kernelListed(mod, n) {
				t.Errorf("kernelListed(%s, %s) = false", mod, n)
			}
		}
	}
	if kernelListed("gemm", "gemm_bf16_nope_f32") || kernelListed("nope", "add_f32") {
		t.Error("kernelListed accepts a kernel that is not listed")
	}
}

// kernelNameUnreachable are names the static evaluation below derives that no launch can build, with the
// check that rules each out before the launch.
var kernelNameUnreachable = map[string]string{
	"fused:rmsnorm_rope_f32_bf16": "RMSNormRope returns an error when yt != xt",
	"fused:rmsnorm_rope_bf16_f32": "RMSNormRope returns an error when yt != xt",
}

// TestGetKernelCallsListed parses the package's Go sources (both build variants), evaluates the module and
// name arguments of every getKernel call to the strings they can take — literals, concatenations,
// fmt.Sprintf, the package's functions, maps and slices that build them, local variables and parameters
// through every call site — and checks each against launchedKernels: a concrete name must be listed, a
// partly known one (a field, say) must match a listed one. Every listed kernel must be reachable from some
// call. Together with TestLaunchedKernelsInPTX, a misspelled kernel name fails here, not on a GPU.
func TestGetKernelCallsListed(t *testing.T) {
	ev := newKernelEval(t)
	if len(ev.calls) < 10 {
		t.Fatalf("%d getKernel calls found in the package sources: the scan is broken", len(ev.calls))
	}
	for _, p := range kernelCallProblems(t, ev, launchedKernels) {
		t.Error(p)
	}
}

// TestGetKernelCallsTypo: a misspelled kernel name in a launcher, a launcher's table of suffixes, or the
// list is reported.
func TestGetKernelCallsTypo(t *testing.T) {
	srcs := map[string]string{}
	paths, _ := filepath.Glob("*.go")
	for _, p := range paths {
		if !strings.HasSuffix(p, "_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			srcs[p] = string(b)
		}
	}
	for _, c := range []struct{ file, from, to, want string }{
		{"ops.go", `"layernorm_"`, `"layernrom_"`, "layernrom_f32_f32"},
		{"args.go", `"q4_k"`, `"q4k"`, "dequant_q4k_bf16"},
		{"conv_args.go", `return "u32", 4`, `return "u23", 4`, "vae_copy_frames_u23"},
		{"ops.go", `d.unary(s, "silu"`, `d.unary(s, "sliu"`, "sliu_f32"},
	} {
		if !strings.Contains(srcs[c.file], c.from) {
			t.Errorf("%s no longer contains %s: update this test", c.file, c.from)
			continue
		}
		typo := maps.Clone(srcs)
		typo[c.file] = strings.Replace(srcs[c.file], c.from, c.to, 1)
		probs := kernelCallProblems(t, kernelEvalFrom(t, typo), launchedKernels)
		if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, c.want) }) {
			t.Errorf("%s with %s: no problem names %s (got %q)", c.file, c.to, c.want, probs)
		}
	}
	// A listed kernel no call launches.
	extra := maps.Clone(launchedKernels)
	extra["norm"] = append(slices.Clone(extra["norm"]), "groupnorm_f32")
	probs := kernelCallProblems(t, newKernelEval(t), extra)
	if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, "norm:groupnorm_f32") }) {
		t.Errorf("an unlaunched listed kernel is not reported (got %q)", probs)
	}
}

// kernelCallProblems checks every getKernel call of ev against a kernel list (see TestGetKernelCallsListed).
func kernelCallProblems(t *testing.T, ev *kernelEval, listed map[string][]string) []string {
	var probs []string
	reached := map[string]bool{}
	for _, c := range ev.calls {
		pos := ev.fset.Position(c.call.Pos())
		where := fmt.Sprintf("%s:%d", filepath.Base(pos.Filename), pos.Line)
		mods := ev.eval(c.call.Args[0], c.fn, 0)
		names := ev.eval(c.call.Args[1], c.fn, 0)
		if testing.Verbose() {
			t.Logf("%s: modules %v, names %v", where, mods, names)
		}
		if len(mods)*len(names) > 4096 {
			probs = append(probs, fmt.Sprintf("%s: %d×%d possible kernels: too many to check", where, len(mods), len(names)))
			continue
		}
		for _, m := range mods {
			mre := regexp.MustCompile("^(?:" + m.re + ")$")
			var modsHit []string
			for mod := range listed {
				if mre.MatchString(mod) {
					modsHit = append(modsHit, mod)
				}
			}
			if len(modsHit) == 0 {
				probs = append(probs, fmt.Sprintf("%s: getKernel(%s, …): module %s is not in launchedKernels", where, ev.src(c.call.Args[0]), m))
				continue
			}
			for _, n := range names {
				if !consistent(m.bind, n.bind) {
					continue
				}
				nre := regexp.MustCompile("^(?:" + n.re + ")$")
				hit := false
				for _, mod := range modsHit {
					for _, name := range listed[mod] {
						if nre.MatchString(name) {
							hit = true
							reached[mod+":"+name] = true
						}
					}
				}
				if hit {
					continue
				}
				if n.lit && m.lit {
					if _, ok := kernelNameUnreachable[m.String()+":"+n.String()]; ok {
						continue
					}
				}
				probs = append(probs, fmt.Sprintf("%s: getKernel(%s, %s) can launch %s:%s, which launchedKernels (kernel_names.go) does not list", where, ev.src(c.call.Args[0]), ev.src(c.call.Args[1]), m, n))
			}
		}
	}
	for mod, names := range listed {
		for _, n := range names {
			if !reached[mod+":"+n] {
				probs = append(probs, fmt.Sprintf("launchedKernels lists %s:%s, which no getKernel call can launch", mod, n))
			}
		}
	}
	slices.Sort(probs)
	return probs
}

// TestKernelEval pins the evaluator on small sources: a typo must surface as a name, and the cases it
// cannot see through become wildcards instead of silently passing.
func TestKernelEval(t *testing.T) {
	src := `package p
import "fmt"
type T int
func suffix(t T) string { if t == 1 { return "bf16" }; return "f32" }
var stems = map[T]string{1: "q4_0", 2: "q8_0"}
func word(n int) (string, int) { if n > 1 { return "u128", 16 }; return "u16", 2 }
func (d *D) unary(op string, t T) { d.getKernel("elementwise", op+"_"+suffix(t)) }
func (d *D) a() { d.unary("silu", 0); d.unary("gelu", 1) }
func (d *D) b(t, u T, x struct{ name string }) {
	d.getKernel("m", "x_"+suffix(t)+"_"+suffix(t))
	d.getKernel("m", "y_"+suffix(t)+"_"+suffix(u))
	d.getKernel("m", "z_"+stems[t])
	w, _ := word(3)
	d.getKernel("m", "c_"+w)
	name := "one"
	if t == 2 { name = "two" }
	d.getKernel("m", fmt.Sprintf("s_%s_%d", name, len(name)))
	d.getKernel("m", "f_"+x.name)
}
`
	ev := kernelEvalFrom(t, map[string]string{"p.go": src})
	var got []string
	for _, c := range ev.calls {
		var alts []string
		for _, n := range ev.eval(c.call.Args[1], c.fn, 0) {
			alts = append(alts, n.String())
		}
		slices.Sort(alts)
		got = append(got, strings.Join(alts, " "))
	}
	want := []string{
		"gelu_bf16 gelu_f32 silu_bf16 silu_f32", // op: the call sites' arguments
		"x_bf16_bf16 x_f32_f32",
		"y_bf16_bf16 y_bf16_f32 y_f32_bf16 y_f32_f32",
		"z_q4_0 z_q8_0",
		"c_u128 c_u16",
		"s_one_[0-9]+ s_two_[0-9]+",
		"f_" + kernelWild,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("evaluated names:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// kernelWild is the pattern of a string the evaluation cannot know.
const kernelWild = `[A-Za-z0-9_/]+`

// kernelAlt is one string an expression can take: a regular expression (literal text quoted, unknown parts
// wildcards), whether it is fully known, and the values chosen for each repeated sub-expression on the
// way (so suffix(t)+"_"+suffix(t) does not yield f32_bf16).
type kernelAlt struct {
	re   string
	lit  bool
	bind map[string]string
}

func (a kernelAlt) String() string {
	if a.lit {
		return regexpUnquote(a.re)
	}
	return a.re
}

// regexpUnquote undoes regexp.QuoteMeta.
func regexpUnquote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func litAlt(s string) kernelAlt { return kernelAlt{re: regexp.QuoteMeta(s), lit: true} }

func wildAlt(re string) []kernelAlt { return []kernelAlt{{re: re}} }

func consistent(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; ok && w != v {
			return false
		}
	}
	return true
}

func merged(a, b map[string]string) map[string]string {
	if len(a) == 0 {
		return b
	}
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// concat returns every consistent a+b.
func concat(as, bs []kernelAlt) []kernelAlt {
	var out []kernelAlt
	for _, a := range as {
		for _, b := range bs {
			if consistent(a.bind, b.bind) {
				out = append(out, kernelAlt{re: a.re + b.re, lit: a.lit && b.lit, bind: merged(a.bind, b.bind)})
			}
		}
	}
	return out
}

// bound records that key took each alternative's value.
func bound(key string, as []kernelAlt) []kernelAlt {
	out := make([]kernelAlt, len(as))
	for i, a := range as {
		out[i] = kernelAlt{re: a.re, lit: a.lit, bind: map[string]string{key: a.re}}
	}
	return out
}

// dedup drops repeated alternatives (same pattern and bindings).
func dedup(as []kernelAlt) []kernelAlt {
	seen := map[string]bool{}
	var out []kernelAlt
	for _, a := range as {
		keys := make([]string, 0, len(a.bind))
		for k, v := range a.bind {
			keys = append(keys, k+"="+v)
		}
		slices.Sort(keys)
		id := a.re + "\x00" + strings.Join(keys, "\x00")
		if !seen[id] {
			seen[id] = true
			out = append(out, a)
		}
	}
	return out
}

// kernelCall is a getKernel call and the function declaring it.
type kernelCall struct {
	call *ast.CallExpr
	fn   *ast.FuncDecl
}

// kernelEval evaluates string expressions of one package statically.
type kernelEval struct {
	fset  *token.FileSet
	funcs map[string][]*ast.FuncDecl // by name, methods included
	vars  map[string]ast.Expr        // package-level var and const values
	sites map[string][]kernelCall    // calls by callee name, with the calling function
	calls []kernelCall               // the getKernel calls, in source order
}

// newKernelEval reads the package's non-test sources, whatever their build tags.
func newKernelEval(t *testing.T) *kernelEval {
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	srcs := map[string]string{}
	for _, p := range paths {
		if !strings.HasSuffix(p, "_test.go") {
			srcs[p] = ""
		}
	}
	return kernelEvalFrom(t, srcs)
}

// kernelEvalFrom parses sources by file name ("" reads the file).
func kernelEvalFrom(t *testing.T, srcs map[string]string) *kernelEval {
	ev := &kernelEval{fset: token.NewFileSet(), funcs: map[string][]*ast.FuncDecl{}, vars: map[string]ast.Expr{}, sites: map[string][]kernelCall{}}
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		var src any
		if srcs[n] != "" {
			src = srcs[n]
		}
		f, err := parser.ParseFile(ev.fset, n, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				ev.funcs[d.Name.Name] = append(ev.funcs[d.Name.Name], d)
				if d.Body == nil {
					continue
				}
				ast.Inspect(d.Body, func(n ast.Node) bool {
					c, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					if name := calleeName(c); name != "" {
						ev.sites[name] = append(ev.sites[name], kernelCall{c, d})
						if name == "getKernel" && len(c.Args) == 2 {
							ev.calls = append(ev.calls, kernelCall{c, d})
						}
					}
					return true
				})
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok && len(vs.Values) == len(vs.Names) {
						for i, id := range vs.Names {
							ev.vars[id.Name] = vs.Values[i]
						}
					}
				}
			}
		}
	}
	return ev
}

// calleeName is the name of a called function or method, "" for anything else.
func calleeName(c *ast.CallExpr) string {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

func (ev *kernelEval) src(e ast.Expr) string {
	var b strings.Builder
	_ = printer.Fprint(&b, ev.fset, e)
	return b.String()
}

const kernelEvalDepth = 12

// eval returns the strings e (in fn; nil: package level) can take.
func (ev *kernelEval) eval(e ast.Expr, fn *ast.FuncDecl, depth int) []kernelAlt {
	if depth > kernelEvalDepth {
		return wildAlt(kernelWild)
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		switch e.Kind {
		case token.STRING:
			if s, err := strconv.Unquote(e.Value); err == nil {
				return []kernelAlt{litAlt(s)}
			}
		case token.INT:
			return []kernelAlt{litAlt(e.Value)}
		}
	case *ast.ParenExpr:
		return ev.eval(e.X, fn, depth)
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			return dedup(concat(ev.eval(e.X, fn, depth+1), ev.eval(e.Y, fn, depth+1)))
		}
	case *ast.CallExpr:
		return ev.evalCall(e, fn, 0, depth)
	case *ast.IndexExpr:
		return ev.elems(e.X, fn, depth+1)
	case *ast.Ident:
		return ev.evalIdent(e.Name, fn, depth)
	}
	return wildAlt(kernelWild)
}

// evalCall returns result i of a call.
func (ev *kernelEval) evalCall(c *ast.CallExpr, fn *ast.FuncDecl, i, depth int) []kernelAlt {
	if sel, ok := c.Fun.(*ast.SelectorExpr); ok {
		if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "fmt" && sel.Sel.Name == "Sprintf" && i == 0 {
			return ev.sprintf(c, fn, depth)
		}
	}
	name := calleeName(c)
	decls := ev.funcs[name]
	if len(decls) == 0 {
		return wildAlt(kernelWild)
	}
	var out []kernelAlt
	for _, d := range decls {
		if d.Body == nil {
			return wildAlt(kernelWild)
		}
		ast.Inspect(d.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false // its returns are not d's
			case *ast.ReturnStmt:
				if i < len(n.Results) {
					for _, a := range ev.eval(n.Results[i], d, depth+1) {
						out = append(out, kernelAlt{re: a.re, lit: a.lit}) // the callee's bindings are its own
					}
				} else {
					out = append(out, wildAlt(kernelWild)...) // named results
				}
			}
			return true
		})
	}
	key := ""
	if fn != nil {
		key = fn.Name.Name + ":" + ev.src(c)
	}
	return bound(key, dedup(out))
}

// sprintf evaluates fmt.Sprintf with a literal format of %s, %d and %v verbs.
func (ev *kernelEval) sprintf(c *ast.CallExpr, fn *ast.FuncDecl, depth int) []kernelAlt {
	lit, ok := c.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return wildAlt(kernelWild)
	}
	format, _ := strconv.Unquote(lit.Value)
	out := []kernelAlt{litAlt("")}
	arg := 1
	for len(format) > 0 {
		i := strings.IndexByte(format, '%')
		if i < 0 || i+1 >= len(format) {
			out = concat(out, []kernelAlt{litAlt(format)})
			break
		}
		out = concat(out, []kernelAlt{litAlt(format[:i])})
		verb := format[i+1]
		format = format[i+2:]
		if verb == '%' {
			out = concat(out, []kernelAlt{litAlt("%")})
			continue
		}
		if arg >= len(c.Args) || !strings.ContainsRune("sdv", rune(verb)) {
			return wildAlt(kernelWild)
		}
		v := ev.eval(c.Args[arg], fn, depth+1)
		arg++
		if verb == 'd' {
			for j := range v {
				if !v[j].lit {
					v[j] = kernelAlt{re: `[0-9]+`, bind: v[j].bind}
				}
			}
		}
		out = concat(out, v)
	}
	return dedup(out)
}

// elems returns the values of the elements of a collection: a composite literal (its values, a map's or
// a slice's), a variable holding one, or a call returning one.
func (ev *kernelEval) elems(e ast.Expr, fn *ast.FuncDecl, depth int) []kernelAlt {
	if depth > kernelEvalDepth {
		return wildAlt(kernelWild)
	}
	switch e := e.(type) {
	case *ast.CompositeLit:
		var out []kernelAlt
		for _, el := range e.Elts {
			if kv, ok := el.(*ast.KeyValueExpr); ok {
				el = kv.Value
			}
			out = append(out, ev.eval(el, fn, depth+1)...)
		}
		return dedup(out)
	case *ast.Ident:
		if d := ev.localDefs(e.Name, fn); len(d) > 0 || ev.isParam(e.Name, fn) {
			return wildAlt(kernelWild)
		}
		if v, ok := ev.vars[e.Name]; ok {
			return ev.elems(v, nil, depth+1)
		}
	case *ast.CallExpr:
		var out []kernelAlt
		for _, d := range ev.funcs[calleeName(e)] {
			if d.Body == nil {
				return wildAlt(kernelWild)
			}
			ast.Inspect(d.Body, func(n ast.Node) bool {
				if _, ok := n.(*ast.FuncLit); ok {
					return false
				}
				if r, ok := n.(*ast.ReturnStmt); ok && len(r.Results) > 0 {
					out = append(out, ev.elems(r.Results[0], d, depth+1)...)
				}
				return true
			})
		}
		if len(out) > 0 {
			return dedup(out)
		}
	}
	return wildAlt(kernelWild)
}

// kernelDef is one place a local variable gets a value: an expression (result i of it when it is a call
// assigned to several variables) or an element of a ranged collection.
type kernelDef struct {
	e     ast.Expr
	i     int
	elems bool
}

// localDefs lists the definitions of a local variable of fn (closures included).
func (ev *kernelEval) localDefs(name string, fn *ast.FuncDecl) []kernelDef {
	if fn == nil || fn.Body == nil {
		return nil
	}
	var defs []kernelDef
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			for i, l := range n.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name == name {
					switch {
					case len(n.Rhs) == len(n.Lhs):
						defs = append(defs, kernelDef{e: n.Rhs[i]})
					case len(n.Rhs) == 1:
						defs = append(defs, kernelDef{e: n.Rhs[0], i: i})
					}
				}
			}
		case *ast.ValueSpec:
			for i, id := range n.Names {
				if id.Name == name && i < len(n.Values) {
					defs = append(defs, kernelDef{e: n.Values[i]})
				}
			}
		case *ast.RangeStmt:
			if id, ok := n.Value.(*ast.Ident); ok && id.Name == name {
				defs = append(defs, kernelDef{e: n.X, elems: true})
			}
			if id, ok := n.Key.(*ast.Ident); ok && id.Name == name {
				defs = append(defs, kernelDef{}) // an index or map key: unknown
			}
		}
		return true
	})
	return defs
}

// isParam reports whether name is a parameter of fn (not of a closure in it).
func (ev *kernelEval) isParam(name string, fn *ast.FuncDecl) bool {
	return ev.paramIndex(name, fn) >= 0
}

func (ev *kernelEval) paramIndex(name string, fn *ast.FuncDecl) int {
	if fn == nil {
		return -1
	}
	i := 0
	for _, f := range fn.Type.Params.List {
		for _, id := range f.Names {
			if id.Name == name {
				return i
			}
			i++
		}
		if len(f.Names) == 0 {
			i++
		}
	}
	return -1
}

// evalIdent evaluates a variable: its local definitions, a parameter through every call site of fn, or a
// package-level value. A variable assigned several times may take any of the values.
func (ev *kernelEval) evalIdent(name string, fn *ast.FuncDecl, depth int) []kernelAlt {
	var out []kernelAlt
	if defs := ev.localDefs(name, fn); len(defs) > 0 {
		for _, d := range defs {
			switch {
			case d.e == nil:
				out = append(out, wildAlt(kernelWild)...)
			case d.elems:
				out = append(out, ev.elems(d.e, fn, depth+1)...)
			case d.i > 0:
				if c, ok := d.e.(*ast.CallExpr); ok {
					out = append(out, ev.evalCall(c, fn, d.i, depth+1)...)
				} else {
					out = append(out, wildAlt(kernelWild)...)
				}
			default:
				out = append(out, ev.eval(d.e, fn, depth+1)...)
			}
		}
	} else if p := ev.paramIndex(name, fn); p >= 0 {
		sites := ev.sites[fn.Name.Name]
		for _, s := range sites {
			if p < len(s.call.Args) {
				out = append(out, ev.eval(s.call.Args[p], s.fn, depth+1)...)
			}
		}
		if len(out) == 0 {
			return wildAlt(kernelWild) // not called with its arguments spelt out (a method value, say)
		}
	} else if v, ok := ev.vars[name]; ok {
		return ev.eval(v, nil, depth+1)
	} else {
		return wildAlt(kernelWild) // a closure's parameter, a field, ...
	}
	out = dedup(out)
	if fn != nil {
		for i := range out {
			out[i].bind = merged(out[i].bind, map[string]string{fn.Name.Name + ":" + name: out[i].re})
		}
	}
	return out
}
