package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// githubLike is shaped like a GitHub delivery: nested objects, arrays of
// objects, escapes, numbers of every form, nulls.
const githubLike = `{
  "ref": "refs/tags/v0.0.1", "before": "0000000000000000000000000000000000000000",
  "created": true, "deleted": false, "base_ref": null,
  "repository": {"id": 35129377, "full_name": "baxterthehacker/public-repo",
    "owner": {"login": "baxterthehacker", "site_admin": false}, "stargazers_count": 0,
    "topics": [], "score": -1.5e-3, "description": "caf\u00e9 \"quoted\" \\ \/ \ud83d\ude00 ünïcode"},
  "commits": [{"id": "a", "added": ["x/y.yaml"], "modified": [], "removed": ["z"]},
              {"id": "b", "message": "line\nbreak\ttab"}],
  "head_commit": {"message": "m", "author": {"name": "n", "email": null}}
}`

func manyKeys(n int, dupAtEnd bool) []byte {
	var b bytes.Buffer
	b.WriteString(`{"ref":"refs/heads/master"`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	if dupAtEnd {
		b.WriteString(`,"k7":1`)
	}
	b.WriteString("}")
	return b.Bytes()
}

func nested(open, close string, n int) string {
	return `{"a":` + strings.Repeat(open, n) + "1" + strings.Repeat(close, n) + `}`
}

func TestCheck(t *testing.T) {
	accept := map[string]string{
		"github-like":              githubLike,
		"empty object":             `{}`,
		"white space around":       " \t\r\n{ \"a\" : [ 1 , { } ] }\n ",
		"numbers":                  `{"a":[0,-0,1.5,-1e10,2E+3,3e-2,1234567890123456789012345678901234567890]}`,
		"escaped key":              `{"a\n":1,"a":2}`,
		"different keys":           `{"ref":1,"refs":2,"re":3}`,
		"same key in other object": `{"a":{"a":1},"b":{"a":2},"c":[{"a":1},{"a":2}]}`,
		"MaxDepth arrays":          nested("[", "]", MaxDepth-1),
		"MaxDepth objects":         strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth),
		"lone surrogate escape":    `{"a":"\ud800"}`,
		"20k distinct keys":        string(manyKeys(20000, false)),
	}
	for name, doc := range accept {
		t.Run("accept "+name, func(t *testing.T) {
			if err := Check([]byte(doc)); err != nil {
				t.Fatal(err)
			}
			if !json.Valid([]byte(doc)) {
				t.Fatal("encoding/json refuses it: the case is wrong")
			}
		})
	}
	refuse := map[string]string{
		"empty":                     ``,
		"null":                      `null`,
		"array at top":              `[]`,
		"string at top":             `"a"`,
		"two values":                `{} {}`,
		"trailing comma":            `{"a":1,}`,
		"trailing comma in array":   `{"a":[1,]}`,
		"missing colon":             `{"a" 1}`,
		"single quotes":             `{'a':1}`,
		"unquoted key":              `{a:1}`,
		"byte order mark":           "\xef\xbb\xbf{}",
		"invalid utf-8":             "{\"a\":\"\xff\"}",
		"invalid utf-8 in a key":    "{\"\xc3\":1}",
		"raw control character":     "{\"a\":\"a\x01b\"}",
		"raw newline":               "{\"a\":\"a\nb\"}",
		"bad escape":                `{"a":"\x"}`,
		"short unicode escape":      `{"a":"\u12"}`,
		"leading zero":              `{"a":01}`,
		"plus sign":                 `{"a":+1}`,
		"bare fraction":             `{"a":.5}`,
		"empty fraction":            `{"a":1.}`,
		"empty exponent":            `{"a":1e}`,
		"NaN":                       `{"a":NaN}`,
		"truncated literal":         `{"a":tru}`,
		"unterminated string":       `{"a":"abc`,
		"unterminated object":       `{"a":1`,
		"duplicate key":             `{"ref":1,"ref":2}`,
		"duplicate key, case":       `{"ref":1,"REF":2}`,
		"duplicate key, escape":     `{"ref":1,"r\u0065f":2}`,
		"duplicate key, long s":     `{"s":1,"ſ":2}`,
		"duplicate key, Kelvin":     `{"k":1,"\u212a":2}`,
		"duplicate key, nested":     `{"a":[{"b":1,"B":2}]}`,
		"duplicate after many keys": string(manyKeys(20000, true)),
		"MaxDepth+1 arrays":         nested("[", "]", MaxDepth),
		"MaxDepth+1 objects":        strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1),
		"10,000 [":                  `{"a":` + strings.Repeat("[", 10000),
	}
	for name, doc := range refuse {
		t.Run("refuse "+name, func(t *testing.T) {
			if err := Check([]byte(doc)); !errors.Is(err, ErrSyntax) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// The key set finds duplicates in objects of every size, through the hash
// table once an object outgrows the linear scan, and resets cleanly.
func TestKeySet(t *testing.T) {
	var k keySet
	for _, n := range []int{1, smallObject, smallObject + 1, 1000, 100000} {
		for _, dupAt := range []int{-1, 0, n / 2, n - 1} {
			k.reset()
			for i := 0; i < n; i++ {
				if k.add([]byte("K" + fmt.Sprint(i))) {
					t.Fatalf("n=%d: key %d reported as a duplicate", n, i)
				}
			}
			if dupAt >= 0 && !k.add([]byte("K"+fmt.Sprint(dupAt))) {
				t.Fatalf("n=%d: duplicate of key %d not found", n, dupAt)
			}
			if k.add([]byte("other")) {
				t.Fatalf("n=%d: new key reported as a duplicate", n)
			}
		}
	}
}

// A checker reused from the pool after a hostile document reads the next
// document correctly.
func TestCheckerReuse(t *testing.T) {
	type doc struct {
		Ref  string `json:"ref"`
		Repo struct {
			Name string `json:"full_name"`
		} `json:"repository"`
	}
	dec := NewDecoder[doc]()
	for i := 0; i < 3; i++ {
		if err := Check(manyKeys(50000, false)); err != nil {
			t.Fatal(err)
		}
		if err := Check(manyKeys(100, true)); err == nil {
			t.Fatal("duplicate not found")
		}
		if err := Check([]byte(nested("[", "]", MaxDepth))); err == nil {
			t.Fatal("depth not refused")
		}
		var d doc
		if err := dec.Decode([]byte(githubLike), &d); err != nil || d.Ref != "refs/tags/v0.0.1" || d.Repo.Name != "baxterthehacker/public-repo" {
			t.Fatalf("%+v %v", d, err)
		}
	}
}

// FuzzCheckJSON: the strict checker never accepts what encoding/json
// refuses, and never panics.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{
		githubLike, `{}`, `null`, `{"a":[1,2,{"b":null}]}`, `{"ref":"refs/tags/v1","ref":"x"}`, `{"ref":"a","REF":"b"}`,
		"{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `[[[[`, `{"a":-0.1e+5}`, `{"s":1,"ſ":2}`, nested("[", "]", MaxDepth),
		// installation and installation_repositories shapes: lists of objects
		`{"action":"added","installation":{"id":957387,"account":{"login":"Codertocat"}},"repositories_added":[{"id":1,"full_name":"Codertocat/Space"}],"repositories_removed":[]}`,
		`{"action":"removed","installation":{"id":2},"repositories_removed":[{"full_name":"a/b","FULL_NAME":"c/d"}]}`,
		`{"action":"deleted","installation":{"id":2,"\u0069d":3},"repositories":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if Check(b) == nil && !json.Valid(b) {
			t.Fatalf("accepted invalid json %q", b)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	doc := []byte(githubLike)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// plainRun, eight bytes at a time, stops exactly where a byte-by-byte scan
// would: every byte value at every offset of a word, after runs of every
// length, and random strings.
func TestPlainRun(t *testing.T) {
	ref := func(b []byte, i int) int {
		for i < len(b) && plain[b[i]] {
			i++
		}
		return i
	}
	for n := 0; n <= 20; n++ {
		for pos := 0; pos <= n; pos++ {
			for v := 0; v < 256; v++ {
				b := bytes.Repeat([]byte("a~ Z"), 6)[:n+1]
				b[pos] = byte(v)
				for start := 0; start <= pos; start++ {
					if got, want := plainRun(b, start), ref(b, start); got != want {
						t.Fatalf("%q from %d: plainRun %d, want %d", b, start, got, want)
					}
				}
			}
		}
	}
	rnd := uint64(1)
	for round := 0; round < 20000; round++ {
		b := make([]byte, round%40)
		for i := range b {
			rnd = rnd*6364136223846793005 + 1442695040888963407
			b[i] = byte(rnd >> 56)
			if rnd&3 != 0 { // mostly plain bytes
				b[i] = 0x20 + b[i]%0x5f
			}
		}
		if got, want := plainRun(b, 0), ref(b, 0); got != want {
			t.Fatalf("%q: plainRun %d, want %d", b, got, want)
		}
	}
}

// appendUpper upper-cases a-z and nothing else, at every offset.
func TestAppendUpper(t *testing.T) {
	for n := 0; n <= 20; n++ {
		for v := 0; v < 0x80; v++ {
			raw := bytes.Repeat([]byte{byte(v)}, n)
			want := []byte("prefix" + strings.ToUpper(string(raw)))
			if got := appendUpper([]byte("prefix"), raw); !bytes.Equal(got, want) {
				t.Fatalf("%q: %q, want %q", raw, got, want)
			}
		}
	}
	raw := []byte("abcdefghijklmnopqrstuvwxyz`{@[ABCXYZ_09/.-")
	if got := appendUpper(nil, raw); string(got) != strings.ToUpper(string(raw)) {
		t.Fatalf("%q", got)
	}
}
