package gguf

const isLinux = true
