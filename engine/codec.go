package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The tuple codec turns a list of primitive values into bytes whose
// lexicographic order is the values' order, column by column. Keys of user
// rows (primary keys) and row values both use it, so there is one codec.
//
// Supported values: nil, int64, uint64, float64, string and []byte. Integers
// of both signs share one order (-1 < 0 < 1 < MaxUint64); strings and byte
// slices share one (they decode as []byte).
const (
	tagNull   byte = 0x01
	tagNegInt byte = 0x02
	tagInt    byte = 0x03
	tagFloat  byte = 0x04
	tagBytes  byte = 0x05
)

// ErrCodec is returned for values the codec does not support and for bytes it
// cannot decode.
var ErrCodec = errors.New("tuple codec")

// AppendTuple appends the order-preserving encoding of vals to dst.
func AppendTuple(dst []byte, vals ...any) ([]byte, error) {
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			dst = append(dst, tagNull)
		case int64:
			if x < 0 {
				dst = append(dst, tagNegInt)
			} else {
				dst = append(dst, tagInt)
			}
			dst = binary.BigEndian.AppendUint64(dst, uint64(x))
		case uint64:
			dst = append(dst, tagInt)
			dst = binary.BigEndian.AppendUint64(dst, x)
		case float64:
			bits := math.Float64bits(x)
			if x < 0 || (x == 0 && math.Signbit(x)) {
				bits = ^bits
			} else {
				bits |= 1 << 63
			}
			dst = append(dst, tagFloat)
			dst = binary.BigEndian.AppendUint64(dst, bits)
		case string:
			dst = appendEscaped(append(dst, tagBytes), []byte(x))
		case []byte:
			dst = appendEscaped(append(dst, tagBytes), x)
		default:
			return nil, fmt.Errorf("%w: unsupported value of type %T", ErrCodec, v)
		}
	}
	return dst, nil
}

// appendEscaped writes b with 0x00 escaped as 0x00 0xff and terminated by
// 0x00 0x01, so that a prefix sorts before its extensions.
func appendEscaped(dst, b []byte) []byte {
	for _, c := range b {
		if c == 0 {
			dst = append(dst, 0, 0xff)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, 0, 1)
}

// DecodeTuple decodes every value in b. Integers decode as int64 when they fit
// and as uint64 otherwise; strings decode as []byte.
func DecodeTuple(b []byte) ([]any, error) {
	var out []any
	for len(b) > 0 {
		v, rest, err := decodeOne(b)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

func decodeOne(b []byte) (any, []byte, error) {
	tag, b := b[0], b[1:]
	switch tag {
	case tagNull:
		return nil, b, nil
	case tagNegInt, tagInt, tagFloat:
		if len(b) < 8 {
			return nil, nil, fmt.Errorf("%w: short number", ErrCodec)
		}
		u := binary.BigEndian.Uint64(b)
		switch {
		case tag == tagNegInt:
			return int64(u), b[8:], nil
		case tag == tagInt && u <= math.MaxInt64:
			return int64(u), b[8:], nil
		case tag == tagInt:
			return u, b[8:], nil
		}
		if u&(1<<63) != 0 {
			u &^= 1 << 63
		} else {
			u = ^u
		}
		return math.Float64frombits(u), b[8:], nil
	case tagBytes:
		var out []byte
		for i := 0; i < len(b); i++ {
			if b[i] != 0 {
				out = append(out, b[i])
				continue
			}
			if i+1 >= len(b) {
				return nil, nil, fmt.Errorf("%w: unterminated bytes", ErrCodec)
			}
			switch b[i+1] {
			case 0xff:
				out = append(out, 0)
				i++
			case 1:
				if out == nil {
					out = []byte{}
				}
				return out, b[i+2:], nil
			default:
				return nil, nil, fmt.Errorf("%w: bad escape", ErrCodec)
			}
		}
		return nil, nil, fmt.Errorf("%w: unterminated bytes", ErrCodec)
	}
	return nil, nil, fmt.Errorf("%w: bad tag 0x%02x", ErrCodec, tag)
}
