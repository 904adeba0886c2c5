//go:build cuda

package cuda

/*
#cgo linux CFLAGS: -I/usr/local/cuda/include
#cgo linux LDFLAGS: -L/usr/local/cuda/lib64 -L/usr/local/cuda/lib64/stubs -lcuda -ldl
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	"gorgonia.org/cu"
)

// Available reports whether this binary was built with CUDA support.
func Available() bool { return true }

// cuErr turns a CUresult into an *Error naming the call, or nil on success.
func cuErr(call string, code C.int) error {
	if code == 0 {
		return nil
	}
	return &Error{Call: call, Code: int(code), Name: C.GoString(C.wan22_err_name(code)), Desc: C.GoString(C.wan22_err_string(code))}
}

// wrap turns an error of gorgonia.org/cu into an *Error naming the call, or nil.
func wrap(call string, err error) error {
	if err == nil {
		return nil
	}
	// gorgonia.org/cu's errors are its unexported cuResult, an int holding the CUresult.
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Int {
		return cuErr(call, C.int(v.Int()))
	}
	return fmt.Errorf("cuda: %s: %w", call, err)
}

// cuStream returns the driver handle of a gorgonia.org/cu stream.
func cuStream(s cu.Stream) C.CUstream {
	// SAFETY: cu.Stream.C returns the CUstream handle typed in package cu's cgo namespace; both types are
	// the same C pointer type (struct CUstream_st*), so converting through unsafe.Pointer keeps the value.
	return C.CUstream(unsafe.Pointer(s.C()))
}

// oneLine joins a multi-line driver log into one line and bounds its length.
func oneLine(s string, max int) string {
	f := strings.Fields(strings.ReplaceAll(s, "\x00", " "))
	out := strings.Join(f, " ")
	if len(out) > max {
		out = out[:max] + "…"
	}
	return out
}
