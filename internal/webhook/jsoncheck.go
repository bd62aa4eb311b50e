package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds object/array nesting. GitHub payloads nest about eight
// levels deep; the bound keeps the recursive checker's stack small.
const maxDepth = 64

// smallObject is the key count up to which duplicate keys are found by
// pairwise comparison; larger objects switch to a hash table so a hostile
// object with millions of keys stays linear.
const smallObject = 16

var errJSON = errors.New("malformed json")

// checkJSON validates b strictly before anything decodes it: RFC 8259
// syntax, a single top-level object, valid UTF-8 in strings, nesting at most
// maxDepth, and no duplicate keys within an object. Keys are compared the way
// encoding/json matches struct fields (escapes decoded, case folded), so
// {"ref":..,"Ref":..} is refused: a signed payload must not mean one thing to
// promobot and another to any other reader of the same bytes.
func checkJSON(b []byte) error {
	c := getChecker(b)
	defer putChecker(c)
	return c.check(nil)
}

// field is one node of a capture tree: an object member a classifier reads.
// The checker records where its value lies while it validates the payload,
// so the payload is scanned once and never decoded as a whole.
type field struct {
	// key is the member name in canonicalKey form (ASCII upper-cased), so
	// a member matches exactly when encoding/json would match it to a
	// struct field of that name (duplicates under folding are refused).
	key string
	// sub, when set, lists the members captured inside the value, which
	// must then be an object or null (encoding/json's rule for a struct
	// pointer field).
	sub []field
	// slot is where the value's span is recorded when sub is nil.
	slot int
	// array requires the recorded value to be an array or null.
	array bool
}

// maxSlots bounds the slots of one capture tree.
const maxSlots = 24

// span is the byte range of one captured value; end 0 means absent.
type span struct{ start, end int }

type jsonChecker struct {
	b []byte
	i int
	// levels[d] holds the canonical keys of the object open at depth d;
	// reused across objects (and, through checkerPool, across requests).
	levels  []keySet
	scratch []byte
	spans   [maxSlots]span
	// typeErr names a captured member whose value has the wrong kind.
	typeErr string
}

var checkerPool = sync.Pool{New: func() any { return new(jsonChecker) }}

func getChecker(b []byte) *jsonChecker {
	c := checkerPool.Get().(*jsonChecker)
	c.b, c.i, c.spans, c.typeErr = b, 0, [maxSlots]span{}, ""
	return c
}

// putChecker keeps the checker's buffers unless a hostile payload made them
// large.
func putChecker(c *jsonChecker) {
	c.b = nil
	if len(c.levels) > 16 || cap(c.scratch) > 4<<10 {
		return
	}
	for i := range c.levels {
		if cap(c.levels[i].arena) > 64<<10 || cap(c.levels[i].table) > 4<<10 {
			return
		}
	}
	checkerPool.Put(c)
}

// check validates the whole payload and records the spans of fields.
func (c *jsonChecker) check(fields []field) error {
	c.ws()
	if c.i >= len(c.b) || c.b[c.i] != '{' {
		return fmt.Errorf("%w: payload is not a json object", errJSON)
	}
	if err := c.object(1, fields); err != nil {
		return err
	}
	c.ws()
	if c.i != len(c.b) {
		return c.fail("data after the top-level value")
	}
	return nil
}

// keySet is a set of canonical keys: a byte arena with end offsets, plus an
// open-addressing table of indexes once the object is large. Nothing is
// allocated per object once the buffers have grown.
type keySet struct {
	arena []byte
	ends  []int32
	table []int32 // slot holds index+1; empty until len(ends) > smallObject
}

var keySeed = maphash.MakeSeed()

func (k *keySet) reset() {
	k.arena = k.arena[:0]
	k.ends = k.ends[:0]
	k.table = k.table[:0]
}

func (k *keySet) key(i int) []byte {
	start := int32(0)
	if i > 0 {
		start = k.ends[i-1]
	}
	return k.arena[start:k.ends[i]]
}

// add records key and reports whether it was already present.
func (k *keySet) add(key []byte) (dup bool) {
	if len(k.table) > 0 {
		mask := uint64(len(k.table) - 1)
		for h := maphash.Bytes(keySeed, key) & mask; ; h = (h + 1) & mask {
			e := k.table[h]
			if e == 0 {
				k.arena = append(k.arena, key...)
				k.ends = append(k.ends, int32(len(k.arena)))
				k.table[h] = int32(len(k.ends))
				if 2*len(k.ends) > len(k.table) {
					k.rehash(2 * len(k.table))
				}
				return false
			}
			if string(k.key(int(e-1))) == string(key) {
				return true
			}
		}
	}
	start := int32(0)
	for _, end := range k.ends {
		if int(end-start) == len(key) && string(k.arena[start:end]) == string(key) {
			return true
		}
		start = end
	}
	k.arena = append(k.arena, key...)
	k.ends = append(k.ends, int32(len(k.arena)))
	if len(k.ends) > smallObject {
		k.rehash(8 * smallObject)
	}
	return false
}

// rehash rebuilds the table with size slots (a power of two).
func (k *keySet) rehash(size int) {
	if cap(k.table) >= size {
		k.table = k.table[:size]
		clear(k.table)
	} else {
		k.table = make([]int32, size)
	}
	mask := uint64(size - 1)
	for i := range k.ends {
		h := maphash.Bytes(keySeed, k.key(i)) & mask
		for k.table[h] != 0 {
			h = (h + 1) & mask
		}
		k.table[h] = int32(i + 1)
	}
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

// value checks one value; sub, when set, is the capture tree of an object
// member whose value must be an object or null.
func (c *jsonChecker) value(depth int, sub []field) error {
	if c.i >= len(c.b) {
		return c.fail("unexpected end")
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		return c.object(depth+1, sub)
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

func (c *jsonChecker) object(depth int, fields []field) error {
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
		var f *field
		for j := range fields {
			if fields[j].key == string(canon) {
				f = &fields[j]
				break
			}
		}
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			return c.fail("expected ':'")
		}
		c.i++
		c.ws()
		switch {
		case f == nil:
			err = c.value(depth, nil)
		case f.sub != nil:
			if c.i < len(c.b) && c.b[c.i] != '{' && c.b[c.i] != 'n' && c.typeErr == "" {
				c.typeErr = strings.ToLower(f.key) + ": not an object"
			}
			err = c.value(depth, f.sub)
		default:
			vs := c.i
			if f.array && c.i < len(c.b) && c.b[c.i] != '[' && c.b[c.i] != 'n' && c.typeErr == "" {
				c.typeErr = strings.ToLower(f.key) + ": not an array"
			}
			err = c.value(depth, nil)
			c.spans[f.slot] = span{vs, c.i}
		}
		if err != nil {
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
		if err := c.value(depth, nil); err != nil {
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

// plain marks the bytes a string may hold without a closer look: printable
// ASCII other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for ch := 0x20; ch < utf8.RuneSelf; ch++ {
		t[ch] = ch != '"' && ch != '\\'
	}
	return t
}()

// str scans a string starting at its opening quote and reports whether it
// contained an escape.
func (c *jsonChecker) str() (escaped bool, err error) {
	c.i++ // opening quote
	b := c.b
	for c.i < len(b) {
		for c.i < len(b) && plain[b[c.i]] {
			c.i++
		}
		if c.i >= len(b) {
			break
		}
		ch := b[c.i]
		switch {
		case ch == '"':
			c.i++
			return escaped, nil
		case ch == '\\':
			escaped = true
			if c.i+1 >= len(b) {
				return escaped, c.fail("unterminated escape")
			}
			switch b[c.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.i += 2
			case 'u':
				if c.i+6 > len(b) || !isHex4(b[c.i+2:c.i+6]) {
					return escaped, c.fail("invalid \\u escape")
				}
				c.i += 6
			default:
				return escaped, c.fail("invalid escape")
			}
		case ch < 0x20:
			return escaped, c.fail("control character in string")
		default:
			r, size := utf8.DecodeRune(b[c.i:])
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
