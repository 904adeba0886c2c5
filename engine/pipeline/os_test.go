package pipeline

import "runtime"

var runtimeLinux = runtime.GOOS == "linux"
