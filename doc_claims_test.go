package wan22

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocClaims checks two claims of wan22.go's comments against the code
// they describe.
//
// The package comment names every package of this module that the package
// example (example_test.go's Example) uses beside wan22 (engine/imageprep
// for the image, engine/video for the video).
//
// Options.Attention's comment says that the commands always pass their
// --attention, so WAN22_ATTN does not change what they run: wan22 i2v, demo
// and bench give the flag an explicit default, bf16, and never leave it
// empty.
func TestDocClaims(t *testing.T) {
	fset := token.NewFileSet()
	lib, err := parser.ParseFile(fset, "wan22.go", nil, parser.ParseComments)
	require.NoError(t, err)
	pkgDoc := strings.Join(strings.Fields(lib.Doc.Text()), " ")

	ex, err := parser.ParseFile(fset, "example_test.go", nil, 0)
	require.NoError(t, err)
	const module = "github.com/wan22/wan22/"
	byName := map[string]string{} // the module's packages example_test.go imports, by name
	for _, im := range ex.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if rel, ok := strings.CutPrefix(p, module); ok {
			byName[filepath.Base(rel)] = rel
		}
	}
	used := map[string]bool{}
	for _, d := range ex.Decls {
		if f, ok := d.(*ast.FuncDecl); ok && f.Name.Name == "Example" {
			ast.Inspect(f.Body, func(n ast.Node) bool {
				if s, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := s.X.(*ast.Ident); ok && byName[id.Name] != "" {
						used[byName[id.Name]] = true
					}
				}
				return true
			})
		}
	}
	require.NotEmpty(t, used, "Example uses no package of the module beside wan22")
	for rel := range used {
		require.Contains(t, pkgDoc, rel, "the package comment does not name %s, which its example needs", rel)
	}

	// The commands' --attention flags: each has an explicit default.
	defaults := map[string]string{}
	for _, file := range []string{"i2v.go", "demo.go", "bench.go"} {
		f, err := parser.ParseFile(fset, filepath.Join("cmd", "wan22", file), nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			for i, a := range call.Args {
				if lit, ok := a.(*ast.BasicLit); ok && lit.Value == `"attention"` && i+1 < len(call.Args) {
					if def, ok := call.Args[i+1].(*ast.BasicLit); ok {
						defaults[file], _ = strconv.Unquote(def.Value)
					}
				}
			}
			return true
		})
	}
	require.Equal(t, map[string]string{"i2v.go": "bf16", "demo.go": "bf16", "bench.go": "bf16"}, defaults)

	var attDoc string
	ast.Inspect(lib, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.Name == "Options" {
			for _, f := range ts.Type.(*ast.StructType).Fields.List {
				if len(f.Names) == 1 && f.Names[0].Name == "Attention" {
					attDoc = strings.Join(strings.Fields(f.Doc.Text()), " ")
				}
			}
		}
		return true
	})
	require.Contains(t, attDoc, "WAN22_ATTN")
	require.Contains(t, attDoc, "always pass their --attention")
}
