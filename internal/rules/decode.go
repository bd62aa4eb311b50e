package rules

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Limits on hostile input.
const (
	// MaxFileSize is the largest rules file Parse accepts.
	MaxFileSize = 1 << 20
	// maxDepth bounds YAML nesting; the real shape needs about 8 levels.
	maxDepth = 32
)

type pos struct{ line, col int }

// decoder turns a YAML node tree into the Go types strictly, recording the
// position of every field path so that validation can point at it.
type decoder struct {
	file string
	vals map[string]pos // path → position of the value
	keys map[string]pos // path → position of the mapping key that named it
	errs Errors
}

func (d *decoder) errAt(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, FieldError{File: d.file, Line: n.Line, Column: n.Column, Field: path, Msg: fmt.Sprintf(format, args...)})
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// parseNode parses data into a document node, refusing aliases, anchors,
// several documents and deep nesting.
func (d *decoder) parseNode(data []byte) (root *yaml.Node) {
	defer func() {
		// The parser is third-party code fed hostile input: a panic there
		// must become an error, not a crash of the server.
		if p := recover(); p != nil {
			root = nil
			d.errs = append(d.errs, FieldError{File: d.file, Line: 1, Column: 1, Msg: fmt.Sprintf("invalid YAML: %v", p)})
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs = append(d.errs, FieldError{File: d.file, Line: 1, Column: 1, Msg: "empty rules file"})
			return nil
		}
		d.errs = append(d.errs, yamlError(d.file, err))
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errs = append(d.errs, FieldError{File: d.file, Line: extra.Line, Column: extra.Column, Msg: "only one YAML document is allowed"})
		return nil
	} else if !errors.Is(err, io.EOF) {
		d.errs = append(d.errs, yamlError(d.file, err))
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.errs = append(d.errs, FieldError{File: d.file, Line: 1, Column: 1, Msg: "empty rules file"})
		return nil
	}
	if !d.checkShape(doc.Content[0]) {
		return nil
	}
	return doc.Content[0]
}

func yamlError(file string, err error) FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			line = n
		}
		msg = strings.TrimSpace(strings.TrimPrefix(strings.Replace(msg, m[0], "", 1), ":"))
	}
	return FieldError{File: file, Line: line, Column: 1, Msg: "invalid YAML: " + msg}
}

// checkShape refuses anchors, aliases and nesting deeper than maxDepth,
// iteratively so that a hostile file cannot exhaust the stack.
func (d *decoder) checkShape(root *yaml.Node) bool {
	type item struct {
		n     *yaml.Node
		depth int
	}
	ok := true
	stack := []item{{root, 1}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := it.n
		switch {
		case n.Kind == yaml.AliasNode:
			d.errAt(n, "", "YAML aliases are not supported")
			ok = false
			continue
		case n.Anchor != "":
			d.errAt(n, "", "YAML anchors are not supported")
			ok = false
		}
		if it.depth > maxDepth {
			d.errAt(n, "", "nesting deeper than %d levels", maxDepth)
			return false
		}
		for _, c := range n.Content {
			stack = append(stack, item{c, it.depth + 1})
		}
	}
	return ok
}

func fieldPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func keyPath(parent, key string) string {
	if plainKeyRE.MatchString(key) {
		return fieldPath(parent, key)
	}
	return parent + "[" + strconv.Quote(key) + "]"
}

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

var (
	durationType   = reflect.TypeFor[Duration]()
	lagType        = reflect.TypeFor[LagDuration]()
	targetListType = reflect.TypeFor[TargetList]()
	groupingType   = reflect.TypeFor[Grouping]()
	defaultsType   = reflect.TypeFor[Defaults]()
)

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int":
			return "a number"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return "a value tagged " + n.ShortTag()
	}
	return "something else"
}

// decode fills v (addressable) from n. Null leaves v at its zero value.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.vals[path] = pos{n.Line, n.Column}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	t := v.Type()
	switch {
	case t == durationType:
		s, ok := d.str(n, path, "a duration such as 2h or 30m")
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.errAt(n, path, "invalid duration %q: use a Go duration such as 2h or 90m", s)
			return
		}
		if dur < 0 {
			d.errAt(n, path, "duration %q must not be negative", s)
			return
		}
		v.Set(reflect.ValueOf(Duration{dur}))
		return
	case t == lagType:
		s, ok := d.str(n, path, "a duration such as 7d or 36h")
		if !ok {
			return
		}
		dur, err := ParseLagDuration(s)
		if err != nil {
			d.errAt(n, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(LagDuration{dur}))
		return
	case t == groupingType:
		switch {
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool":
			var b bool
			if err := n.Decode(&b); err == nil && b {
				v.Set(reflect.ValueOf(GroupAlways))
			}
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && n.Value == "auto":
			v.Set(reflect.ValueOf(GroupAuto))
		default:
			d.errAt(n, path, "expected true, false or auto, got %s", kindName(n))
		}
		return
	case t == targetListType:
		if n.Kind == yaml.MappingNode {
			var tg Target
			d.decode(n, reflect.ValueOf(&tg).Elem(), indexPath(path, 0))
			v.Set(reflect.ValueOf(TargetList{tg}))
			return
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.String:
		if s, ok := d.str(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.errAt(n, path, "expected true or false, got %s", kindName(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.errAt(n, path, "expected true or false")
			return
		}
		v.SetBool(b)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.errAt(n, path, "expected an integer, got %s", kindName(n))
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, 32)
		if err != nil {
			d.errAt(n, path, "expected a small integer")
			return
		}
		v.SetInt(i)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if t == targetListType {
				d.errAt(n, path, "expected a target mapping or a list of targets, got %s", kindName(n))
			} else {
				d.errAt(n, path, "expected a list, got %s", kindName(n))
			}
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), indexPath(path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errAt(n, path, "expected a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		d.eachKey(n, path, func(key string, kn, vn *yaml.Node) {
			p := keyPath(path, key)
			d.keys[p] = pos{kn.Line, kn.Column}
			ev := reflect.New(t.Elem()).Elem()
			d.decode(vn, ev, p)
			m.SetMapIndex(reflect.ValueOf(key), ev)
		})
		v.Set(m)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.errAt(n, path, "expected a mapping, got %s", kindName(n))
			return
		}
		fields := yamlFields(t)
		d.eachKey(n, path, func(key string, kn, vn *yaml.Node) {
			p := keyPath(path, key)
			idx, ok := fields[key]
			if !ok {
				d.errAt(kn, p, "unknown field %q%s", key, suggest(key, fields))
				return
			}
			d.keys[p] = pos{kn.Line, kn.Column}
			d.decode(vn, v.Field(idx), p)
		})
		if t == defaultsType {
			d.checkGrouping(v.Interface().(Defaults), path)
		}
	default:
		d.errAt(n, path, "unsupported type %s", t)
	}
}

func (d *decoder) str(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = " (quote it to make it a string)"
		}
		d.errAt(n, path, "expected %s, got %s%s", want, kindName(n), hint)
		return "", false
	}
	return n.Value, true
}

// eachKey calls fn for every key of mapping n, reporting non-string and
// duplicate keys.
func (d *decoder) eachKey(n *yaml.Node, path string, fn func(key string, kn, vn *yaml.Node)) {
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode || kn.ShortTag() != "!!str" {
			d.errAt(kn, path, "mapping keys must be strings, got %s", kindName(kn))
			continue
		}
		if line, dup := seen[kn.Value]; dup {
			d.errAt(kn, keyPath(path, kn.Value), "duplicate key %q (first on line %d)", kn.Value, line)
			continue
		}
		seen[kn.Value] = kn.Line
		fn(kn.Value, kn, vn)
	}
}

// yamlFields maps yaml tag names to struct field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		m[name] = i
	}
	return m
}

// suggest names a known field that differs from key only by case.
func suggest(key string, fields map[string]int) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}
