// Package strictjson reads JSON the way a signed webhook needs it read: it
// checks every byte of a document in one pass and, during that same pass,
// decodes the few members the caller asked for into a struct.
//
// Why not encoding/json alone: it accepts an object that names the same key
// twice and keeps the last value, and it matches keys to struct fields
// without regard to case. A hostile sender could then sign a payload that
// shows one value to promobot and another to any other program reading the
// same bytes ({"ref": "a", "REF": "b"}). This package refuses such documents
// outright. It is also faster for the webhook's purpose: a GitHub delivery is
// several kilobytes of which a classifier reads about fifteen members, and
// decoding the whole of it into go-github's structs cost far more than
// checking it.
//
// What Check and Decoder.Decode guarantee for a document they accept:
//
//   - it is a single JSON object (RFC 8259 syntax, nothing after it but
//     white space; a byte order mark is refused);
//   - every string is valid UTF-8 with no raw control characters, and every
//     escape is well formed;
//   - objects and arrays nest at most MaxDepth levels, so no input can make
//     the recursive scan use a deep stack;
//   - no object holds two keys that encoding/json would map to the same
//     struct field: keys are compared after decoding escapes and folding
//     case the way encoding/json does, so "ref", "Ref" and "r\u0065f" clash;
//   - the time taken is linear in the size of the document, even for an
//     object with millions of keys.
//
// The document's size is not bounded here: the caller caps what it reads.
// Anything Check accepts, encoding/json accepts too.
package strictjson

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MaxDepth bounds how deeply objects and arrays may nest. GitHub's payloads
// nest about eight levels; the bound keeps the recursive scanner's stack
// small whatever the input.
const MaxDepth = 64

// smallObject is the key count up to which duplicate keys are found by
// comparing each new key with the earlier ones; larger objects switch to a
// hash table so that an object with millions of keys stays linear.
const smallObject = 16

// firstTable is the hash table size for an object that outgrows
// smallObject: room for 128 keys (GitHub's largest objects, repositories,
// have about 90) before the table must grow.
const firstTable = 256

// ErrSyntax wraps every refusal of the document itself: a syntax error,
// invalid UTF-8, a duplicate key, nesting beyond MaxDepth.
var ErrSyntax = errors.New("malformed json")

// Check validates b without decoding anything.
func Check(b []byte) error {
	c := getChecker(b)
	defer putChecker(c)
	return c.check(nil, reflect.Value{})
}

// checker scans one document. It is pooled: its key sets and scratch
// buffer are reused across documents so that a typical scan allocates
// nothing of its own.
type checker struct {
	b []byte
	i int
	// levels[d] holds the canonical keys of the object open at depth d+1.
	levels  []keySet
	scratch []byte
	// bad is the first requested member whose value had the wrong type;
	// the scan goes on, since a syntax error later on takes precedence.
	bad *member
	// strs holds the decoded string members end to end, made into one
	// string once the document is read; fields[i] gets strs[ends[i-1]:ends[i]].
	strs   []byte
	fields []stringField
}

// stringField is a string field waiting for its value, the bytes of strs
// up to end.
type stringField struct {
	dst reflect.Value
	end int
}

var checkerPool = sync.Pool{New: func() any { return new(checker) }}

func getChecker(b []byte) *checker {
	c := checkerPool.Get().(*checker)
	c.b, c.i, c.bad = b, 0, nil
	return c
}

// putChecker keeps the checker for reuse unless a hostile document made
// its buffers large.
func putChecker(c *checker) {
	c.b, c.bad = nil, nil
	clear(c.fields) // they point into the caller's value
	c.strs, c.fields = c.strs[:0], c.fields[:0]
	if len(c.levels) > 16 || cap(c.scratch) > 4<<10 || cap(c.strs) > 64<<10 || cap(c.fields) > 1024 {
		return
	}
	for i := range c.levels {
		if cap(c.levels[i].arena) > 64<<10 || cap(c.levels[i].table) > 4<<10 {
			return
		}
	}
	checkerPool.Put(c)
}

// check validates the whole document and decodes members into dst.
func (c *checker) check(members []member, dst reflect.Value) error {
	c.ws()
	if c.i >= len(c.b) || c.b[c.i] != '{' {
		return fmt.Errorf("%w: not a json object", ErrSyntax)
	}
	if err := c.object(1, members, dst); err != nil {
		return err
	}
	c.ws()
	if c.i != len(c.b) {
		return c.fail("data after the top-level value")
	}
	return nil
}

func (c *checker) fail(msg string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrSyntax, msg, c.i)
}

func (c *checker) ws() {
	// Deliveries are mostly compact: most calls find no white space.
	for c.i < len(c.b) && c.b[c.i] <= ' ' {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// value checks one value that nothing decodes.
func (c *checker) value(depth int) error {
	if c.i >= len(c.b) {
		return c.fail("unexpected end")
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		return c.object(depth+1, nil, reflect.Value{})
	case ch == '[':
		return c.array(depth + 1)
	case ch == '"':
		_, _, err := c.str()
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

func (c *checker) literal(lit string) error {
	if len(c.b)-c.i < len(lit) || string(c.b[c.i:c.i+len(lit)]) != lit {
		return c.fail("invalid literal")
	}
	c.i += len(lit)
	return nil
}

// object checks an object at nesting depth and decodes the values of
// members into the fields of dst, a struct (unused when members is nil).
func (c *checker) object(depth int, members []member, dst reflect.Value) error {
	if depth > MaxDepth {
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
		escaped, nonASCII, err := c.str()
		if err != nil {
			return err
		}
		// The recursive calls below may grow c.levels (moving it) and reuse
		// deeper levels, never this one.
		keys = &c.levels[depth-1]
		var canon []byte
		var dup bool
		if !escaped && !nonASCII {
			// The common case: the canonical form is the key upper-cased,
			// written straight into the key set.
			canon, dup = keys.addUpper(c.b[start+1 : c.i-1])
		} else {
			canon, err = canonicalKey(c.scratch[:0], c.b[start:c.i], escaped)
			if err != nil {
				return err
			}
			c.scratch = canon
			dup = keys.add(canon)
		}
		if dup {
			return c.fail("duplicate object key")
		}
		var m *member
		for j := range members {
			if members[j].key == string(canon) {
				m = &members[j]
				break
			}
		}
		// Compact documents have no white space: look for the expected
		// byte first.
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			c.ws()
			if c.i >= len(c.b) || c.b[c.i] != ':' {
				return c.fail("expected ':'")
			}
		}
		c.i++
		c.ws()
		if m == nil {
			err = c.value(depth)
		} else {
			err = c.member(depth, m, dst.Field(m.index))
		}
		if err != nil {
			return err
		}
		if c.i < len(c.b) && c.b[c.i] <= ' ' {
			c.ws()
		}
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

func (c *checker) array(depth int) error {
	if depth > MaxDepth {
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

// plain marks the bytes a string may hold without a closer look: printable
// ASCII other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for ch := 0x20; ch < utf8.RuneSelf; ch++ {
		t[ch] = ch != '"' && ch != '\\'
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// notPlain8 sets the high bit of the result's bytes that, in x (eight bytes
// of a string, little-endian), are not plain: below 0x20, '"', '\\' or at
// least 0x80. A borrow may also mark bytes above (after) the first marked
// one, never before it, so the lowest marked byte is exact.
func notPlain8(x uint64) uint64 {
	quote := x ^ (lsb * '"')
	bslash := x ^ (lsb * '\\')
	return ((x - lsb*0x20) | x | ((quote - lsb) &^ quote) | ((bslash - lsb) &^ bslash)) & msb
}

// plainRun returns the index of the first byte of b at or after i that is
// not plain (len(b) if there is none), eight bytes at a time.
func plainRun(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := notPlain8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	return i
}

// appendUpper appends raw, plain ASCII, to dst with a-z upper-cased.
func appendUpper(dst, raw []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(raw))[:n+len(raw)]
	out := dst[n:]
	i := 0
	for ; i+8 <= len(raw); i += 8 {
		x := binary.LittleEndian.Uint64(raw[i:])
		// Every byte is below 0x80, so no sum carries into the next byte:
		// the high bit of ge is set for bytes >= 'a', of gt for bytes > 'z'.
		ge := x + lsb*(0x80-'a')
		gt := x + lsb*(0x80-'z'-1)
		binary.LittleEndian.PutUint64(out[i:], x-((ge&^gt)&msb)>>2)
	}
	for ; i < len(raw); i++ {
		ch := raw[i]
		if ch >= 'a' && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		out[i] = ch
	}
	return dst
}

// str scans a string starting at its opening quote and reports whether it
// contained an escape and whether it contained a byte outside ASCII.
func (c *checker) str() (escaped, nonASCII bool, err error) {
	b := c.b
	i := c.i + 1 // opening quote
	for {
		i = plainRun(b, i)
		if i >= len(b) {
			break
		}
		ch := b[i]
		switch {
		case ch == '"':
			c.i = i + 1
			return escaped, nonASCII, nil
		case ch == '\\':
			escaped = true
			if i+1 >= len(b) {
				c.i = i
				return escaped, nonASCII, c.fail("unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					c.i = i
					return escaped, nonASCII, c.fail("invalid \\u escape")
				}
				i += 6
			default:
				c.i = i
				return escaped, nonASCII, c.fail("invalid escape")
			}
		case ch < 0x20:
			c.i = i
			return escaped, nonASCII, c.fail("control character in string")
		default:
			nonASCII = true
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				c.i = i
				return escaped, nonASCII, c.fail("invalid utf-8")
			}
			i += size
		}
	}
	c.i = len(b)
	return escaped, nonASCII, c.fail("unterminated string")
}

func isHex4(b []byte) bool {
	for _, ch := range b {
		if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f' || ch >= 'A' && ch <= 'F') {
			return false
		}
	}
	return true
}

func (c *checker) number() error {
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

func (c *checker) digits() int {
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
			return nil, fmt.Errorf("%w: key: %w", ErrSyntax, err)
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
