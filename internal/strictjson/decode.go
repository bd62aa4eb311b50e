package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// ErrType wraps the error for a requested member whose value has the wrong
// type for its field (a number where a string belongs, an array where an
// object belongs...). The document itself was valid.
var ErrType = errors.New("json member of the wrong type")

// Decoder decodes documents into a struct type T while checking them. T's
// fields say which members are read, with encoding/json's tags
// (`json:"head_branch"`); every field must be tagged, exported and one of:
//
//   - string: a JSON string or null;
//   - bool: true, false or null;
//   - int64: an integer or null, as encoding/json reads it (no fraction, no
//     exponent, no overflow);
//   - a struct (not a pointer to one) of such fields: a JSON object or null;
//   - Array: a JSON array or null, kept undecoded until asked for.
//
// A member absent from the document, or null, leaves its field at its zero
// value; members T does not name are checked but not decoded. A member is
// matched to a field as encoding/json would match it, ignoring case; the
// duplicate-key rule means at most one member can match.
//
// A Decoder is built once (NewDecoder works out T's fields, and panics if T
// has a field of another kind: that is a programming error, found at
// startup) and is safe for concurrent use.
type Decoder[T any] struct {
	members []member
}

// member is one requested object member: the struct field it fills and,
// for a nested struct, the members read inside it.
type member struct {
	key   string // the tag name in canonicalKey form
	path  string // dotted tag names from the top, for error messages
	index int    // of the field in its struct
	kind  kind
	sub   []member // kind object only
}

type kind uint8

const (
	kindString kind = iota
	kindBool
	kindInt64
	kindObject
	kindArray
)

// want names what a kind of member must hold, for error messages.
func (k kind) want() string {
	return [...]string{"a string", "a boolean", "an int64", "an object", "an array"}[k]
}

var arrayType = reflect.TypeFor[Array]()

// NewDecoder returns the Decoder for T, a struct type.
func NewDecoder[T any]() *Decoder[T] {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("strictjson: %v is not a struct", t))
	}
	return &Decoder[T]{members: members(t, "")}
}

func members(t reflect.Type, prefix string) []member {
	var out []member
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() || f.Anonymous {
			panic(fmt.Sprintf("strictjson: %v.%s: every field must be exported, not embedded, and named by a json tag", t, f.Name))
		}
		m := member{path: prefix + name, index: i}
		quoted, _ := json.Marshal(name)
		canon, err := canonicalKey(nil, quoted, true)
		if err != nil {
			panic(fmt.Sprintf("strictjson: %v.%s: %v", t, f.Name, err))
		}
		m.key = string(canon)
		switch {
		case f.Type == arrayType:
			m.kind = kindArray
		case f.Type.Kind() == reflect.String:
			m.kind = kindString
		case f.Type.Kind() == reflect.Bool:
			m.kind = kindBool
		case f.Type.Kind() == reflect.Int64:
			m.kind = kindInt64
		case f.Type.Kind() == reflect.Struct:
			m.kind = kindObject
			m.sub = members(f.Type, m.path+".")
		default:
			panic(fmt.Sprintf("strictjson: %v.%s: unsupported type %v", t, f.Name, f.Type))
		}
		for _, o := range out {
			if o.key == m.key {
				panic(fmt.Sprintf("strictjson: %v: two fields read member %q", t, name))
			}
		}
		out = append(out, m)
	}
	return out
}

// Decode checks b as Check does and decodes the members T names into v.
// An error wraps ErrSyntax when b is refused, otherwise ErrType when a
// member's value does not fit its field; v is then only partly filled.
// Strings are copied out of b (all of one document's into one allocation,
// so any of them keeps that allocation alive), but an Array refers to b: b
// must not change while an Array decoded from it is in use.
func (d *Decoder[T]) Decode(b []byte, v *T) error {
	c := getChecker(b)
	defer putChecker(c)
	err := c.check(d.members, reflect.ValueOf(v).Elem())
	c.setStrings()
	if err != nil {
		return err
	}
	if c.bad != nil {
		return fmt.Errorf("%w: %s: not %s", ErrType, c.bad.path, c.bad.kind.want())
	}
	return nil
}

// member checks the value of a requested member and decodes it into dst.
// After the first type error nothing more is decoded, only checked.
func (c *checker) member(depth int, m *member, dst reflect.Value) error {
	if c.bad != nil || c.i >= len(c.b) {
		return c.value(depth)
	}
	if m.kind == kindObject {
		switch c.b[c.i] {
		case '{':
			return c.object(depth+1, m.sub, dst)
		case 'n':
		default:
			c.bad = m
		}
		return c.value(depth)
	}
	start := c.i
	if err := c.value(depth); err != nil {
		return err
	}
	if raw := c.b[start:c.i]; raw[0] != 'n' && !c.decodeValue(m, raw, dst) {
		c.bad = m
	}
	return nil
}

// setStrings gives the string fields decoded so far their values: one
// string holds them all, so a document costs one allocation for its
// strings however many are read.
func (c *checker) setStrings() {
	if len(c.fields) == 0 {
		return
	}
	all := string(c.strs)
	start := 0
	for _, f := range c.fields {
		f.dst.SetString(all[start:f.end])
		start = f.end
	}
}

// decodeValue stores raw, a valid non-null JSON value, in dst and reports
// whether its type fits. The rules are encoding/json's for the same field.
// A string is stored when the document has been read (setStrings).
func (c *checker) decodeValue(m *member, raw []byte, dst reflect.Value) bool {
	switch m.kind {
	case kindString:
		if raw[0] != '"' {
			return false
		}
		if bytes.IndexByte(raw, '\\') < 0 {
			c.strs = append(c.strs, raw[1:len(raw)-1]...)
		} else {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return false
			}
			c.strs = append(c.strs, s...)
		}
		c.fields = append(c.fields, stringField{dst: dst, end: len(c.strs)})
	case kindBool:
		switch string(raw) {
		case "true":
			dst.SetBool(true)
		case "false":
			dst.SetBool(false)
		default:
			return false
		}
	case kindInt64:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return false
		}
		dst.SetInt(n)
	case kindArray:
		if raw[0] != '[' {
			return false
		}
		// Through a pointer: setting a struct through reflect would box it.
		a := dst.Addr().Interface().(*Array)
		a.raw, a.path = raw, m.path
	}
	return true
}

// Array is the undecoded text of an array member, for lists that only some
// readers need (decoding a push's 2000 commits is wasted work when the
// push is a tag's). The document check has covered it; Decode applies the
// type rules. It refers to the bytes it was decoded from.
type Array struct {
	raw  []byte // nil when the member was absent or null
	path string // of the member, for errors
}

// Decode decodes the array with encoding/json into v, typically a pointer
// to a slice; an absent or null member leaves v unchanged.
func (a Array) Decode(v any) error {
	if a.raw == nil {
		return nil
	}
	if err := json.Unmarshal(a.raw, v); err != nil {
		return fmt.Errorf("%w: %s: not of the expected shape: %w", ErrType, a.path, err)
	}
	return nil
}
