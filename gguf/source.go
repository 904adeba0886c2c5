package gguf

// TensorInfo describes one tensor of a model file, whatever its format.
type TensorInfo struct {
	Name  string
	Type  Type
	Shape []int64 // PyTorch order, outermost first. GGUF stores this reversed (ne[0] fastest).
	// Offset is the absolute byte offset of the tensor's data in the file.
	Offset int64
	// Size is the tensor's data size in bytes.
	Size int64
}

// Elements returns the number of elements (the product of Shape; 1 for a scalar).
func (ti TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range ti.Shape {
		n *= d
	}
	return n
}

// Source is a model file's tensors, shared by the GGUF and safetensors readers
// so that loaders do not care which format a file is.
type Source interface {
	// Tensors lists every tensor in file order. The slice must not be modified.
	Tensors() []TensorInfo
	// Lookup finds a tensor by name.
	Lookup(name string) (TensorInfo, bool)
	// Data returns the tensor's bytes. For memory-mapped files this is a view
	// into the mapping that stays valid until Close; it must not be modified.
	Data(name string) ([]byte, error)
	// Close releases the file and any mapping.
	Close() error
}
