package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds object/array nesting. GitHub payloads nest about eight
// levels deep; the bound keeps the recursive checker's stack small.
const maxDepth = 64

// smallObject is the key count up to which duplicate keys are found by
// pairwise comparison; larger objects switch to a map so a hostile object
// with millions of keys stays linear.
const smallObject = 32

var errJSON = errors.New("malformed json")

// checkJSON validates b strictly before anything decodes it: RFC 8259
// syntax, a single top-level object, valid UTF-8 in strings, nesting at most
// maxDepth, and no duplicate keys within an object. Keys are compared the way
// encoding/json matches struct fields (escapes decoded, case folded), so
// {"ref":..,"Ref":..} is refused: a signed payload must not mean one thing to
// promobot and another to any other reader of the same bytes.
func checkJSON(b []byte) error {
	c := jsonChecker{b: b}
	c.ws()
	if c.i >= len(b) || b[c.i] != '{' {
		return fmt.Errorf("%w: payload is not a json object", errJSON)
	}
	if err := c.value(0); err != nil {
		return err
	}
	c.ws()
	if c.i != len(b) {
		return c.fail("data after the top-level value")
	}
	return nil
}

type jsonChecker struct {
	b []byte
	i int
	// levels[d] holds the canonical keys of the object open at depth d;
	// reused across objects to avoid allocating per object.
	levels  []keySet
	scratch []byte
}

type keySet struct {
	arena []byte
	ends  []int
	big   map[string]struct{}
}

func (k *keySet) reset() {
	k.arena = k.arena[:0]
	k.ends = k.ends[:0]
	k.big = nil
}

// add records key and reports whether it was already present.
func (k *keySet) add(key []byte) (dup bool) {
	if k.big != nil {
		if _, ok := k.big[string(key)]; ok {
			return true
		}
		k.big[string(key)] = struct{}{}
		return false
	}
	start := 0
	for _, end := range k.ends {
		if end-start == len(key) && string(k.arena[start:end]) == string(key) {
			return true
		}
		start = end
	}
	k.arena = append(k.arena, key...)
	k.ends = append(k.ends, len(k.arena))
	if len(k.ends) > smallObject {
		k.big = make(map[string]struct{}, 2*smallObject)
		start = 0
		for _, end := range k.ends {
			k.big[string(k.arena[start:end])] = struct{}{}
			start = end
		}
	}
	return false
}

func (c *jsonChecker) fail(msg string) error {
	return fmt.Errorf("%w: %s at offset %d", errJSON, msg, c.i)
}

func (c *jsonChecker) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *jsonChecker) value(depth int) error {
	if c.i >= len(c.b) {
		return c.fail("unexpected end")
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		return c.object(depth + 1)
	case ch == '[':
		return c.array(depth + 1)
	case ch == '"':
		_, err := c.str()
		return err
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.number()
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	default:
		return c.fail("unexpected character")
	}
}

func (c *jsonChecker) literal(lit string) error {
	if len(c.b)-c.i < len(lit) || string(c.b[c.i:c.i+len(lit)]) != lit {
		return c.fail("invalid literal")
	}
	c.i += len(lit)
	return nil
}

func (c *jsonChecker) object(depth int) error {
	if depth > maxDepth {
		return c.fail("nesting too deep")
	}
	for len(c.levels) < depth {
		c.levels = append(c.levels, keySet{})
	}
	keys := &c.levels[depth-1]
	keys.reset()
	c.i++ // {
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == '}' {
		c.i++
		return nil
	}
	for {
		if c.i >= len(c.b) || c.b[c.i] != '"' {
			return c.fail("expected object key")
		}
		start := c.i
		escaped, err := c.str()
		if err != nil {
			return err
		}
		canon, err := canonicalKey(c.scratch[:0], c.b[start:c.i], escaped)
		if err != nil {
			return err
		}
		c.scratch = canon
		// The recursive call below may reuse deeper levels, never this one.
		keys = &c.levels[depth-1]
		if keys.add(canon) {
			return c.fail("duplicate object key")
		}
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			return c.fail("expected ':'")
		}
		c.i++
		c.ws()
		if err := c.value(depth); err != nil {
			return err
		}
		c.ws()
		if c.i >= len(c.b) {
			return c.fail("unexpected end in object")
		}
		switch c.b[c.i] {
		case ',':
			c.i++
			c.ws()
		case '}':
			c.i++
			return nil
		default:
			return c.fail("expected ',' or '}'")
		}
	}
}

func (c *jsonChecker) array(depth int) error {
	if depth > maxDepth {
		return c.fail("nesting too deep")
	}
	c.i++ // [
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		return nil
	}
	for {
		if err := c.value(depth); err != nil {
			return err
		}
		c.ws()
		if c.i >= len(c.b) {
			return c.fail("unexpected end in array")
		}
		switch c.b[c.i] {
		case ',':
			c.i++
			c.ws()
		case ']':
			c.i++
			return nil
		default:
			return c.fail("expected ',' or ']'")
		}
	}
}

// str scans a string starting at its opening quote and reports whether it
// contained an escape.
func (c *jsonChecker) str() (escaped bool, err error) {
	c.i++ // opening quote
	for c.i < len(c.b) {
		ch := c.b[c.i]
		switch {
		case ch == '"':
			c.i++
			return escaped, nil
		case ch == '\\':
			escaped = true
			if c.i+1 >= len(c.b) {
				return escaped, c.fail("unterminated escape")
			}
			switch c.b[c.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.i += 2
			case 'u':
				if c.i+6 > len(c.b) || !isHex4(c.b[c.i+2:c.i+6]) {
					return escaped, c.fail("invalid \\u escape")
				}
				c.i += 6
			default:
				return escaped, c.fail("invalid escape")
			}
		case ch < 0x20:
			return escaped, c.fail("control character in string")
		case ch < utf8.RuneSelf:
			c.i++
		default:
			r, size := utf8.DecodeRune(c.b[c.i:])
			if r == utf8.RuneError && size <= 1 {
				return escaped, c.fail("invalid utf-8")
			}
			c.i += size
		}
	}
	return escaped, c.fail("unterminated string")
}

func isHex4(b []byte) bool {
	for _, ch := range b {
		if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f' || ch >= 'A' && ch <= 'F') {
			return false
		}
	}
	return true
}

func (c *jsonChecker) number() error {
	if c.b[c.i] == '-' {
		c.i++
	}
	switch {
	case c.i < len(c.b) && c.b[c.i] == '0':
		c.i++
	case c.i < len(c.b) && c.b[c.i] >= '1' && c.b[c.i] <= '9':
		c.digits()
	default:
		return c.fail("invalid number")
	}
	if c.i < len(c.b) && c.b[c.i] == '.' {
		c.i++
		if c.digits() == 0 {
			return c.fail("invalid number fraction")
		}
	}
	if c.i < len(c.b) && (c.b[c.i] == 'e' || c.b[c.i] == 'E') {
		c.i++
		if c.i < len(c.b) && (c.b[c.i] == '+' || c.b[c.i] == '-') {
			c.i++
		}
		if c.digits() == 0 {
			return c.fail("invalid number exponent")
		}
	}
	return nil
}

func (c *jsonChecker) digits() int {
	n := 0
	for c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
		c.i++
		n++
	}
	return n
}

// canonicalKey maps a quoted key to the form under which encoding/json
// would consider two keys the same field: escapes decoded, every rune
// replaced by the smallest rune of its case-folding orbit (so "s", "S" and
// "ſ" all become "S", and the Kelvin sign becomes "K").
func canonicalKey(dst, quoted []byte, escaped bool) ([]byte, error) {
	raw := quoted[1 : len(quoted)-1]
	if escaped {
		var s string
		if err := json.Unmarshal(quoted, &s); err != nil {
			return nil, fmt.Errorf("%w: key: %w", errJSON, err)
		}
		raw = []byte(s)
	}
	ascii := true
	for _, ch := range raw {
		if ch >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	out := dst
	if ascii {
		for _, ch := range raw {
			if ch >= 'a' && ch <= 'z' {
				ch -= 'a' - 'A'
			}
			out = append(out, ch)
		}
		return out, nil
	}
	for _, r := range string(raw) {
		out = utf8.AppendRune(out, foldMin(r))
	}
	return out, nil
}

func foldMin(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	return m
}
