package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Why not github.ParseWebHook: it decodes the whole delivery into
// go-github's event structs (hundreds of fields, most of them pointers),
// which took ~40% of the handler's CPU on a 7 KB push, on top of a second
// full scan by encoding/json's validity check. Classification reads about
// fifteen members, so the strict checker, which must walk every byte anyway,
// records where those members lie (a capture tree per event) and only they
// are decoded, with encoding/json's own rules: a string member must be a
// string or null, a number must fit the Go type, an object member must be an
// object or null. Lists read only for some pushes (commits, changed paths)
// are decoded when needed, with encoding/json into small structs. The HMAC
// is still go-github's ValidateSignature.

// spec is the capture tree of one event type.
type spec struct {
	fields []field
	names  [maxSlots]string // dotted member path of each slot, for errors
}

// newSpec canonicalises the keys of fields (lower-case ASCII as GitHub
// spells them) and indexes the slot names.
func newSpec(fields []field) *spec {
	s := &spec{}
	var walk func(fs []field, prefix string) []field
	walk = func(fs []field, prefix string) []field {
		out := make([]field, len(fs))
		for i, f := range fs {
			out[i] = f
			out[i].key = strings.ToUpper(f.key)
			if f.sub != nil {
				out[i].sub = walk(f.sub, prefix+f.key+".")
			} else {
				s.names[f.slot] = prefix + f.key
			}
		}
		return out
	}
	s.fields = walk(fields, "")
	return s
}

// captured is a payload that passed the strict check, with the spans of
// its captured members. The getters decode on demand; the first type error
// is kept and reported by err.
type captured struct {
	b       []byte
	sp      *spec
	spans   [maxSlots]span
	typeErr string // a member whose value had the wrong kind
}

// capture checks b strictly (see checkJSON) and records sp's members. An
// error is a syntax error; type errors are reported by err, after the rules
// were checked, as before.
func capture(sp *spec, b []byte) (*captured, error) {
	c := getChecker(b)
	defer putChecker(c)
	if err := c.check(sp.fields); err != nil {
		return nil, err
	}
	return &captured{b: b, sp: sp, spans: c.spans, typeErr: c.typeErr}, nil
}

func (p *captured) err() error {
	if p.typeErr == "" {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrMalformed, p.typeErr)
}

func (p *captured) fail(slot int, want string) {
	if p.typeErr == "" {
		p.typeErr = p.sp.names[slot] + ": not " + want
	}
}

// value is the raw JSON of slot; nil when absent.
func (p *captured) value(slot int) []byte {
	s := p.spans[slot]
	if s.end == 0 {
		return nil
	}
	return p.b[s.start:s.end]
}

// str decodes a string member; absent or null is "".
func (p *captured) str(slot int) string {
	v := p.value(slot)
	switch {
	case len(v) == 0 || v[0] == 'n':
		return ""
	case v[0] != '"':
		p.fail(slot, "a string")
		return ""
	case bytes.IndexByte(v, '\\') < 0:
		return string(v[1 : len(v)-1])
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		p.fail(slot, "a string")
	}
	return s
}

// boolean decodes a boolean member; absent or null is false.
func (p *captured) boolean(slot int) bool {
	switch v := p.value(slot); string(v) {
	case "", "null", "false":
		return false
	case "true":
		return true
	}
	p.fail(slot, "a boolean")
	return false
}

// int64 decodes an integer member as encoding/json does for an int64
// field: no fraction, no exponent, no overflow; absent or null is 0.
func (p *captured) int64(slot int) int64 {
	v := p.value(slot)
	if len(v) == 0 || v[0] == 'n' {
		return 0
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		p.fail(slot, "an int64")
		return 0
	}
	return n
}

// decode decodes a member with encoding/json into dst; absent leaves dst
// unchanged.
func (p *captured) decode(slot int, dst any) {
	v := p.value(slot)
	if len(v) == 0 {
		return
	}
	if err := json.Unmarshal(v, dst); err != nil {
		p.fail(slot, "of the expected shape")
	}
}
