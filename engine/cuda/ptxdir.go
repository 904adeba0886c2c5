package cuda

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wan22/wan22/kernels"
)

// ptxDirEnv names a development aid: a folder laid out like kernels/ (attention.ptx, sm90a/attention8.ptx, …)
// whose PTX files replace the embedded PTX of the modules of the same name. PTX just rebuilt on a GPU machine
// (scripts/ptx.sh there) then runs in binaries built before it, so one device session can build kernels and
// run the engine's tests on them. Modules the folder lacks stay embedded; only modules the binary embeds can
// be replaced. The engine logs each module it takes from the folder.
const ptxDirEnv = "WAN22_PTX_DIR"

// modulePTX returns a module's PTX: from the folder named by WAN22_PTX_DIR when it has the module's file
// (dir names that folder then), else the embedded one (dir ""). A file that exists but cannot be read, or an
// override of a module the binary does not embed, is an error naming the variable.
func modulePTX(name string) (ptx []byte, dir string, err error) {
	embedded, embErr := kernels.PTX(name)
	dir = os.Getenv(ptxDirEnv)
	if dir == "" {
		return embedded, "", embErr
	}
	path := filepath.Join(dir, filepath.FromSlash(name)+".ptx")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return embedded, "", embErr
	case err != nil:
		return nil, "", fmt.Errorf("cuda: %s=%s: %w (unset it to run the embedded kernels)", ptxDirEnv, dir, err)
	case embErr != nil:
		return nil, "", fmt.Errorf("cuda: %s=%s has %s, a module this binary does not embed: %w", ptxDirEnv, dir, path, embErr)
	case len(b) == 0:
		return nil, "", fmt.Errorf("cuda: %s=%s: %s is empty (unset it to run the embedded kernels)", ptxDirEnv, dir, path)
	}
	return b, dir, nil
}
