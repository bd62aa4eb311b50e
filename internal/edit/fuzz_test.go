package edit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds adds every golden input of the given kind, plus extra strings.
func addSeeds(f *testing.F, kind string, extra ...string) {
	dirs, _ := filepath.Glob("testdata/golden/*")
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, "spec.json"))
		if err != nil || !bytes.Contains(raw, []byte(`"kind": "`+kind+`"`)) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "in.yaml")); err == nil {
			f.Add(b, "v2")
		}
	}
	for _, p := range []string{
		"testdata/realworld/GoogleCloudPlatform__microservices-demo/kustomize/components/container-images-tag/kustomization.yaml",
		"testdata/realworld/kubernetes-sigs__kustomize/examples/transformerconfigs/images/kustomization.yaml",
		"testdata/realworld/GoogleCloudPlatform__microservices-demo/helm-chart/values.yaml",
		"testdata/realworld/argoproj-labs__gitops-promoter-demo/demo-apps/guestbook/values.yaml",
	} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, "1.10")
		}
	}
	for _, s := range extra {
		f.Add([]byte(s), "v2")
	}
}

// checkOnlyTagChanged asserts, independently of Set's own self-check, that
// out reads back the tag, that a second Set is a no-op, and that every
// changed line is about the edit.
func checkOnlyTagChanged(t *testing.T, in, out []byte, s Spec, tag string, about []string) {
	got, err := Get(out, s)
	if err != nil || got.Tag != tag {
		t.Fatalf("Get after Set = %+v, %v; want tag %q\nin:\n%q\nout:\n%q", got, err, tag, in, out)
	}
	again, err := Set(out, s, Ref{Tag: tag})
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("second Set changed the file: %v\n%q\n%q", err, out, again)
	}
	// A block appended after a last line without a line break ends that
	// line first, in the file's style ("\r\n" or "\n"): the line itself is
	// unchanged (the split below is on "\n" only, so a "\r\n" would read as
	// a changed line).
	base := string(in)
	for _, eol := range []string{"\r\n", "\n"} {
		if len(base) > 0 && !strings.HasSuffix(base, "\n") && strings.HasPrefix(string(out), base+eol) {
			base += eol
			break
		}
	}
	d := lineDiff(base, string(out))
	was, wasErr := Get(in, s)
	addedTag := false
	for _, m := range d {
		if strings.HasPrefix(m, "+") && strings.Contains(m, tag) {
			addedTag = true
		}
	}
	if len(d) > 8 {
		t.Fatalf("%d lines changed:\n%q", len(d), d)
	}
	for _, l := range d {
		// A blank line around an appended block (a file that was only
		// whitespace) carries nothing.
		ok := strings.TrimSpace(l[1:]) == ""
		for _, a := range append(about, tag) {
			if strings.Contains(l, a) {
				ok = true
			}
		}
		// A removed line of a flow collection that gained the entry in place
		// ("{a: 1}" → "{a: 1, images: [...]}") is about the edit too.
		if !ok && strings.HasPrefix(l, "-") {
			old := l[1:]
			if i := strings.LastIndexAny(old, "}]"); i > 0 {
				for _, m := range d {
					if strings.HasPrefix(m, "+") && strings.Contains(m, tag) && strings.HasPrefix(m[1:], old[:i]) {
						ok = true
					}
				}
			}
		}
		// A removed line of the old value itself is the edit: its added twin
		// with the old tag replaced ("{tag:\nv1}"), or a continuation line
		// of a multi-line scalar now written on one line ("tag: \"\n\"").
		if !ok && strings.HasPrefix(l, "-") && wasErr == nil && was.Tag != "" && addedTag {
			core := strings.Trim(l[1:], " \t\r\"'{}[],")
			for _, m := range d {
				if m == "+"+strings.Replace(l[1:], was.Tag, tag, 1) {
					ok = true
				}
			}
			if core == "" || strings.Contains(was.Tag, core) {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("unrelated line changed: %q\nin:\n%q\nout:\n%q", l, in, out)
		}
	}
}

func FuzzSetKustomize(f *testing.F) {
	addSeeds(f, "kustomize",
		"images:\n- name: "+pay+"\n  newTag: v1\n",
		"images: [{name: "+pay+", newTag: v1, digest: "+dig1+"}]\n",
		"{images: []}", "images:\n", "a: &x 1\nimages:\n- name: "+pay+"\n  newTag: *x\n")
	s := Spec{Kind: KindKustomize, Image: pay}
	f.Fuzz(func(t *testing.T, data []byte, tag string) {
		if len(data) > 64<<10 {
			return
		}
		out, err := Set(data, s, Ref{Tag: tag})
		if err != nil {
			return
		}
		checkOnlyTagChanged(t, data, out, s, tag, []string{"newTag", "digest", "images", "name: " + pay, "name: \"" + pay})
	})
}

func FuzzSetHelm(f *testing.F) {
	addSeeds(f, "helm",
		"image:\n  tag: v1\n", "image: {tag: v1}\n", "replicaCount: 1", "image:\n", "",
		"services:\n  api:\n    image:\n      tag: \"v1\"\n")
	fields := []string{"image.tag", "images.tag", "services.api.image.tag"}
	f.Fuzz(func(t *testing.T, data []byte, tag string) {
		if len(data) > 64<<10 {
			return
		}
		for _, field := range fields {
			s := Spec{Kind: KindHelm, Field: field}
			out, err := Set(data, s, Ref{Tag: tag})
			if err != nil {
				continue
			}
			checkOnlyTagChanged(t, data, out, s, tag, strings.Split(field, "."))
		}
	})
}

// overlay is a typical 30-line production overlay.
const overlay = `# Production overlay for payment-service.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: payments-prod
resources:
  - ../../base
  - pdb.yaml
  - hpa.yaml
labels:
  - pairs:
      env: prod
      team: payments
    includeSelectors: false
patches:
  - path: replicas.yaml
  - target:
      kind: Deployment
      name: payment-service
    path: resources.yaml
configMapGenerator:
  - name: payment-config
    behavior: merge
    literals:
      - LOG_LEVEL=info
images:
  - name: registry.example.com/payment-service
    newTag: v2.4.0 # promoted by promobot
  - name: registry.example.com/payment-migrations
    newTag: v2.4.0
  - name: redis
    newTag: "7.2"
`

func BenchmarkSetKustomize(b *testing.B) {
	in := []byte(overlay)
	s := Spec{Kind: KindKustomize, Image: "registry.example.com/payment-service"}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Set(in, s, Ref{Tag: "v2.4.1"}); err != nil {
			b.Fatal(err)
		}
	}
}
