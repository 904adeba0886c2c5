//go:build !linux

package gguf

const isLinux = false
