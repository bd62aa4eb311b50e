package edit

import (
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// verify re-parses out and checks that it reports want for s and that,
// with the edited location removed from both, old and new documents are
// structurally equal.
func verify(old *file, out []byte, s Spec, want Ref) error {
	nf, err := parse(out)
	if err != nil {
		return fmt.Errorf("result does not parse: %w", err)
	}
	got, err := get(nf, s)
	if err != nil {
		return fmt.Errorf("result: %w", err)
	}
	if got != want {
		return fmt.Errorf("result reports %q, want %q", got.String(), want.String())
	}
	// Parse the original again so stripping does not touch the caller's tree.
	of, err := parse(old.src)
	if err != nil {
		return err
	}
	if len(of.docs) == 0 && len(nf.docs) == 1 { // a Helm path written into an empty file
		of.docs = []*yaml.Node{nil}
	}
	if len(nf.docs) != len(of.docs) {
		return fmt.Errorf("result has %d documents, want %d", len(nf.docs), len(of.docs))
	}
	strip(of, s)
	strip(nf, s)
	for i := range of.docs {
		a, b := emptyAsNil(of.docs[i]), emptyAsNil(nf.docs[i])
		if err := equal(a, b, 0); err != nil {
			return fmt.Errorf("document %d changed beyond the edit: %w", i+1, err)
		}
	}
	return nil
}

// emptyAsNil maps a document left empty by strip to no document.
func emptyAsNil(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.MappingNode && len(n.Content) == 0 {
		return nil
	}
	return n
}

// strip removes from f what an edit for s may legitimately change.
func strip(f *file, s Spec) {
	switch s.Kind {
	case KindKustomize:
		root := kustomizeDoc(f)
		_, list, err := imagesList(root)
		if err != nil || root == nil {
			return
		}
		if list != nil {
			if e, err := findImage(list, s.Image); err == nil && e != nil {
				deleteKey(e, "newTag")
				deleteKey(e, "digest")
				if len(e.Content) == 2 { // only the name is left: a new entry
					removeItem(list, e)
				}
			}
			if len(list.Content) > 0 {
				return
			}
		}
		deleteKey(root, "images")
	case KindHelm:
		root, err := helmRoot(f)
		if err != nil || root == nil {
			return
		}
		stripPath(root, strings.Split(s.Field, "."))
	case KindManifest:
		imgs, err := containers(f, s.Container)
		if err != nil {
			return
		}
		for _, img := range imgs {
			img.node.Value, img.node.Style, img.node.Tag = "", 0, "!!str"
		}
	}
}

// stripPath deletes the leaf of path and then every mapping on the way that
// is left empty or null, so "inserted" and "absent" compare equal.
func stripPath(m *yaml.Node, path []string) bool {
	_, v := lookup(m, path[0])
	if v == nil {
		return false
	}
	if len(path) > 1 && v.Kind == yaml.MappingNode {
		stripPath(v, path[1:])
	}
	if len(path) == 1 || isEmptyNull(v) || (v.Kind == yaml.MappingNode && len(v.Content) == 0) {
		deleteKey(m, path[0])
		return true
	}
	return false
}

func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			m.Content = append(m.Content[:i:i], m.Content[i+2:]...)
			return
		}
	}
}

func removeItem(list, item *yaml.Node) {
	for i, c := range list.Content {
		if c == item {
			list.Content = append(list.Content[:i:i], list.Content[i+1:]...)
			return
		}
	}
}

// equal compares two trees by kind, resolved tag, value, anchor and
// children. Aliases compare by name and are never followed.
func equal(a, b *yaml.Node, depth int) error {
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil || b == nil:
		return errors.New("document appeared or vanished")
	case depth > maxDepth:
		return errors.New("nested too deeply")
	case a.Kind != b.Kind, a.ShortTag() != b.ShortTag(), a.Value != b.Value, a.Anchor != b.Anchor, len(a.Content) != len(b.Content):
		return fmt.Errorf("line %d: %q differs from line %d: %q", a.Line, a.Value, b.Line, b.Value)
	}
	for i := range a.Content {
		if err := equal(a.Content[i], b.Content[i], depth+1); err != nil {
			return err
		}
	}
	return nil
}
