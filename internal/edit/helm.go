package edit

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// helmRoot returns the values file's mapping; an empty file has none.
func helmRoot(f *file) (*yaml.Node, error) {
	for _, d := range f.docs {
		if d == nil {
			continue
		}
		if d.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: values file is not a mapping", d.Line)
		}
		return d, nil
	}
	return nil, nil
}

// walkField follows the dotted path as far as it exists. It returns the
// deepest mapping reached, the key and value found there (nil when missing),
// and how many path segments were consumed.
func walkField(root *yaml.Node, path []string) (m, key, val *yaml.Node, depth int, err error) {
	m = root
	for i, seg := range path {
		k, v := lookup(m, seg)
		if v == nil {
			return m, nil, nil, i, nil
		}
		if i == len(path)-1 {
			return m, k, v, i, nil
		}
		if v.Kind == yaml.AliasNode {
			return nil, nil, nil, 0, fmt.Errorf("line %d: field %q goes through an alias", v.Line, strings.Join(path[:i+1], "."))
		}
		if v.Kind != yaml.MappingNode {
			if isEmptyNull(v) {
				return m, k, v, i, nil
			}
			return nil, nil, nil, 0, fmt.Errorf("line %d: field %q is not a mapping", v.Line, strings.Join(path[:i+1], "."))
		}
		m = v
	}
	return m, nil, nil, len(path), nil
}

func parseHelmValue(v string) Ref {
	if i := strings.LastIndex(v, "@"); i >= 0 {
		return Ref{Tag: v[:i], Digest: v[i+1:]}
	}
	if strings.HasPrefix(v, "sha256:") {
		return Ref{Digest: v}
	}
	return Ref{Tag: v}
}

func getHelm(f *file, s Spec) (Ref, error) {
	root, err := helmRoot(f)
	if err != nil {
		return Ref{}, err
	}
	if root == nil {
		return Ref{}, fmt.Errorf("empty values file: %w", ErrNotFound)
	}
	path := strings.Split(s.Field, ".")
	_, _, v, depth, err := walkField(root, path)
	if err != nil {
		return Ref{}, err
	}
	if v == nil || depth != len(path)-1 {
		return Ref{}, fmt.Errorf("field %q: %w", s.Field, ErrNotFound)
	}
	if v.Kind != yaml.ScalarNode {
		return Ref{}, fmt.Errorf("line %d: field %q is not a scalar", v.Line, s.Field)
	}
	if scalarValue(v) == "" {
		return Ref{}, fmt.Errorf("field %q is empty: %w", s.Field, ErrNotFound)
	}
	return parseHelmValue(v.Value), nil
}

func setHelm(f *file, s Spec, r Ref) ([]splice, Ref, error) {
	root, err := helmRoot(f)
	if err != nil {
		return nil, Ref{}, err
	}
	val := r.String()
	if root == nil {
		// Empty file: the whole path becomes the content.
		text := blockLines(strings.Split(s.Field, "."), val, 0, 2, f.eol)
		if len(f.src) > 0 && !strings.HasSuffix(string(f.src), "\n") && !strings.HasSuffix(string(f.src), "\r") {
			text = f.eol + text
		}
		return []splice{{len(f.src), len(f.src), text}}, r, nil
	}
	path := strings.Split(s.Field, ".")
	m, k, v, depth, err := walkField(root, path)
	if err != nil {
		return nil, Ref{}, err
	}
	flow := m.Style&yaml.FlowStyle != 0
	switch {
	case v == nil: // keys missing below m
		sp, err := f.addPairs(m, path[depth:], val, detectStyle(root))
		return []splice{sp}, r, err
	case isEmptyNull(v) && depth < len(path)-1: // "image:" with nothing below
		if flow {
			return nil, Ref{}, fmt.Errorf("line %d: field %q is empty inside a flow mapping", k.Line, strings.Join(path[:depth+1], "."))
		}
		st := detectStyle(root)
		text := blockLines(path[depth+1:], val, k.Column-1+st.mapIndent, st.mapIndent, f.eol)
		return []splice{f.insertAfterLine(k.Line-1, text)}, r, nil
	case isEmptyNull(v):
		p, err := f.afterColon(k)
		if err != nil {
			return nil, Ref{}, err
		}
		return []splice{{p, p, " " + render(val, nil, flow)}}, r, nil
	case v.Kind != yaml.ScalarNode && v.Kind != yaml.AliasNode:
		return nil, Ref{}, fmt.Errorf("line %d: field %q is not a scalar", v.Line, s.Field)
	}
	sp, err := f.replaceScalar(v, val, flow)
	return []splice{sp}, r, err
}
