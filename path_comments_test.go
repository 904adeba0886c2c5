package wan22

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPathComments checks internal/safetext's package comment against the
// code: it names each of the package's functions that code outside tests
// uses (Path, in the errors of engine/modelfile, engine/lora and this
// package; Invisible, in the CLI's name checks).
func TestPathComments(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, filepath.Join("internal", "safetext"), func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments)
	require.NoError(t, err)
	var doc string
	exported := map[string]bool{}
	for _, f := range pkgs["safetext"].Files {
		if f.Doc != nil {
			doc += f.Doc.Text()
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.IsExported() {
				exported[fn.Name.Name] = true
			}
		}
	}
	doc = strings.Join(strings.Fields(doc), " ")
	require.NotEmpty(t, doc)

	used := map[string]bool{}
	require.NoError(t, filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return nil // not this test's to judge
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if s, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := s.X.(*ast.Ident); ok && id.Name == "safetext" && exported[s.Sel.Name] {
					used[s.Sel.Name] = true
				}
			}
			return true
		})
		return nil
	}))
	require.True(t, used["Path"] && used["Invisible"], "used outside tests: %v", used)
	for name := range used {
		require.Regexp(t, `\b`+name+`\b`, doc, "the package comment does not name %s, which code outside tests uses", name)
	}
}
