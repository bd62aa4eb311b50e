package edit

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// kustomizeDoc returns the first document that is a mapping, the
// kustomization. Other documents are left alone.
func kustomizeDoc(f *file) *yaml.Node {
	for _, d := range f.docs {
		if d != nil && d.Kind == yaml.MappingNode {
			return d
		}
	}
	return nil
}

// imagesList returns the images sequence (nil when absent or null) and its key.
func imagesList(root *yaml.Node) (key, list *yaml.Node, err error) {
	key, list = lookup(root, "images")
	if list == nil {
		return nil, nil, nil
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return key, nil, nil
	}
	if list.Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("line %d: images is not a list", list.Line)
	}
	for i, e := range list.Content {
		if e.Kind != yaml.MappingNode {
			return nil, nil, fmt.Errorf("line %d: images[%d] is not a mapping", e.Line, i)
		}
	}
	return key, list, nil
}

// findImage returns the entry whose name is image, or else whose newName is
// (a component that renames). Two candidates of the same rank are an error.
func findImage(list *yaml.Node, image string) (*yaml.Node, error) {
	if list == nil {
		return nil, nil
	}
	for _, field := range []string{"name", "newName"} {
		var found *yaml.Node
		for _, e := range list.Content {
			if _, v := lookup(e, field); v != nil && v.Kind == yaml.ScalarNode && v.Value == image {
				if found != nil {
					return nil, fmt.Errorf("line %d: two images entries with %s %q", v.Line, field, image)
				}
				found = e
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, nil
}

func scalarValue(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func getKustomize(f *file, s Spec) (Ref, error) {
	root := kustomizeDoc(f)
	if root == nil {
		return Ref{}, fmt.Errorf("no kustomization mapping: %w", ErrNotFound)
	}
	_, list, err := imagesList(root)
	if err != nil {
		return Ref{}, err
	}
	e, err := findImage(list, s.Image)
	if err != nil {
		return Ref{}, err
	}
	if e == nil {
		return Ref{}, fmt.Errorf("no images entry for %q: %w", s.Image, ErrNotFound)
	}
	_, tag := lookup(e, "newTag")
	_, dig := lookup(e, "digest")
	r := Ref{Tag: scalarValue(tag), Digest: scalarValue(dig)}
	if r == (Ref{}) {
		return Ref{}, fmt.Errorf("images entry for %q sets no newTag or digest: %w", s.Image, ErrNotFound)
	}
	return r, nil
}

func setKustomize(f *file, s Spec, r Ref) ([]splice, Ref, error) {
	root := kustomizeDoc(f)
	if root == nil {
		return nil, Ref{}, fmt.Errorf("no kustomization mapping: %w", ErrNotFound)
	}
	key, list, err := imagesList(root)
	if err != nil {
		return nil, Ref{}, err
	}
	e, err := findImage(list, s.Image)
	if err != nil {
		return nil, Ref{}, err
	}
	if e != nil {
		return f.updateEntry(e, r)
	}
	// New entry: name plus whatever the ref sets.
	keys, vals := []string{"name"}, []string{s.Image}
	if r.Tag != "" {
		keys, vals = append(keys, "newTag"), append(vals, r.Tag)
	}
	if r.Digest != "" {
		keys, vals = append(keys, "digest"), append(vals, r.Digest)
	}
	st := detectStyle(root)
	switch {
	case list != nil && list.Style&yaml.FlowStyle != 0:
		sp, err := f.appendFlowItem(list, flowMap(keys, vals))
		return []splice{sp}, r, err
	case list != nil && len(list.Content) > 0:
		dash := list.Column - 1
		keyCol := dash + 2
		if first := list.Content[0]; first.Line == list.Line && first.Style&yaml.FlowStyle == 0 {
			keyCol = first.Column - 1
		}
		text := seqEntry(keys, vals, dash, keyCol, f.eol)
		return []splice{f.insertAfterLine(f.blockEnd(list), text)}, r, nil
	case key != nil:
		// "images:" with no value: the list goes on the following lines.
		if _, v := lookup(root, "images"); !isEmptyNull(v) {
			return nil, Ref{}, fmt.Errorf("line %d: images is null; write images: [] or remove it", key.Line)
		}
		if root.Style&yaml.FlowStyle != 0 {
			return nil, Ref{}, fmt.Errorf("line %d: images has no value inside a flow mapping", key.Line)
		}
		dash := key.Column - 1 + st.seqIndent
		text := seqEntry(keys, vals, dash, dash+2, f.eol)
		return []splice{f.insertAfterLine(key.Line-1, text)}, r, nil
	}
	// No images key at all: add one after the kustomization's last line.
	if root.Style&yaml.FlowStyle != 0 {
		sp, err := f.addFlowKey(root, "images: ["+flowMap(keys, vals)+"]")
		return []splice{sp}, r, err
	}
	col := root.Column - 1
	dash := col + st.seqIndent
	text := strings.Repeat(" ", col) + "images:" + f.eol + seqEntry(keys, vals, dash, dash+2, f.eol)
	return []splice{f.insertAfterLine(f.blockEnd(root), text)}, r, nil
}

// updateEntry sets newTag and/or digest in an existing entry. Setting only a
// tag drops the digest (kustomize renders name:tag@digest, the digest would
// win); setting only a digest keeps newTag.
func (f *file) updateEntry(e *yaml.Node, r Ref) ([]splice, Ref, error) {
	flow := e.Style&yaml.FlowStyle != 0
	var sp []splice
	var missing []string
	var missingVals []string
	tagKey, tagVal := lookup(e, "newTag")
	digKey, digVal := lookup(e, "digest")
	want := r
	set := func(k *yaml.Node, v *yaml.Node, name, val string) error {
		switch {
		case v == nil:
			missing, missingVals = append(missing, name), append(missingVals, val)
		case isEmptyNull(v):
			p, err := f.afterColon(k)
			if err != nil {
				return err
			}
			sp = append(sp, splice{p, p, " " + render(val, nil, flow)})
		default:
			s, err := f.replaceScalar(v, val, flow)
			if err != nil {
				return err
			}
			sp = append(sp, s)
		}
		return nil
	}
	if r.Tag != "" {
		if err := set(tagKey, tagVal, "newTag", r.Tag); err != nil {
			return nil, Ref{}, err
		}
		if r.Digest == "" && digKey != nil {
			d, err := f.removePair(e, digKey, digVal)
			if err != nil {
				return nil, Ref{}, err
			}
			sp = append(sp, d)
		}
	}
	if r.Digest != "" {
		if err := set(digKey, digVal, "digest", r.Digest); err != nil {
			return nil, Ref{}, err
		}
		if r.Tag == "" {
			want.Tag = scalarValue(tagVal)
		}
	}
	for i, k := range missing {
		if flow {
			s, err := f.addPairs(e, []string{k}, missingVals[i], style{})
			if err != nil {
				return nil, Ref{}, err
			}
			sp = append(sp, s)
			continue
		}
		// Block entry: one line per key at the entry's key column, after the
		// entry's last line. Both keys go in one splice to keep their order.
		text := strings.Repeat(" ", e.Column-1) + k + ": " + render(missingVals[i], nil, false) + f.eol
		if i+1 < len(missing) {
			text += strings.Repeat(" ", e.Column-1) + missing[i+1] + ": " + render(missingVals[i+1], nil, false) + f.eol
		}
		sp = append(sp, f.insertAfterLine(f.blockEnd(e), text))
		break
	}
	return sp, want, nil
}

// removePair deletes key k (value v) from mapping m.
func (f *file) removePair(m, k, v *yaml.Node) (splice, error) {
	if m.Style&yaml.FlowStyle != 0 {
		idx := -1
		for i := 0; i < len(m.Content); i += 2 {
			if m.Content[i] == k {
				idx = i
			}
		}
		kStart, _, err := f.scalarSpan(k)
		if err != nil {
			return splice{}, err
		}
		vEnd, err := f.nodeEnd(v)
		if err != nil {
			return splice{}, err
		}
		switch {
		case idx > 0: // ", digest: x" after the previous value
			prevEnd, err := f.nodeEnd(m.Content[idx-1])
			if err != nil {
				return splice{}, err
			}
			return splice{prevEnd, vEnd, ""}, nil
		case idx+2 < len(m.Content): // "digest: x, " before the next key
			next, _, err := f.scalarSpan(m.Content[idx+2])
			if err != nil {
				return splice{}, err
			}
			return splice{kStart, next, ""}, nil
		}
		return splice{kStart, vEnd, ""}, nil
	}
	// Block: only a key that has its line to itself can go.
	kStart, _, err := f.scalarSpan(k)
	if err != nil {
		return splice{}, err
	}
	li := k.Line - 1
	_, ind := f.lineText(li)
	if f.lines[li].start+ind != kStart || v.Line != k.Line || v.Kind != yaml.ScalarNode {
		return splice{}, fmt.Errorf("line %d: cannot remove %s: it does not have its own line", k.Line, k.Value)
	}
	return f.deleteLine(li), nil
}

func flowMap(keys, vals []string) string {
	parts := make([]string, len(keys))
	for i := range keys {
		parts[i] = keys[i] + ": " + render(vals[i], nil, true)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// seqEntry renders "- k: v" lines with the dash at column dash and the keys
// at keyCol.
func seqEntry(keys, vals []string, dash, keyCol int, eol string) string {
	var b strings.Builder
	for i := range keys {
		if i == 0 {
			b.WriteString(strings.Repeat(" ", dash) + "-" + strings.Repeat(" ", keyCol-dash-1))
		} else {
			b.WriteString(strings.Repeat(" ", keyCol))
		}
		b.WriteString(keys[i] + ": " + render(vals[i], nil, false) + eol)
	}
	return b.String()
}

// appendFlowItem adds item at the end of flow sequence list.
func (f *file) appendFlowItem(list *yaml.Node, item string) (splice, error) {
	if len(list.Content) == 0 {
		open, err := f.offset(list.Line, list.Column)
		if err != nil {
			return splice{}, err
		}
		for open < len(f.src) && f.src[open] != '[' {
			open++
		}
		return splice{open + 1, open + 1, item}, nil
	}
	end, err := f.nodeEnd(list.Content[len(list.Content)-1])
	if err != nil {
		return splice{}, err
	}
	return splice{end, end, ", " + item}, nil
}

// addFlowKey adds "k: v" text to flow mapping m.
func (f *file) addFlowKey(m *yaml.Node, pair string) (splice, error) {
	if len(m.Content) == 0 {
		open, err := f.offset(m.Line, m.Column)
		if err != nil {
			return splice{}, err
		}
		for open < len(f.src) && f.src[open] != '{' {
			open++
		}
		return splice{open + 1, open + 1, pair}, nil
	}
	end, err := f.nodeEnd(m.Content[len(m.Content)-1])
	if err != nil {
		return splice{}, err
	}
	return splice{end, end, ", " + pair}, nil
}
