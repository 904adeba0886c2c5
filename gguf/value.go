package gguf

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// ValueType is the type of a metadata value (gguf_metadata_value_type).
type ValueType uint32

// Metadata value types, with their ids as stored in files.
const (
	ValueUint8   ValueType = 0
	ValueInt8    ValueType = 1
	ValueUint16  ValueType = 2
	ValueInt16   ValueType = 3
	ValueUint32  ValueType = 4
	ValueInt32   ValueType = 5
	ValueFloat32 ValueType = 6
	ValueBool    ValueType = 7
	ValueString  ValueType = 8
	ValueArray   ValueType = 9
	ValueUint64  ValueType = 10
	ValueInt64   ValueType = 11
	ValueFloat64 ValueType = 12
)

var valueTypeNames = [...]string{
	"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
	"BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
}

// String returns the type's name as the GGUF spec spells it (e.g. "UINT32").
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// Valid reports whether t is one of the thirteen defined value types.
func (t ValueType) Valid() bool { return int(t) < len(valueTypeNames) }

// isInt reports whether t is one of the eight integer types.
func (t ValueType) isInt() bool {
	switch t {
	case ValueUint8, ValueInt8, ValueUint16, ValueInt16, ValueUint32, ValueInt32, ValueUint64, ValueInt64:
		return true
	}
	return false
}

// isSigned reports whether t is a signed integer type.
func (t ValueType) isSigned() bool {
	return t == ValueInt8 || t == ValueInt16 || t == ValueInt32 || t == ValueInt64
}

// fixedSize is the encoded size of a scalar of type t, 0 for STRING and ARRAY.
func (t ValueType) fixedSize() int {
	switch t {
	case ValueUint8, ValueInt8, ValueBool:
		return 1
	case ValueUint16, ValueInt16:
		return 2
	case ValueUint32, ValueInt32, ValueFloat32:
		return 4
	case ValueUint64, ValueInt64, ValueFloat64:
		return 8
	}
	return 0
}

// minSize is the smallest number of bytes one value of type t occupies in a file.
func (t ValueType) minSize() int64 {
	switch t {
	case ValueString:
		return 8 // length
	case ValueArray:
		return 12 // element type + count
	}
	return int64(t.fixedSize())
}

// KV is one metadata key/value pair.
type KV struct {
	Key   string
	Value Value
}

// Value is one metadata value: a scalar, a string or an array (possibly of
// arrays). Values come from a File or NewValue; the zero Value is UINT8 0.
//
// Scalars keep their file type: the typed accessors convert between widths
// (Int64 reads any integer type) but report an error on a kind mismatch or an
// out-of-range conversion.
type Value struct {
	typ ValueType
	// bits holds scalars: integers (sign-extended for signed types), bools
	// (0/1) and float bits (float32 bits widened to uint64 for FLOAT32).
	bits uint64
	str  string
	// arr is the element slice of an ARRAY: []uint8, []int8, []uint16,
	// []int16, []uint32, []int32, []float32, []bool, []string, []uint64,
	// []int64, []float64, or []Value for nested arrays.
	arr  any
	elem ValueType
}

// Type returns the value's type.
func (v Value) Type() ValueType { return v.typ }

// ElemType returns the element type of an ARRAY value (meaningless otherwise).
func (v Value) ElemType() ValueType { return v.elem }

// Len returns the number of elements of an ARRAY value, or 0.
func (v Value) Len() int {
	if v.typ != ValueArray || v.arr == nil {
		return 0
	}
	return reflect.ValueOf(v.arr).Len()
}

func (v Value) mismatch(want string) error {
	return fmt.Errorf("gguf: metadata value is %s, not %s", v.typeString(), want)
}

// typeString names v's type for messages: "STRING", "ARRAY of INT32".
func (v Value) typeString() string {
	if v.typ == ValueArray {
		return "ARRAY of " + v.elem.String()
	}
	return v.typ.String()
}

// Str returns a STRING value.
func (v Value) Str() (string, error) {
	if v.typ != ValueString {
		return "", v.mismatch("STRING")
	}
	return v.str, nil
}

// Bool returns a BOOL value.
func (v Value) Bool() (bool, error) {
	if v.typ != ValueBool {
		return false, v.mismatch("BOOL")
	}
	return v.bits != 0, nil
}

// Uint64 returns any integer value as a uint64; negative values are an error.
func (v Value) Uint64() (uint64, error) {
	if !v.typ.isInt() {
		return 0, v.mismatch("an integer")
	}
	if v.typ.isSigned() && int64(v.bits) < 0 {
		return 0, fmt.Errorf("gguf: metadata value %d is negative", int64(v.bits))
	}
	return v.bits, nil
}

// Int64 returns any integer value as an int64; a UINT64 above math.MaxInt64
// is an error.
func (v Value) Int64() (int64, error) {
	if !v.typ.isInt() {
		return 0, v.mismatch("an integer")
	}
	if v.typ == ValueUint64 && v.bits > math.MaxInt64 {
		return 0, fmt.Errorf("gguf: metadata value %d overflows int64", v.bits)
	}
	return int64(v.bits), nil
}

// Float64 returns a FLOAT32 or FLOAT64 value.
func (v Value) Float64() (float64, error) {
	switch v.typ {
	case ValueFloat32:
		return float64(math.Float32frombits(uint32(v.bits))), nil
	case ValueFloat64:
		return math.Float64frombits(v.bits), nil
	}
	return 0, v.mismatch("a float")
}

// Array returns the elements of an ARRAY value as Values.
func (v Value) Array() ([]Value, error) {
	if v.typ != ValueArray {
		return nil, v.mismatch("ARRAY")
	}
	n := v.Len()
	out := make([]Value, n)
	for i := range out {
		out[i] = v.index(i)
	}
	return out, nil
}

// index returns element i of an array value.
func (v Value) index(i int) Value {
	switch a := v.arr.(type) {
	case []uint8:
		return Value{typ: ValueUint8, bits: uint64(a[i])}
	case []int8:
		return Value{typ: ValueInt8, bits: uint64(int64(a[i]))}
	case []uint16:
		return Value{typ: ValueUint16, bits: uint64(a[i])}
	case []int16:
		return Value{typ: ValueInt16, bits: uint64(int64(a[i]))}
	case []uint32:
		return Value{typ: ValueUint32, bits: uint64(a[i])}
	case []int32:
		return Value{typ: ValueInt32, bits: uint64(int64(a[i]))}
	case []uint64:
		return Value{typ: ValueUint64, bits: a[i]}
	case []int64:
		return Value{typ: ValueInt64, bits: uint64(a[i])}
	case []float32:
		return Value{typ: ValueFloat32, bits: uint64(math.Float32bits(a[i]))}
	case []float64:
		return Value{typ: ValueFloat64, bits: math.Float64bits(a[i])}
	case []bool:
		b := uint64(0)
		if a[i] {
			b = 1
		}
		return Value{typ: ValueBool, bits: b}
	case []string:
		return Value{typ: ValueString, str: a[i]}
	case []Value:
		return a[i]
	}
	return Value{}
}

// Strings returns an ARRAY of STRING as a new slice.
func (v Value) Strings() ([]string, error) {
	a, ok := v.arr.([]string)
	if v.typ != ValueArray || !ok {
		return nil, v.mismatch("ARRAY of STRING")
	}
	return append([]string(nil), a...), nil
}

// Float32s returns an ARRAY of FLOAT32 (or FLOAT64, rounded) as a new slice.
func (v Value) Float32s() ([]float32, error) {
	if v.typ == ValueArray {
		switch a := v.arr.(type) {
		case []float32:
			return append([]float32(nil), a...), nil
		case []float64:
			out := make([]float32, len(a))
			for i, x := range a {
				out[i] = float32(x)
			}
			return out, nil
		}
	}
	return nil, v.mismatch("ARRAY of FLOAT32")
}

// Int32s returns an ARRAY of any integer type as a new []int32; an element
// outside the int32 range is an error.
func (v Value) Int32s() ([]int32, error) {
	if v.typ != ValueArray || !v.elem.isInt() {
		return nil, v.mismatch("ARRAY of an integer type")
	}
	if a, ok := v.arr.([]int32); ok {
		return append([]int32(nil), a...), nil
	}
	n := v.Len()
	out := make([]int32, n)
	for i := range out {
		e := v.index(i)
		x := int64(e.bits)
		if (e.typ == ValueUint64 && e.bits > math.MaxInt32) || x < math.MinInt32 || x > math.MaxInt32 {
			return nil, fmt.Errorf("gguf: array element %d (%s) overflows int32", i, e)
		}
		out[i] = int32(x)
	}
	return out, nil
}

// Bytes returns an ARRAY of UINT8 or INT8 as a new byte slice.
func (v Value) Bytes() ([]byte, error) {
	if v.typ == ValueArray {
		switch a := v.arr.(type) {
		case []uint8:
			return append([]byte(nil), a...), nil
		case []int8:
			out := make([]byte, len(a))
			for i, x := range a {
				out[i] = byte(x)
			}
			return out, nil
		}
	}
	return nil, v.mismatch("ARRAY of UINT8")
}

// maxShown is how many array elements String prints before abbreviating.
const maxShown = 8

// String formats the value for people: strings quoted, arrays abbreviated to
// their first few elements and a count of the rest.
func (v Value) String() string {
	switch v.typ {
	case ValueString:
		return Quote(v.str)
	case ValueBool:
		return strconv.FormatBool(v.bits != 0)
	case ValueFloat32:
		return strconv.FormatFloat(float64(math.Float32frombits(uint32(v.bits))), 'g', -1, 32)
	case ValueFloat64:
		return strconv.FormatFloat(math.Float64frombits(v.bits), 'g', -1, 64)
	case ValueArray:
		n := v.Len()
		var b strings.Builder
		b.WriteByte('[')
		for i := 0; i < n && i < maxShown; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v.index(i).String())
		}
		if n > maxShown {
			fmt.Fprintf(&b, ", … (%d more)", n-maxShown)
		}
		b.WriteByte(']')
		return b.String()
	}
	if v.typ.isSigned() {
		return strconv.FormatInt(int64(v.bits), 10)
	}
	if v.typ.isInt() {
		return strconv.FormatUint(v.bits, 10)
	}
	return "<invalid>"
}

// NewValue converts a Go value to a metadata Value. Accepted: string, bool,
// every sized integer kind (int and uint map to INT64 and UINT64), float32,
// float64, a Value (returned as is), and slices of any of these, nested to
// any depth (a slice of slices is an ARRAY of ARRAY; the inner slices may
// differ in length but must share the element type).
func NewValue(x any) (Value, error) {
	if v, ok := x.(Value); ok {
		if !v.typ.Valid() || (v.typ == ValueArray && !v.elem.Valid()) {
			return Value{}, fmt.Errorf("gguf: invalid Value of type %s", v.typ)
		}
		return v, nil
	}
	return valueOf(reflect.ValueOf(x))
}

func valueOf(r reflect.Value) (Value, error) {
	if !r.IsValid() {
		return Value{}, fmt.Errorf("gguf: cannot store nil as a metadata value")
	}
	if r.Type() == reflect.TypeOf(Value{}) {
		return NewValue(r.Interface().(Value))
	}
	switch r.Kind() {
	case reflect.String:
		return Value{typ: ValueString, str: r.String()}, nil
	case reflect.Bool:
		b := uint64(0)
		if r.Bool() {
			b = 1
		}
		return Value{typ: ValueBool, bits: b}, nil
	case reflect.Int8:
		return Value{typ: ValueInt8, bits: uint64(r.Int())}, nil
	case reflect.Int16:
		return Value{typ: ValueInt16, bits: uint64(r.Int())}, nil
	case reflect.Int32:
		return Value{typ: ValueInt32, bits: uint64(r.Int())}, nil
	case reflect.Int64, reflect.Int:
		return Value{typ: ValueInt64, bits: uint64(r.Int())}, nil
	case reflect.Uint8:
		return Value{typ: ValueUint8, bits: r.Uint()}, nil
	case reflect.Uint16:
		return Value{typ: ValueUint16, bits: r.Uint()}, nil
	case reflect.Uint32:
		return Value{typ: ValueUint32, bits: r.Uint()}, nil
	case reflect.Uint64, reflect.Uint:
		return Value{typ: ValueUint64, bits: r.Uint()}, nil
	case reflect.Float32:
		return Value{typ: ValueFloat32, bits: uint64(math.Float32bits(float32(r.Float())))}, nil
	case reflect.Float64:
		return Value{typ: ValueFloat64, bits: math.Float64bits(r.Float())}, nil
	case reflect.Slice, reflect.Array:
		return arrayOf(r)
	}
	return Value{}, fmt.Errorf("gguf: cannot store a %s as a metadata value", r.Type())
}

// arrayOf converts a Go slice or array to an ARRAY value.
func arrayOf(r reflect.Value) (Value, error) {
	n := r.Len()
	et := r.Type().Elem()
	// The element type comes from the Go type, so that empty slices are
	// typed too; a []Value takes the type of its first element.
	var proto Value
	var err error
	switch {
	case et == reflect.TypeOf(Value{}):
		if n == 0 {
			return Value{}, fmt.Errorf("gguf: cannot infer the element type of an empty []Value")
		}
		proto, err = NewValue(r.Index(0).Interface().(Value))
	case et.Kind() == reflect.Slice || et.Kind() == reflect.Array:
		proto = Value{typ: ValueArray}
	default:
		proto, err = valueOf(reflect.Zero(et))
	}
	if err != nil {
		return Value{}, err
	}
	vals := make([]Value, n)
	for i := range vals {
		if vals[i], err = valueOf(r.Index(i)); err != nil {
			return Value{}, err
		}
		if vals[i].typ != proto.typ {
			return Value{}, fmt.Errorf("gguf: array element %d is %s, want %s like the others", i, vals[i].typ, proto.typ)
		}
	}
	if proto.typ == ValueArray {
		// Nested arrays: each inner array carries its own element type.
		return Value{typ: ValueArray, elem: ValueArray, arr: vals}, nil
	}
	return arrayFromValues(proto.typ, vals), nil
}

// arrayFromValues builds a typed ARRAY from scalar Values of one type t.
func arrayFromValues(t ValueType, vals []Value) Value {
	out := Value{typ: ValueArray, elem: t}
	switch t {
	case ValueUint8:
		out.arr = mapValues(vals, func(v Value) uint8 { return uint8(v.bits) })
	case ValueInt8:
		out.arr = mapValues(vals, func(v Value) int8 { return int8(v.bits) })
	case ValueUint16:
		out.arr = mapValues(vals, func(v Value) uint16 { return uint16(v.bits) })
	case ValueInt16:
		out.arr = mapValues(vals, func(v Value) int16 { return int16(v.bits) })
	case ValueUint32:
		out.arr = mapValues(vals, func(v Value) uint32 { return uint32(v.bits) })
	case ValueInt32:
		out.arr = mapValues(vals, func(v Value) int32 { return int32(v.bits) })
	case ValueUint64:
		out.arr = mapValues(vals, func(v Value) uint64 { return v.bits })
	case ValueInt64:
		out.arr = mapValues(vals, func(v Value) int64 { return int64(v.bits) })
	case ValueFloat32:
		out.arr = mapValues(vals, func(v Value) float32 { return math.Float32frombits(uint32(v.bits)) })
	case ValueFloat64:
		out.arr = mapValues(vals, func(v Value) float64 { return math.Float64frombits(v.bits) })
	case ValueBool:
		out.arr = mapValues(vals, func(v Value) bool { return v.bits != 0 })
	case ValueString:
		out.arr = mapValues(vals, func(v Value) string { return v.str })
	default:
		out.arr = vals
	}
	return out
}

// mapValues converts each Value with conv.
func mapValues[T any](vals []Value, conv func(Value) T) []T {
	out := make([]T, len(vals))
	for i, v := range vals {
		out[i] = conv(v)
	}
	return out
}

// Equal reports whether two values have the same type and contents (floats
// compared by bits, so NaNs with equal payloads are equal).
func (v Value) Equal(w Value) bool {
	if v.typ != w.typ {
		return false
	}
	switch v.typ {
	case ValueString:
		return v.str == w.str
	case ValueArray:
		if v.elem != w.elem || v.Len() != w.Len() {
			return false
		}
		for i, n := 0, v.Len(); i < n; i++ {
			if !v.index(i).Equal(w.index(i)) {
				return false
			}
		}
		return true
	case ValueBool:
		return (v.bits != 0) == (w.bits != 0)
	}
	return v.bits == w.bits
}
