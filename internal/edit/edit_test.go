package edit

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const (
	pay  = "registry.example.com/payment-service"
	dig1 = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

var (
	kSpec = Spec{Kind: KindKustomize, Image: pay}
	hSpec = Spec{Kind: KindHelm, Field: "image.tag"}
	mSpec = Spec{Kind: KindManifest, Container: "app"}
)

func TestGet(t *testing.T) {
	tests := []struct {
		name string
		in   string
		spec Spec
		want Ref
		err  error // nil: success; ErrNotFound / ErrTooLarge: errors.Is
	}{
		{"kustomize tag", "images:\n- name: " + pay + "\n  newTag: v1\n", kSpec, Ref{Tag: "v1"}, nil},
		{"kustomize tag and digest", "images:\n- name: " + pay + "\n  newTag: v1\n  digest: " + dig1 + "\n", kSpec, Ref{Tag: "v1", Digest: dig1}, nil},
		{"kustomize by newName", "images:\n- name: base/app\n  newName: " + pay + "\n  newTag: v3\n", kSpec, Ref{Tag: "v3"}, nil},
		{"kustomize name wins over newName", "images:\n- name: other\n  newName: " + pay + "\n  newTag: v3\n- name: " + pay + "\n  newTag: v4\n", kSpec, Ref{Tag: "v4"}, nil},
		{"kustomize numeric tag", "images:\n- name: " + pay + "\n  newTag: 1.10\n", kSpec, Ref{Tag: "1.10"}, nil},
		{"kustomize no entry", "images:\n- name: other\n  newTag: v1\n", kSpec, Ref{}, ErrNotFound},
		{"kustomize entry without tag", "images:\n- name: " + pay + "\n  tagSuffix: -x\n", kSpec, Ref{}, ErrNotFound},
		{"kustomize no images", "resources:\n- a.yaml\n", kSpec, Ref{}, ErrNotFound},
		{"kustomize empty file", "", kSpec, Ref{}, ErrNotFound},
		{"kustomize scalar document", "just text\n", kSpec, Ref{}, ErrNotFound},
		{"kustomize list document", "- a\n- b\n", kSpec, Ref{}, ErrNotFound},
		{"helm tag", "image:\n  tag: v5\n", hSpec, Ref{Tag: "v5"}, nil},
		{"helm tag at digest", "image:\n  tag: v5@" + dig1 + "\n", hSpec, Ref{Tag: "v5", Digest: dig1}, nil},
		{"helm digest", "image:\n  tag: " + dig1 + "\n", hSpec, Ref{Digest: dig1}, nil},
		{"helm empty string", "image:\n  tag: \"\"\n", hSpec, Ref{}, ErrNotFound},
		{"helm missing", "replicaCount: 1\n", hSpec, Ref{}, ErrNotFound},
		{"helm empty parent", "image:\n", hSpec, Ref{}, ErrNotFound},
		{"manifest tag", deployment("registry.local:5000/team/app:v7"), mSpec, Ref{Tag: "v7"}, nil},
		{"manifest port no tag", deployment("registry.local:5000/team/app"), mSpec, Ref{}, ErrNotFound},
		{"manifest digest", deployment("app:v1@" + dig1), mSpec, Ref{Tag: "v1", Digest: dig1}, nil},
		{"manifest no container", deployment("app:v1"), Spec{Kind: KindManifest, Container: "nope"}, Ref{}, ErrNotFound},
		{"manifest not a workload", "apiVersion: v1\nkind: ConfigMap\ndata:\n  containers: x\n", mSpec, Ref{}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Get([]byte(tt.in), tt.spec)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Get error = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Get = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func deployment(image string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: " + image + "\n"
}

// TestSetRejects covers bad arguments and hostile or malformed files: each
// must give an error (and no output), never a panic.
func TestSetRejects(t *testing.T) {
	bomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += n + ": &" + n + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
		prev = n
	}
	bomb += "images:\n- name: " + pay + "\n  newTag: *i\n"
	tests := []struct {
		name string
		in   string
		spec Spec
		ref  Ref
		want string // substring of the error
		is   error
	}{
		{"too large", strings.Repeat("#", MaxFileSize+1), kSpec, Ref{Tag: "v1"}, "", ErrTooLarge},
		{"invalid yaml", "images:\n- name: x\n  newTag: [v1\n", kSpec, Ref{Tag: "v1"}, "line", nil},
		{"invalid tag", "images: []\n", kSpec, Ref{Tag: "v1;rm -rf"}, "invalid tag", nil},
		{"tag too long", "images: []\n", kSpec, Ref{Tag: strings.Repeat("a", 129)}, "invalid tag", nil},
		{"invalid digest", "images: []\n", kSpec, Ref{Digest: "sha256:25a0d4"}, "invalid digest", nil},
		{"empty ref", "images: []\n", kSpec, Ref{}, "empty ref", nil},
		{"image with newline", "images: []\n", Spec{Kind: KindKustomize, Image: "x\nnewTag: evil"}, Ref{Tag: "v1"}, "invalid image", nil},
		{"helm bad field", "a: 1\n", Spec{Kind: KindHelm, Field: "image..tag"}, Ref{Tag: "v1"}, "invalid field", nil},
		{"helm field injection", "a: 1\n", Spec{Kind: KindHelm, Field: "image: {x}"}, Ref{Tag: "v1"}, "invalid field", nil},
		{"unknown kind", "a: 1\n", Spec{}, Ref{Tag: "v1"}, "unknown edit kind", nil},
		{"images not a list", "images: registry/app:v1\n", kSpec, Ref{Tag: "v1"}, "images is not a list", nil},
		{"images entry not a mapping", "images:\n- " + pay + "\n", kSpec, Ref{Tag: "v1"}, "not a mapping", nil},
		{"duplicate keys", "images:\n- name: " + pay + "\n  newTag: v1\n  newTag: v2\n", kSpec, Ref{Tag: "v3"}, "duplicate key", nil},
		{"duplicate root keys", "images: []\nimages: []\n", kSpec, Ref{Tag: "v3"}, "duplicate key", nil},
		{"duplicate entries", "images:\n- name: " + pay + "\n  newTag: v1\n- name: " + pay + "\n  newTag: v2\n", kSpec, Ref{Tag: "v3"}, "two images entries", nil},
		{"alias bomb tag", bomb, kSpec, Ref{Tag: "v1"}, "alias", nil},
		{"scalar document", "hello\n", kSpec, Ref{Tag: "v1"}, "", ErrNotFound},
		{"list document", "- a\n", kSpec, Ref{Tag: "v1"}, "", ErrNotFound},
		{"helm list document", "- a\n", hSpec, Ref{Tag: "v1"}, "not a mapping", nil},
		{"helm through scalar", "image: nginx:1\n", hSpec, Ref{Tag: "v1"}, `field "image" is not a mapping`, nil},
		{"helm through list", "image:\n- tag: v1\n", hSpec, Ref{Tag: "v1"}, "not a mapping", nil},
		{"helm leaf is mapping", "image:\n  tag:\n    x: 1\n", hSpec, Ref{Tag: "v1"}, "not a scalar", nil},
		{"helm block scalar", "image:\n  tag: |\n    v1\n", hSpec, Ref{Tag: "v2"}, "block scalar", nil},
		{"helm multi-line plain", "image:\n  tag: v1\n    more\n", hSpec, Ref{Tag: "v2"}, "multi-line", nil},
		{"manifest missing", deployment("app:v1"), Spec{Kind: KindManifest, Container: "web"}, Ref{Tag: "v1"}, "", ErrNotFound},
		{"manifest odd repo", deployment("\"app with space:v1\""), mSpec, Ref{Tag: "v2"}, "unexpected image repository", nil},
		{"utf16", "\xff\xfei\x00", kSpec, Ref{Tag: "v1"}, "encoding", nil},
		{"invalid utf8", "a: \xff\n", kSpec, Ref{Tag: "v1"}, "UTF-8", nil},
		{"digest removal not on own line", "images:\n- digest: " + dig1 + "\n  name: " + pay + "\n", kSpec, Ref{Tag: "v1"}, "own line", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Set([]byte(tt.in), tt.spec, tt.ref)
			if err == nil {
				t.Fatalf("Set succeeded:\n%s", out)
			}
			if out != nil {
				t.Errorf("Set returned output with error %v", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestAliasBombIsNotExpanded: a billion-laughs file with a real target entry
// is edited without expanding the aliases (it would take 9^9 nodes).
func TestAliasBombIsNotExpanded(t *testing.T) {
	in := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		in += n + ": &" + n + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n"
		prev = n
	}
	in += "images:\n- name: " + pay + "\n  newTag: v1\n"
	out, err := Set([]byte(in), kSpec, Ref{Tag: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(in, "newTag: v1", "newTag: v2", 1); string(out) != want {
		t.Fatalf("got\n%s", out)
	}
}

// TestSetSelfCheck shows that the structural self-check refuses an edit the
// splice would get wrong: a block scalar with keep-chomping at the end of an
// entry would swallow the inserted key.
func TestSetSelfCheck(t *testing.T) {
	in := "images:\n- name: " + pay + "\n  note: |+\n    text\n\n"
	out, err := Set([]byte(in), kSpec, Ref{Tag: "v2"})
	if err == nil {
		// Either refuse or produce a file that reads back correctly.
		if got, gerr := Get(out, kSpec); gerr != nil || got.Tag != "v2" {
			t.Fatalf("bad output accepted:\n%s", out)
		}
		return
	}
	if !strings.Contains(err.Error(), "self-check") {
		t.Fatalf("error %v, want a self-check failure", err)
	}
}

func TestNeedsQuote(t *testing.T) {
	for v, want := range map[string]bool{
		"v1": false, "1.10": true, "10": true, "1e5": true, "0755": true, "1_000": true, "0x1F": true,
		"true": true, "yes": true, "on": true, "null": true, "1.2.3": false, "sha-abc1234": false,
		"v1.2.3-rc.1": false, "8.6.3": false, "_x": false, "NaN": false, "y": true, "~": true,
		"registry.local:5000/a:v1": false,
	} {
		if got := needsQuote(v); got != want {
			t.Errorf("needsQuote(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestSplitImage(t *testing.T) {
	for in, want := range map[string][3]string{
		"nginx":                     {"nginx", "", ""},
		"nginx:1.25":                {"nginx", "1.25", ""},
		"host:5000/x/y":             {"host:5000/x/y", "", ""},
		"host:5000/x/y:tag":         {"host:5000/x/y", "tag", ""},
		"host:5000/x/y@" + dig1:     {"host:5000/x/y", "", dig1},
		"host:5000/x/y:tag@" + dig1: {"host:5000/x/y", "tag", dig1},
		"${REGISTRY}/app:v1":        {"${REGISTRY}/app", "v1", ""},
	} {
		repo, r := splitImage(in)
		if got := [3]string{repo, r.Tag, r.Digest}; got != want {
			t.Errorf("splitImage(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnicodeColumns: columns count runes, so a multi-byte comment or key
// before the value on the same line does not shift the splice.
func TestUnicodeColumns(t *testing.T) {
	in := "# é ✓ 😀\nimage: {名前: \"é😀\", tag: v1} # ✓\n"
	out, err := Set([]byte(in), hSpec, Ref{Tag: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(in, "tag: v1", "tag: v2", 1); string(out) != want {
		t.Fatalf("got %q", out)
	}
	// Lone CR and Unicode line separators are line breaks to the parser too.
	in = "a: 1\rb: \"x\u2028\"\u2028image:\r\n  tag: v1\n"
	out, err = Set([]byte(in), hSpec, Ref{Tag: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(in, "tag: v1", "tag: v2", 1); string(out) != want {
		t.Fatalf("got %q", out)
	}
}

func TestSetMultiDocumentManifestChangesEveryMatch(t *testing.T) {
	in := deployment("reg/app:v1 # a") + "---\n" + deployment("'reg/app:v1'")
	out, err := Set([]byte(in), mSpec, Ref{Tag: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(strings.Replace(in, "reg/app:v1 # a", "reg/app:v2 # a", 1), "'reg/app:v1'", "'reg/app:v2'", 1)
	if string(out) != want {
		t.Fatalf("got\n%s", out)
	}
}

func TestSetDoesNotTouchOtherDocuments(t *testing.T) {
	other := "---\n# another doc\nkind: ConfigMap\nimages: x\n"
	in := "images:\n- name: " + pay + "\n  newTag: v1\n" + other
	out, err := Set([]byte(in), kSpec, Ref{Tag: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(out, []byte(other)) || !bytes.Contains(out, []byte("newTag: v2\n---")) {
		t.Fatalf("got\n%s", out)
	}
}

func TestSetHelmEmptyFile(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "image:\n  tag: v2\n",
		"# only a comment":   "# only a comment\nimage:\n  tag: v2\n",
		"# only a comment\n": "# only a comment\nimage:\n  tag: v2\n",
	} {
		out, err := Set([]byte(in), hSpec, Ref{Tag: "v2"})
		if err != nil || string(out) != want {
			t.Errorf("Set(%q) = %q, %v; want %q", in, out, err, want)
		}
	}
}

func TestSetKeepsLoneCRLineEnds(t *testing.T) {
	in := "replicaCount: 1\rimage:\r  repository: x\r"
	out, err := Set([]byte(in), hSpec, Ref{Tag: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := in + "  tag: v2\r"; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}
