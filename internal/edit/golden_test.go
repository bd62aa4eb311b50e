package edit

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*/out.yaml")

// goldenCase is testdata/golden/<case>/spec.json.
type goldenCase struct {
	Input     string   `json:"input"` // relative to testdata; empty: in.yaml beside spec.json
	Kind      string   `json:"kind"`
	Image     string   `json:"image"`
	Field     string   `json:"field"`
	Container string   `json:"container"`
	Tag       string   `json:"tag"`
	Digest    string   `json:"digest"`
	Diff      []string `json:"diff"` // the exact changed lines, "-old" / "+new"
	Render    *struct {
		Root      string            `json:"root"` // kustomization directory to build; default: the edited file's
		Extra     map[string]string `json:"extra"`
		Kind      string            `json:"kind"`
		Name      string            `json:"name"`
		Container string            `json:"container"`
		Image     string            `json:"image"`
	} `json:"render"`
}

func (g goldenCase) spec(t *testing.T) Spec {
	s := Spec{Image: g.Image, Field: g.Field, Container: g.Container}
	switch g.Kind {
	case "kustomize":
		s.Kind = KindKustomize
	case "helm":
		s.Kind = KindHelm
	case "manifest":
		s.Kind = KindManifest
	default:
		t.Fatalf("unknown kind %q", g.Kind)
	}
	return s
}

func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/golden/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 30 {
		t.Fatalf("only %d golden cases found", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var g goldenCase
			raw, err := os.ReadFile(filepath.Join(dir, "spec.json"))
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&g); err != nil {
				t.Fatal(err)
			}
			inPath := filepath.Join(dir, "in.yaml")
			if g.Input != "" {
				inPath = filepath.Join("testdata", filepath.FromSlash(g.Input))
			}
			in, err := os.ReadFile(inPath)
			if err != nil {
				t.Fatal(err)
			}
			s := g.spec(t)
			ref := Ref{Tag: g.Tag, Digest: g.Digest}
			out, err := Set(in, s, ref)
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			goldenPath := filepath.Join(dir, "out.yaml")
			if *update {
				if err := os.WriteFile(goldenPath, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("output differs from %s:\n%s", goldenPath, out)
			}
			if d := lineDiff(string(in), string(out)); !slices.Equal(d, g.Diff) {
				t.Errorf("changed lines:\n%q\nwant:\n%q", d, g.Diff)
			}
			if hasEOL(in) != hasEOL(out) {
				t.Errorf("final newline: in %v, out %v", hasEOL(in), hasEOL(out))
			}
			got, err := Get(out, s)
			if err != nil {
				t.Fatalf("Get after Set: %v", err)
			}
			if (g.Tag != "" && got.Tag != g.Tag) || (g.Digest != "" && got.Digest != g.Digest) {
				t.Errorf("Get after Set = %+v, want %+v", got, ref)
			}
			again, err := Set(out, s, ref)
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("Set is not idempotent: err=%v\n%s", err, again)
			}
			if g.Render != nil {
				at := filepath.ToSlash(strings.TrimPrefix(inPath, "testdata"+string(filepath.Separator)))
				if g.Input == "" {
					at = path.Join("golden", filepath.Base(dir), "kustomization.yaml")
				}
				root := g.Render.Root
				if root == "" {
					root = path.Dir(at)
				}
				img := renderImage(t, map[string][]byte{at: out}, g.Render.Extra, root, g.Render.Kind, g.Render.Name, g.Render.Container)
				if img != g.Render.Image {
					t.Errorf("kustomize build renders %s/%s container %s image %q, want %q", g.Render.Kind, g.Render.Name, g.Render.Container, img, g.Render.Image)
				}
			}
		})
	}
}

func hasEOL(b []byte) bool { return len(b) == 0 || b[len(b)-1] == '\n' }

// renderImage builds root with the real Kustomize engine over an in-memory
// copy of testdata (with files replaced by over and copied per extra) and
// returns the image of the named container of the named resource.
func renderImage(t *testing.T, over map[string][]byte, extra map[string]string, root, kind, name, container string) string {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+filepath.ToSlash(p), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	for dst, src := range extra {
		b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(src)))
		if err != nil {
			t.Fatal(err)
		}
		if err := mem.WriteFile("/testdata/"+dst, b); err != nil {
			t.Fatal(err)
		}
	}
	for p, b := range over {
		if err := mem.WriteFile("/testdata/"+p, b); err != nil {
			t.Fatal(err)
		}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/testdata/"+root)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", root, err)
	}
	for _, r := range m.Resources() {
		if r.GetKind() != kind || r.GetName() != name {
			continue
		}
		obj, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		if img, ok := findContainerImage(obj, container); ok {
			return img
		}
		t.Fatalf("%s/%s has no container %q", kind, name, container)
	}
	t.Fatalf("kustomize build %s: no %s/%s", root, kind, name)
	return ""
}

func findContainerImage(v any, container string) (string, bool) {
	switch x := v.(type) {
	case map[string]any:
		if x["name"] == container {
			if img, ok := x["image"].(string); ok {
				return img, true
			}
		}
		for _, c := range x {
			if img, ok := findContainerImage(c, container); ok {
				return img, true
			}
		}
	case []any:
		for _, c := range x {
			if img, ok := findContainerImage(c, container); ok {
				return img, true
			}
		}
	}
	return "", false
}

// lineDiff returns the changed lines between a and b ("-old", "+new") in
// order, from a longest common subsequence of lines.
func lineDiff(a, b string) []string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// Common leading and trailing lines are unchanged; trimming them keeps
	// the quadratic table small for big files with small edits.
	for len(x) > 0 && len(y) > 0 && x[0] == y[0] {
		x, y = x[1:], y[1:]
	}
	for len(x) > 0 && len(y) > 0 && x[len(x)-1] == y[len(y)-1] {
		x, y = x[:len(x)-1], y[:len(y)-1]
	}
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var d []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			i, j = i+1, j+1
		case j == m || (i < n && lcs[i+1][j] >= lcs[i][j+1]):
			d = append(d, "-"+x[i])
			i++
		default:
			d = append(d, "+"+y[j])
			j++
		}
	}
	return d
}

func TestLineDiff(t *testing.T) {
	got := lineDiff("a\nb\nc\n", "a\nB\nc\nd\n")
	want := []string{"-b", "+B", "+d"}
	if !slices.Equal(got, want) {
		t.Fatalf("lineDiff = %q, want %q", got, want)
	}
	if d := lineDiff("x", "x"); d != nil {
		t.Fatalf("lineDiff of equal = %q", d)
	}
}
