package strictjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// sample has a field of every supported kind, nested.
type sample struct {
	Name  string `json:"name"`
	On    bool   `json:"on"`
	Count int64  `json:"count"`
	Inner struct {
		Label string `json:"label"`
		Deep  struct {
			N int64 `json:"n"`
		} `json:"deep"`
		List Array `json:"list"`
	} `json:"inner"`
	List Array `json:"list"`
}

// sampleRef is the same shape for encoding/json, the reference: an Array
// must hold what []json.RawMessage accepts (an array or null).
type sampleRef struct {
	Name  string `json:"name"`
	On    bool   `json:"on"`
	Count int64  `json:"count"`
	Inner struct {
		Label string `json:"label"`
		Deep  struct {
			N int64 `json:"n"`
		} `json:"deep"`
		List []json.RawMessage `json:"list"`
	} `json:"inner"`
	List []json.RawMessage `json:"list"`
}

var sampleDecoder = NewDecoder[sample]()

// compareSample asserts that Decode reads b as encoding/json reads it into
// a struct of the same shape: a type error exactly when encoding/json has
// one, and the same values otherwise.
func compareSample(t *testing.T, b []byte) {
	t.Helper()
	var got sample
	err := sampleDecoder.Decode(b, &got)
	if Check(b) != nil {
		if !errors.Is(err, ErrSyntax) {
			t.Fatalf("Check refuses %q, Decode says %v", b, err)
		}
		return
	}
	var want sampleRef
	wantErr := json.Unmarshal(b, &want)
	var gotLists [2][]json.RawMessage
	if err == nil {
		err = errors.Join(got.List.Decode(&gotLists[0]), got.Inner.List.Decode(&gotLists[1]))
	}
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("type errors differ on %q: encoding/json %v, Decode %v", b, wantErr, err)
	}
	if err != nil {
		if !errors.Is(err, ErrType) {
			t.Fatalf("a type error does not wrap ErrType: %v", err)
		}
		return
	}
	if got.Name != want.Name || got.On != want.On || got.Count != want.Count ||
		got.Inner.Label != want.Inner.Label || got.Inner.Deep.N != want.Inner.Deep.N ||
		!reflect.DeepEqual(gotLists, [2][]json.RawMessage{want.List, want.Inner.List}) {
		t.Fatalf("Decode differs from encoding/json on %q:\n got %+v %s\nwant %+v", b, got, gotLists, want)
	}
}

var sampleSeeds = []string{
	`{"name":"a","on":true,"count":-7,"inner":{"label":"l","deep":{"n":9},"list":[1,"x",{}]},"list":[]}`,
	`{"NAME":"upper","On":false,"cOUNT":0}`,
	`{"n\u0061me":"escaped key","name2":"other member"}`,
	`{"name":"esc\u00e9\"\\\/\n \ud800 \ud83d\ude00"}`,
	`{"name":null,"on":null,"count":null,"inner":null,"list":null}`,
	`{"inner":{"deep":null,"list":null}}`,
	`{"ſ":1,"name":"long s is not n"}`, `{"liſt":[1],"inner":{"LIſT":null}}`,
	`{"name":7}`, `{"name":true}`, `{"name":{}}`, `{"name":[]}`,
	`{"on":"true"}`, `{"on":1}`,
	`{"count":1.5}`, `{"count":1e3}`, `{"count":-0}`, `{"count":9223372036854775807}`,
	`{"count":9223372036854775808}`, `{"count":-9223372036854775809}`, `{"count":"5"}`,
	`{"inner":[]}`, `{"inner":"x"}`, `{"inner":5}`, `{"inner":{"deep":[]}}`,
	`{"list":{}}`, `{"list":"x"}`, `{"inner":{"list":5}}`,
	`{"other":{"name":"wrong depth"},"inner":{"name":"also wrong depth"}}`,
	`{"name":1,"x":}`,
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, s := range sampleSeeds {
		t.Run(s, func(t *testing.T) { compareSample(t, []byte(s)) })
	}
}

// FuzzDecode: Decode reads every document as encoding/json reads it into
// a struct of the same shape.
func FuzzDecode(f *testing.F) {
	for _, s := range append(sampleSeeds, githubLike) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { compareSample(t, b) })
}

func TestDecodeValues(t *testing.T) {
	var s sample
	err := sampleDecoder.Decode([]byte(`{"name":"a\u00e9","on":true,"count":-7,"inner":{"label":"l","deep":{"n":9},"list":["p"]},"list":[1,2]}`), &s)
	if err != nil {
		t.Fatal(err)
	}
	var ints []int
	var strs []string
	if err := errors.Join(s.List.Decode(&ints), s.Inner.List.Decode(&strs)); err != nil {
		t.Fatal(err)
	}
	if s.Name != "aé" || !s.On || s.Count != -7 || s.Inner.Label != "l" || s.Inner.Deep.N != 9 ||
		!reflect.DeepEqual(ints, []int{1, 2}) || !reflect.DeepEqual(strs, []string{"p"}) {
		t.Fatalf("%+v %v %v", s, ints, strs)
	}
	// An absent or null list leaves the destination alone.
	s = sample{}
	if err := sampleDecoder.Decode([]byte(`{"list":null}`), &s); err != nil {
		t.Fatal(err)
	}
	keep := []int{5}
	if err := errors.Join(s.List.Decode(&keep), s.Inner.List.Decode(&keep)); err != nil || !reflect.DeepEqual(keep, []int{5}) {
		t.Fatalf("%v %v", keep, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		doc  string
		want error
		text string // in the message
	}{
		{`{"inner":{"deep":{"n":"9"}}}`, ErrType, "inner.deep.n: not an int64"},
		{`{"inner":[]}`, ErrType, "inner: not an object"},
		{`{"list":{}}`, ErrType, "list: not an array"},
		{`{"on":"yes","name":5}`, ErrType, "on: not a boolean"}, // the first one
		// A syntax error wins over a type error found before it.
		{`{"name":5,"name":"x"}`, ErrSyntax, "duplicate object key"},
		{`{"name":5,"x":[}`, ErrSyntax, "offset"},
	}
	for _, tc := range cases {
		var s sample
		err := sampleDecoder.Decode([]byte(tc.doc), &s)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: err = %v, want %v with %q", tc.doc, err, tc.want, tc.text)
		}
	}
	var s sample
	if err := sampleDecoder.Decode([]byte(`{"inner":{"list":[1,"x"]}}`), &s); err != nil {
		t.Fatal(err)
	}
	var ints []int
	if err := s.Inner.List.Decode(&ints); !errors.Is(err, ErrType) || !strings.Contains(err.Error(), "inner.list") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewDecoderRefusesUnsupportedTypes(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	type embedded struct {
		A string `json:"a"`
	}
	mustPanic("not a struct", func() { NewDecoder[string]() })
	mustPanic("untagged", func() {
		NewDecoder[struct{ A string }]()
	})
	mustPanic("embedded", func() {
		NewDecoder[struct {
			embedded `json:"e"`
		}]()
	})
	mustPanic("int", func() {
		NewDecoder[struct {
			A int `json:"a"`
		}]()
	})
	mustPanic("pointer", func() {
		NewDecoder[struct {
			A *embedded `json:"a"`
		}]()
	})
	mustPanic("slice", func() {
		NewDecoder[struct {
			A []string `json:"a"`
		}]()
	})
	mustPanic("two fields for one member", func() {
		NewDecoder[struct {
			A string `json:"ref"`
			B string `json:"REF"`
		}]()
	})
}

func BenchmarkDecode(b *testing.B) {
	type push struct {
		Ref        string `json:"ref"`
		Deleted    bool   `json:"deleted"`
		Repository struct {
			ID       int64  `json:"id"`
			FullName string `json:"full_name"`
		} `json:"repository"`
		Commits Array `json:"commits"`
	}
	dec := NewDecoder[push]()
	doc := []byte(githubLike)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var p push
		if err := dec.Decode(doc, &p); err != nil || p.Repository.ID == 0 {
			b.Fatal(err)
		}
	}
}
